import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import {
  checkKey,
  MetadataStoreError,
  toBuffer,
  type KeyValue,
  type Lease,
  type MetadataStore,
  type Snapshot,
  type WatchEvent,
  type Watcher,
  type WatchOptions,
} from './metadata-store.js';

export interface EmbeddedStoreOptions {
  /** Directory holding `metadata.json` (created if missing). */
  dir: string;
  /** Time source for lease expiry; tests pass a ManualClock. */
  clock?: Clock;
}

/** How many recent changes the store keeps in memory for watches that start from an earlier revision. */
const HISTORY_LIMIT = 10_000;
const SNAPSHOT_FORMAT = 'strata-metadata';
const SNAPSHOT_VERSION = 1;

/**
 * The metadata store of a node that runs alone: everything in memory, every change written to
 * `<dir>/metadata.json` (a whole-state snapshot: temp file, fsync, rename, fsync of the
 * directory) before the call that made it resolves. Leases live only in memory: their keys are
 * not written to disk, so after a restart they are gone, as their owners are. A lease expires
 * when its keep-alive (every third of its TTL) finds, by the store's clock, that the TTL passed
 * since the last one, or when an operation finds so; with a ManualClock, advancing the clock
 * past the TTL expires it. Format: docs/cluster.md.
 */
export async function openEmbeddedStore(opts: EmbeddedStoreOptions): Promise<MetadataStore> {
  return EmbeddedStore.open(opts);
}

interface Entry {
  value: Buffer;
  createRevision: number;
  modRevision: number;
  lease?: string;
}

interface HistoryEvent {
  revision: number;
  event: WatchEvent;
}

/** Directories opened by this process: a second open would write the same files behind the first one's back. */
const openDirs = new Set<string>();

class EmbeddedStore implements MetadataStore {
  private readonly entries = new Map<string, Entry>();
  private readonly leases = new Map<string, EmbeddedLease>();
  private readonly watchers = new Set<EmbeddedWatcher>();
  private readonly history: HistoryEvent[] = [];
  private revision: number;
  /** Watches may start after this revision and no earlier. */
  private compactedRevision: number;
  private durableRevision: number;
  private writing: Promise<void> | null = null;
  private closed = false;
  /** Closed and flushed: nothing is written any more. */
  private released = false;

  private constructor(
    private readonly file: SnapshotFile,
    private readonly lockPath: string,
    private readonly clock: Clock,
    loaded: LoadedSnapshot,
  ) {
    this.revision = this.compactedRevision = this.durableRevision = loaded.revision;
    for (const [key, entry] of loaded.entries) this.entries.set(key, entry);
  }

  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    const dir = createDir(opts.dir);
    const lockPath = takeLock(dir);
    try {
      const file = new SnapshotFile(dir);
      return new EmbeddedStore(file, lockPath, opts.clock ?? systemClock, file.load());
    } catch (err) {
      releaseLock(dir, lockPath);
      throw err;
    }
  }

  async get(key: string): Promise<KeyValue | null> {
    checkKey(key);
    this.beginOperation();
    const entry = this.entries.get(key);
    return entry ? toKeyValue(key, entry) : null;
  }

  async list(prefix: string): Promise<KeyValue[]> {
    return (await this.snapshot(prefix)).kvs;
  }

  async snapshot(prefix: string): Promise<Snapshot> {
    this.beginOperation();
    const kvs: KeyValue[] = [];
    for (const [key, entry] of this.entries) if (key.startsWith(prefix)) kvs.push(toKeyValue(key, entry));
    kvs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { revision: this.revision, kvs };
  }

  async put(key: string, value: Buffer | string, opts?: { lease?: Lease }): Promise<number> {
    checkKey(key);
    this.beginOperation();
    const revision = this.write(key, toBuffer(value), this.liveLease(opts?.lease, `put ${key}`));
    await this.persist();
    return revision;
  }

  async putIf(key: string, value: Buffer | string, expected: number, opts?: { lease?: Lease }): Promise<boolean> {
    checkKey(key);
    this.beginOperation();
    const lease = this.liveLease(opts?.lease, `putIf ${key}`);
    if ((this.entries.get(key)?.modRevision ?? 0) !== expected) return false;
    this.write(key, toBuffer(value), lease);
    await this.persist();
    return true;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    this.beginOperation();
    if (!this.entries.has(key)) return false;
    this.remove([key]);
    await this.persist();
    return true;
  }

  async deleteIf(key: string, expected: number): Promise<boolean> {
    checkKey(key);
    this.beginOperation();
    if (this.entries.get(key)?.modRevision !== expected) return false;
    this.remove([key]);
    await this.persist();
    return true;
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new MetadataStoreError(`lease TTL must be a positive number of milliseconds, got ${ttlMs}`);
    this.beginOperation();
    const lease = new EmbeddedLease(randomBytes(8).toString('hex'), ttlMs, this.clock.nowMs(), {
      end: (l) => this.endLease(l),
      persist: () => this.persist(),
    });
    this.leases.set(lease.id, lease);
    lease.startKeepAlive(() => this.keepAlive(lease));
    return lease;
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Promise<Watcher> {
    this.beginOperation();
    const after = opts.afterRevision ?? this.revision;
    if (after < this.compactedRevision) {
      throw new MetadataStoreError(
        `embedded metadata store: cannot watch "${prefix}" after revision ${after}: changes up to revision ${this.compactedRevision} are no longer kept (it keeps the last ${HISTORY_LIMIT} changes since it opened)`,
      );
    }
    const watcher = new EmbeddedWatcher(prefix, onEvent, (w) => this.watchers.delete(w));
    for (const h of this.history) if (h.revision > after) watcher.offer(h.event);
    this.watchers.add(watcher);
    return watcher;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const watcher of [...this.watchers]) await watcher.close();
    for (const lease of [...this.leases.values()]) lease.end();
    try {
      await this.persist(); // e.g. the revisions of lease expiries noticed by reads
    } catch {
      // already reported to the callers that were waiting for it
    }
    this.released = true;
    releaseLock(path.dirname(this.lockPath), this.lockPath);
  }

  /** Refuse work on a closed store; expire the leases whose time has passed. */
  private beginOperation(): void {
    if (this.closed) throw new MetadataStoreError(`embedded metadata store at ${this.file.dir} is closed`);
    this.expireDueLeases();
  }

  private expireDueLeases(): void {
    const now = this.clock.nowMs();
    for (const lease of [...this.leases.values()]) if (now >= lease.renewedAt + lease.ttlMs) lease.end();
  }

  private keepAlive(lease: EmbeddedLease): void {
    if (this.closed) return;
    this.expireDueLeases();
    if (!lease.isLost) lease.renewedAt = this.clock.nowMs();
    this.persist().catch(() => {}); // expiries write too; a failed write is retried by the next change
  }

  private liveLease(lease: Lease | undefined, operation: string): EmbeddedLease | undefined {
    if (!lease) return undefined;
    const live = this.leases.get(lease.id);
    if (!live || live !== lease) throw new MetadataStoreError(`embedded metadata store: ${operation}: lease ${lease.id} is not alive here (expired, revoked, or granted by another store)`);
    return live;
  }

  private endLease(lease: EmbeddedLease): void {
    this.leases.delete(lease.id);
    if (lease.keys.size > 0 && !this.closed) this.remove([...lease.keys]);
  }

  private write(key: string, value: Buffer, lease: EmbeddedLease | undefined): number {
    const revision = ++this.revision;
    const previous = this.entries.get(key);
    if (previous?.lease) this.leases.get(previous.lease)?.keys.delete(key);
    const entry: Entry = { value, createRevision: previous?.createRevision ?? revision, modRevision: revision, lease: lease?.id };
    this.entries.set(key, entry);
    lease?.keys.add(key);
    this.record(revision, { type: 'put', kv: toKeyValue(key, entry) });
    return revision;
  }

  /** Delete keys in one revision (as etcd does for the keys of an ended lease). */
  private remove(keys: string[]): void {
    const revision = ++this.revision;
    for (const key of keys) {
      const previous = this.entries.get(key);
      if (!previous) continue;
      if (previous.lease) this.leases.get(previous.lease)?.keys.delete(key);
      this.entries.delete(key);
      this.record(revision, { type: 'delete', key, modRevision: revision });
    }
  }

  private record(revision: number, event: WatchEvent): void {
    this.history.push({ revision, event });
    if (this.history.length > HISTORY_LIMIT) this.compactedRevision = this.history.shift()!.revision;
    for (const watcher of this.watchers) watcher.offer(event);
  }

  /** Resolve once the state as of now is on disk; writes that queue up meanwhile share one snapshot. */
  private async persist(): Promise<void> {
    const target = this.revision;
    while (this.durableRevision < target && !this.released) {
      if (!this.writing) {
        const revision = this.revision;
        const text = this.file.serialize(revision, this.entries);
        this.writing = this.file
          .write(text)
          .then(() => {
            this.durableRevision = revision;
          })
          .catch((err: Error) => {
            // The change stays in memory and goes to disk with the next write that succeeds
            // (e.g. once space is freed): like a timed-out etcd write, it may or may not last.
            throw new MetadataStoreError(`embedded metadata store at ${this.file.dir} could not write its snapshot: ${err.message}`, { cause: err });
          })
          .finally(() => {
            this.writing = null;
          });
      }
      await this.writing;
    }
  }
}

class EmbeddedLease implements Lease {
  readonly keys = new Set<string>();
  readonly lost: Promise<void>;
  private resolveLost!: () => void;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(
    readonly id: string,
    readonly ttlMs: number,
    public renewedAt: number,
    private readonly store: { end(lease: EmbeddedLease): void; persist(): Promise<void> },
  ) {
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
  }

  get isLost(): boolean {
    return this.ended;
  }

  startKeepAlive(keepAlive: () => void): void {
    this.timer = setInterval(keepAlive, Math.max(1, this.ttlMs / 3));
    this.timer.unref();
  }

  /** Resolves once the deletion of the lease's keys is on disk. */
  async revoke(): Promise<void> {
    this.end();
    await this.store.persist();
  }

  /** Stop keeping the lease alive, delete its keys (through the store) and resolve `lost`; idempotent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.store.end(this);
    this.resolveLost();
  }
}

/** Delivers events to one callback in order, asynchronously, so a callback may itself write to the store. */
class EmbeddedWatcher implements Watcher {
  private readonly queue: WatchEvent[] = [];
  private draining = false;
  private closed = false;

  constructor(
    private readonly prefix: string,
    private readonly onEvent: (ev: WatchEvent) => void,
    private readonly onClose: (w: EmbeddedWatcher) => void,
  ) {}

  offer(event: WatchEvent): void {
    if (this.closed || !(event.type === 'put' ? event.kv.key : event.key).startsWith(this.prefix)) return;
    this.queue.push(event);
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => this.drain());
    }
  }

  private drain(): void {
    while (!this.closed && this.queue.length > 0) {
      const event = this.queue.shift()!;
      try {
        this.onEvent(event);
      } catch (err) {
        setImmediate(() => {
          throw err; // a watch callback must not throw: surface it as etcd3 does
        });
      }
    }
    this.draining = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    this.onClose(this);
  }
}

interface LoadedSnapshot {
  revision: number;
  entries: Map<string, Entry>;
}

/** `<dir>/metadata.json`: the revision and the keys that are not bound to a lease. */
class SnapshotFile {
  readonly path: string;
  private readonly tempPath: string;

  constructor(readonly dir: string) {
    this.path = path.join(dir, 'metadata.json');
    this.tempPath = this.path + '.tmp';
  }

  load(): LoadedSnapshot {
    rmSync(this.tempPath, { force: true }); // a write that did not reach its rename
    if (!existsSync(this.path)) return { revision: 0, entries: new Map() };
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (err) {
      throw new MetadataStoreError(`embedded metadata store: cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    return parseSnapshot(doc, this.path);
  }

  serialize(revision: number, entries: Map<string, Entry>): string {
    const keys = [];
    for (const [key, e] of entries) {
      if (e.lease) continue;
      keys.push({ key, value: e.value.toString('base64'), createRevision: e.createRevision, modRevision: e.modRevision });
    }
    return JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, revision, keys }) + '\n';
  }

  async write(text: string): Promise<void> {
    try {
      const handle = await open(this.tempPath, 'w', 0o644);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(this.tempPath, this.path);
      const dirHandle = await open(this.dir, 'r');
      try {
        await dirHandle.sync();
      } finally {
        await dirHandle.close();
      }
    } catch (err) {
      throw new Error(`cannot write ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function parseSnapshot(doc: unknown, file: string): LoadedSnapshot {
  const bad = (why: string) => new MetadataStoreError(`embedded metadata store: ${file} is not a usable snapshot: ${why}`);
  if (typeof doc !== 'object' || doc === null) throw bad('not a JSON object');
  const d = doc as { format?: unknown; version?: unknown; revision?: unknown; keys?: unknown };
  if (d.format !== SNAPSHOT_FORMAT) throw bad(`format is ${JSON.stringify(d.format)}, expected "${SNAPSHOT_FORMAT}"`);
  if (d.version !== SNAPSHOT_VERSION) throw bad(`version ${JSON.stringify(d.version)} is not supported (this Strata reads version ${SNAPSHOT_VERSION})`);
  if (!Number.isSafeInteger(d.revision) || (d.revision as number) < 0) throw bad('revision is not a non-negative integer');
  if (!Array.isArray(d.keys)) throw bad('keys is not an array');
  const revision = d.revision as number;
  const entries = new Map<string, Entry>();
  for (const k of d.keys as Array<Record<string, unknown>>) {
    const ok =
      typeof k?.key === 'string' &&
      k.key.length > 0 &&
      typeof k.value === 'string' &&
      Number.isSafeInteger(k.createRevision) &&
      Number.isSafeInteger(k.modRevision) &&
      (k.createRevision as number) <= (k.modRevision as number) &&
      (k.modRevision as number) <= revision;
    if (!ok) throw bad(`bad key record ${JSON.stringify(k).slice(0, 200)}`);
    entries.set(k.key as string, {
      value: Buffer.from(k.value as string, 'base64'),
      createRevision: k.createRevision as number,
      modRevision: k.modRevision as number,
    });
  }
  return { revision, entries };
}

function toKeyValue(key: string, e: Entry): KeyValue {
  const kv: KeyValue = { key, value: e.value, modRevision: e.modRevision, createRevision: e.createRevision };
  if (e.lease) kv.lease = e.lease;
  return kv;
}

function createDir(dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
    return realpathSync(dir);
  } catch (err) {
    throw new MetadataStoreError(`embedded metadata store: cannot use directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
}

/** `<dir>/LOCK` holds the pid of the process using the directory; a lock left by a dead process is taken over. */
function takeLock(dir: string): string {
  const lockPath = path.join(dir, 'LOCK');
  if (openDirs.has(dir)) throw new MetadataStoreError(`embedded metadata store at ${dir} is already open in this process`);
  const holder = existsSync(lockPath) ? Number(readFileSync(lockPath, 'utf8').trim()) : NaN;
  if (Number.isSafeInteger(holder) && holder !== process.pid && processAlive(holder)) {
    throw new MetadataStoreError(`embedded metadata store at ${dir} is in use by process ${holder} (${lockPath})`);
  }
  try {
    writeFileSync(lockPath, `${process.pid}\n`);
  } catch (err) {
    throw new MetadataStoreError(`embedded metadata store: cannot write ${lockPath}: ${(err as Error).message}`, { cause: err });
  }
  openDirs.add(dir);
  return lockPath;
}

function releaseLock(dir: string, lockPath: string): void {
  openDirs.delete(dir);
  rmSync(lockPath, { force: true });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
