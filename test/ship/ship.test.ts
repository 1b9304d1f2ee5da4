import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LogClient } from '../../src/log/client.js';
import { BrokerLink } from '../../src/ship/broker-link.js';
import { startBroker, type BrokerProcess } from '../helpers/log-broker.js';
import { freePort } from '../helpers/ports.js';
import { eventually } from '../helpers/router.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

type Stats = Record<string, number>;

interface ShipProcess {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  /** The last "ship stats" line logged. */
  stats(): Stats;
  has(msg: string): boolean;
  count(msg: string): number;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}

function startShip(args: string[], withStdin = false): ShipProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'ship', '--stats-interval-ms', '100', '--poll-ms', '20', ...args], {
    stdio: [withStdin ? 'pipe' : 'ignore', 'ignore', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        logs.push({ msg: l });
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    logs,
    stats: () => (logs.filter((r) => r.msg === 'ship stats').pop() ?? {}) as Stats,
    has: (msg) => logs.some((r) => r.msg === msg),
    count: (msg) => logs.filter((r) => r.msg === msg).length,
    stop: () => {
      if (alive()) child.kill('SIGTERM');
      return exited;
    },
    kill: async () => {
      if (alive()) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Bytes of every file under `dir` (0 if it does not exist). */
function diskBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else n += statSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  try {
    walk(dir);
  } catch {
    /* not there yet */
  }
  return n;
}

/** The values of a topic's partition 0 from its start, once it holds `n` records, and its end offset. */
async function topicContent(port: number, topic: string, n: number, timeoutMs = 20_000): Promise<{ values: string[]; end: number }> {
  const client = await LogClient.connect({ port, retryTimeoutMs: 5000 });
  const link = new BrokerLink({ brokers: [{ host: '127.0.0.1', port }], retryTimeoutMs: 5000, requestTimeoutMs: 5000 });
  try {
    await eventually(`topic ${topic} created`, async () => {
      await client.refreshMetadata();
      return client.topic(topic) !== undefined;
    }, timeoutMs);
    const values: string[] = [];
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), timeoutMs);
    try {
      for await (const r of client.consume(topic, { partition: 0, from: 'earliest', signal: stop.signal, maxWaitMs: 100 })) {
        values.push(r.value!.toString());
        if (values.length === n) break;
      }
    } finally {
      clearTimeout(timer);
    }
    return { values, end: await link.endOffset(topic, 0) };
  } finally {
    await link.close();
    await client.close();
  }
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-ship-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('strata ship: lines of a file and stdin reach their topics exactly once, in order, across a broker crash and a restart of ship', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const brokerDir = path.join(dir, 'broker');
  let broker: BrokerProcess = await startBroker({ dataDir: brokerDir, port });
  t.after(() => broker.kill());
  const file = path.join(dir, 'app.log');
  writeFileSync(file, '');
  const shipArgs = ['--brokers', `127.0.0.1:${port}`, '--file', `web=${file}`, '--data-dir', path.join(dir, 'ship'), '--broker-timeout-ms', '1000', '--retry-max-ms', '200'];
  let ship = startShip([...shipArgs, '--stdin-category', 'std'], true);
  t.after(() => ship.kill());
  const spoolDir = path.join(dir, 'ship', 'ship', 'spool');

  const written = { web: [] as string[], std: [] as string[] };
  const write = (n: number) => {
    const web: string[] = [];
    const std: string[] = [];
    for (let i = 0; i < n; i++) {
      web.push(`web ${written.web.length + i} ${'w'.repeat(40)}`);
      std.push(`std ${written.std.length + i}`);
    }
    written.web.push(...web);
    written.std.push(...std);
    appendFileSync(file, web.join('\n') + '\n');
    ship.child.stdin?.write(std.join('\n') + '\n');
  };
  const total = () => written.web.length + written.std.length;

  write(100);
  await eventually('the first lines forwarded', () => ship.stats().forwarded === 200, 20_000);

  // Traffic goes on while the broker crashes (load, not synchronisation).
  const traffic = setInterval(() => write(5), 5);
  t.after(() => clearInterval(traffic));
  await broker.kill();
  await eventually('the shipper notices and spools', () => ship.has('broker unreachable, spooling to disk') && diskBytes(spoolDir) > 0, 15_000);
  const spooledAt = diskBytes(spoolDir);
  await eventually('the spool grows on disk', () => diskBytes(spoolDir) > spooledAt + 8192 && ship.stats().spooledLines > 0, 15_000);

  broker = await startBroker({ dataDir: brokerDir, port });
  await eventually('the spool forwarded after the broker came back', () => ship.has('spool drained; forwarding directly again'), 20_000);
  clearInterval(traffic);
  write(50);
  const settled = () => {
    const s = ship.stats();
    return s.read === total() && s.spooledLines === 0 && s.memoryBytes === 0 && s.forwarded + s.alreadyDelivered === total();
  };
  await eventually('every line read and acknowledged', settled, 20_000);
  assert.ok(ship.stats().spooled > 0, 'lines went through the spool');
  assert.equal(ship.stats().dropped, 0);

  // A restart of ship resumes the file where it was (stdin is not read this time).
  assert.equal(await ship.stop(), 0, 'ship exits cleanly on SIGTERM');
  const readBefore = written.std.length;
  ship = startShip(shipArgs);
  write(30);
  written.std.length = readBefore;
  await eventually('the new lines of the file forwarded', () => ship.stats().forwarded === 30, 20_000);

  for (const topic of ['web', 'std'] as const) {
    const got = await topicContent(port, topic, written[topic].length);
    assert.deepEqual(got.values, written[topic], `${topic}: every line once, in order`);
    assert.equal(got.end, written[topic].length, `${topic}: nothing more in the topic`);
  }
});

test('strata ship --when-full drop-newest: the spool stays within its bound, later lines are dropped and counted', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const file = path.join(dir, 'app.log');
  const lines = Array.from({ length: 3000 }, (_, i) => `line ${String(i).padStart(5, '0')} ${'x'.repeat(80)}`);
  writeFileSync(file, lines.join('\n') + '\n');
  const bound = 64 * 1024;
  const segment = bound / 8;
  const ship = startShip(['--brokers', `127.0.0.1:${port}`, '--file', `web=${file}`, '--data-dir', path.join(dir, 'ship'), '--spool-max-bytes', String(bound), '--when-full', 'drop-newest', '--memory-bytes', '64k', '--retry-max-ms', '200']);
  t.after(() => ship.kill());
  const spoolDir = path.join(dir, 'ship', 'ship', 'spool');
  let largest = 0;
  await eventually(
    'every line spooled or dropped',
    () => {
      largest = Math.max(largest, diskBytes(spoolDir));
      const s = ship.stats();
      return s.read === lines.length && s.spooled + s.dropped === lines.length;
    },
    20_000,
  );
  const { spooled, dropped } = ship.stats();
  assert.ok(dropped > 0 && spooled > 0, `${spooled} spooled, ${dropped} dropped`);
  assert.ok(largest <= bound + segment, `spool took ${largest} bytes on disk; bound ${bound}, segment ${segment}`);
  assert.ok(ship.has('spool full'), 'the full spool is logged');

  const broker = await startBroker({ dataDir: path.join(dir, 'broker'), port });
  t.after(() => broker.kill());
  const got = await topicContent(port, 'web', spooled);
  assert.deepEqual(got.values, lines.slice(0, spooled), 'the oldest lines were kept, in order');
  await eventually('the spool forwarded', () => ship.stats().forwarded === spooled && ship.stats().spooledLines === 0, 10_000);
  assert.equal(got.end, spooled);
});

test('strata ship --when-full block: a full spool stops the reading; nothing is lost once the broker is back', async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const file = path.join(dir, 'app.log');
  const lines = Array.from({ length: 3000 }, (_, i) => `line ${String(i).padStart(5, '0')} ${'x'.repeat(80)}`);
  writeFileSync(file, lines.join('\n') + '\n');
  const bound = 64 * 1024;
  const memory = 64 * 1024;
  const ship = startShip([
    '--brokers', `127.0.0.1:${port}`, '--file', `web=${file}`, '--data-dir', path.join(dir, 'ship'),
    '--spool-max-bytes', String(bound), '--when-full', 'block', '--memory-bytes', String(memory), '--retry-max-ms', '200', '--log-level', 'debug',
  ]);
  t.after(() => ship.kill());
  const spoolDir = path.join(dir, 'ship', 'ship', 'spool');
  await eventually('the spool full', () => ship.has('spool full'), 20_000);
  // The forwarder keeps trying (and failing) meanwhile: reading stays stopped all along.
  const retries = ship.count('broker still unreachable');
  await eventually('a few more attempts to reach the broker', () => ship.count('broker still unreachable') >= retries + 3, 10_000);
  const paused = ship.stats();
  assert.ok(paused.read < lines.length, `read ${paused.read} of ${lines.length} lines while the spool is full`);
  assert.equal(paused.dropped, 0);
  // Lines already in memory when the broker failed are kept past the bound.
  assert.ok(diskBytes(spoolDir) <= bound + memory + bound / 8, `spool ${diskBytes(spoolDir)} bytes`);

  const broker = await startBroker({ dataDir: path.join(dir, 'broker'), port });
  t.after(() => broker.kill());
  const got = await topicContent(port, 'web', lines.length);
  assert.deepEqual(got.values, lines, 'every line once, in order');
  await eventually('all acknowledged', () => ship.stats().forwarded === lines.length, 10_000);
  assert.equal(ship.stats().dropped, 0);
  assert.equal(got.end, lines.length);
});

test('strata ship with nothing to ship, or a category that is no topic name, exits with a message naming the problem', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'ship', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (code) => resolve({ code, err }));
    });
  const nothing = await run([]);
  assert.equal(nothing.code, 2);
  assert.match(nothing.err, /nothing to ship/);
  const bad = await run(['--file', 'no spaces=/tmp/x.log']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /ship\.file: category "no spaces"/);
});
