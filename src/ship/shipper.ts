import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../core/log.js';
import { topicNameProblem } from '../log/subjects.js';
import { BrokerLink } from './broker-link.js';
import { ByteBudget } from './byte-budget.js';
import { CategoryShipper } from './category-shipper.js';
import type { WhenFull } from './spool-room.js';
import { InputCheckpoint } from './input-checkpoint.js';
import { ShipStats } from './ship-stats.js';
import { streamLines } from './stream-lines.js';
import { TailFollower, type FileLine } from './tail-follower.js';

export interface ShipSettings {
  brokers: Array<{ host: string; port: number }>;
  /** Files to follow, each with the category its lines belong to. */
  files: Array<{ category: string; path: string }>;
  /** Category of the lines read from stdin; null: stdin is not read. */
  stdinCategory: string | null;
  /** Put before a category to make its topic name. */
  topicPrefix: string;
  /** Key of every record; null: none. */
  key: string | null;
  spoolDir: string;
  /** Where the reading position in each followed file is kept. */
  checkpointDir: string;
  spoolMaxBytes: number;
  whenFull: WhenFull;
  /** Bytes of lines held in memory across categories before inputs are paused. */
  memoryBytes: number;
  /** How long a send keeps being retried before its lines go to the spool. */
  brokerTimeoutMs: number;
  /** Longest wait between attempts to reach a broker that is down. */
  retryMaxMs: number;
  pollMs: number;
  statsIntervalMs: number;
  maxLineBytes: number;
}

export interface Shipper {
  /** Resolves once every input has ended (stdin only: files never end) and everything is acknowledged. */
  done: Promise<void>;
  stats: ShipStats;
  /** Stop reading, keep what is not acknowledged in the spool, save the positions; idempotent. */
  close(): Promise<void>;
}

const ROUND_BYTES = 256 * 1024;
const CHECKPOINT_INTERVAL_MS = 200;

/** Why a category name is not usable, or null. */
export function categoryProblem(category: string, topicPrefix = ''): string | null {
  const own = topicNameProblem(category);
  if (own) return `category "${category}": ${own}`;
  const topic = topicNameProblem(topicPrefix + category);
  return topic ? `topic "${topicPrefix + category}" (prefix + category): ${topic}` : null;
}

/** A spool segment: an eighth of the bound, within 4 KiB .. 64 MiB. */
export const spoolSegmentBytes = (spoolMaxBytes: number): number => Math.min(64 * 1024 * 1024, Math.max(4096, Math.floor(spoolMaxBytes / 8)));

/**
 * `strata ship` (docs/ship.md): follows files and stdin, and forwards each line as one record to
 * the topic of its category, through a disk spool while the broker cannot take them.
 */
export function startShipper(settings: ShipSettings, log: Logger, stdin: Readable): Shipper {
  const link = new BrokerLink({ brokers: settings.brokers, retryTimeoutMs: settings.brokerTimeoutMs, requestTimeoutMs: Math.max(1000, settings.brokerTimeoutMs) });
  const memory = new ByteBudget(settings.memoryBytes);
  const spoolBudget = new ByteBudget(settings.spoolMaxBytes);
  const categories = new Map<string, CategoryShipper>();
  const stats = new ShipStats(() => {
    let spooledLines = 0;
    let spooling = 0;
    for (const c of categories.values()) {
      spooledLines += c.spooledLines;
      if (c.spooling) spooling++;
    }
    return { spoolBytes: spoolBudget.used, spooledLines, memoryBytes: memory.used, categoriesSpooling: spooling };
  });
  const dropOldestSomewhere = (): boolean => {
    const fullest = [...categories.values()].sort((a, b) => b.spoolBytes - a.spoolBytes);
    return fullest.some((c) => c.dropOldestSegment());
  };
  const category = (name: string): CategoryShipper => {
    let c = categories.get(name);
    if (!c) {
      c = new CategoryShipper({
        category: name,
        topic: settings.topicPrefix + name,
        key: settings.key === null ? null : Buffer.from(settings.key),
        dir: path.join(settings.spoolDir, name),
        segmentBytes: spoolSegmentBytes(settings.spoolMaxBytes),
        whenFull: settings.whenFull,
        memory,
        spoolBudget,
        dropOldestSomewhere,
        link,
        stats,
        log,
        roundBytes: ROUND_BYTES,
        retryMaxMs: settings.retryMaxMs,
      });
      categories.set(name, c);
      c.start();
    }
    return c;
  };

  // Spools left by an earlier run are forwarded even if their category has no input now.
  const earlier = existsSync(settings.spoolDir)
    ? readdirSync(settings.spoolDir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && categoryProblem(e.name, settings.topicPrefix) === null)
        .map((e) => e.name)
    : [];
  for (const name of [...earlier, ...settings.files.map((f) => f.category), ...(settings.stdinCategory ? [settings.stdinCategory] : [])]) category(name);

  const reading = new AbortController();
  const checkpoints: InputCheckpoint[] = [];
  const inputs: Array<Promise<void>> = [];
  for (const f of settings.files) {
    const checkpoint = new InputCheckpoint(settings.checkpointDir, f.category, f.path);
    checkpoints.push(checkpoint);
    const follower = new TailFollower(f.path, { pollMs: settings.pollMs, maxLineBytes: settings.maxLineBytes, start: checkpoint.position, log: log.child({ file: f.path }) });
    const handedOver = (l: FileLine) => checkpoint.advance({ ino: l.ino, offset: l.end });
    inputs.push(pump(follower.batches(reading.signal), (lines) => category(f.category).accept(lines, handedOver), f.path, log, reading.signal));
  }
  if (settings.stdinCategory) {
    const name = settings.stdinCategory;
    reading.signal.addEventListener('abort', () => stdin.destroy(), { once: true });
    inputs.push(pump(streamLines(stdin, settings.maxLineBytes), (lines) => category(name).accept(lines, () => {}), 'stdin', log, reading.signal));
  }

  // Positions are saved only for lines already acknowledged or spooled (and the spool synced).
  const saveCheckpoints = () => {
    try {
      for (const c of categories.values()) c.syncSpool();
      for (const cp of checkpoints) cp.save();
    } catch (err) {
      log.error('could not save reading positions', { err: String(err) });
    }
  };
  const checkpointTimer = setInterval(saveCheckpoints, CHECKPOINT_INTERVAL_MS);
  stats.start(log, settings.statsIntervalMs);
  log.info('ship started', {
    brokers: settings.brokers.map((b) => `${b.host}:${b.port}`),
    files: settings.files,
    stdinCategory: settings.stdinCategory,
    spoolDir: settings.spoolDir,
    spoolMaxBytes: settings.spoolMaxBytes,
    whenFull: settings.whenFull,
  });

  const done = Promise.all(inputs)
    .then(() => Promise.all([...categories.values()].map((c) => c.drained())))
    .then(() => undefined);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      reading.abort();
      clearInterval(checkpointTimer);
      await Promise.all([...categories.values()].map((c) => c.stop()));
      await Promise.all(inputs);
      saveCheckpoints();
      for (const c of categories.values()) c.close();
      await link.close();
      stats.stop();
      stats.report(log);
      log.info('ship stopped');
    })();
    return closing;
  };
  return { done, stats, close };
}

/** Feed an input's batches of lines to their category, one batch at a time. */
async function pump<L>(batches: AsyncIterable<L[]>, accept: (lines: L[]) => Promise<void>, input: string, log: Logger, stopping: AbortSignal): Promise<void> {
  try {
    for await (const lines of batches) {
      await accept(lines);
      if (stopping.aborted) break;
    }
  } catch (err) {
    if (!stopping.aborted) log.error('input failed; no more lines are read from it', { input, err: String(err) });
  }
}
