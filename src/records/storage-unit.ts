import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { LocalStore } from './local-store.js';
import { decodeRecord, encodeRecord, isGone, recordVersion, type StoredRecord } from './record-codec.js';
import { fieldsProblem, MAX_RECORD_BYTES, type TableDef } from './table-def.js';
import { storageKey } from './tablets.js';
import { compareVersions, type Version } from './version.js';

/** A write as the master sees it. */
export interface Mutation {
  /** The fields to set (null values remove a field); null deletes the record. */
  fields: Record<string, unknown> | null;
  /** Replace the whole record instead of setting the given fields. */
  replace: boolean;
  /** test-and-set: only if the record's version is this one ((0,0): only if it never existed). */
  ifVersion: Version | null;
  /** The region the write came from (for mastership migration). */
  origin: string;
}

export type MasterOutcome =
  | { kind: 'ok'; record: StoredRecord }
  | { kind: 'conflict'; current: Version }
  | { kind: 'absent' }
  /** This region is not the record's master; `record` is the copy here (null: a key new to this region, which is not the table's home). */
  | { kind: 'elsewhere'; record: StoredRecord | null };

/** A change refused before anything was sent to the log (so its version was not used). */
export class UnsentChangeError extends Error {}

/** Told of every record once it is durable in the local store, in the order of application. */
export type ApplyTrace = (table: string, key: string, record: StoredRecord) => void;

/** Publishes a committed change to this region's change topic; resolves once the log acknowledged it. */
export type PublishChange = (def: TableDef, key: string, record: StoredRecord) => Promise<void>;

interface Overlay {
  /** Acknowledged by the log, not yet durable in the local store. */
  committed: StoredRecord | null;
  /** The newest write being published (its outcome unknown until the log answers), and its publish. */
  pending: StoredRecord | null;
  pendingDone: Promise<void> | null;
  /** Writes of this key being published. */
  inFlight: number;
}

/**
 * The storage unit (PNUTS' SU) of one node: its copy of the tablets it holds, and the master
 * logic for the records mastered in this region. A record's versions are assigned here in call
 * order: the master builds the next record, publishes it to the region's change topic, and the
 * write commits when the log acknowledges it. Every region (this one included) applies
 * changes from the logs in version order, skipping what it already has.
 */
export class StorageUnit {
  private readonly overlay = new Map<string, Overlay>();
  /** Per table, the writes being published (a tablet move drains them). */
  private readonly inflight = new Map<string, Set<Promise<void>>>();
  private closed = false;

  constructor(
    readonly region: string,
    private readonly store: LocalStore,
    private readonly publish: PublishChange,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly trace: ApplyTrace | null = null,
  ) {}

  /** The committed copy here (overlay first, then the store); null when this region never saw the key. */
  read(def: TableDef, key: string): StoredRecord | null {
    const o = this.overlay.get(overlayKey(def, key));
    if (o?.committed) return o.committed;
    const bytes = this.store.get(def.name, storageKey(def, key));
    return bytes ? decodeRecord(bytes) : null;
  }

  /** As read(), with the stored bytes when the copy came from the store (null: from the overlay). */
  readStored(def: TableDef, key: string): { record: StoredRecord; bytes: Buffer | null } | null {
    const o = this.overlay.get(overlayKey(def, key));
    if (o?.committed) return { record: o.committed, bytes: null };
    const bytes = this.store.get(def.name, storageKey(def, key));
    return bytes ? { record: decodeRecord(bytes), bytes } : null;
  }

  /** The copy here given its stored bytes (read in a scan): a newer committed one wins. */
  freshest(def: TableDef, key: string, stored: Buffer): StoredRecord {
    return this.overlay.get(overlayKey(def, key))?.committed ?? decodeRecord(stored);
  }

  /** Whether this region masters the record now (by its copy here), or, for a key never seen here, is the table's home. */
  mastersHere(def: TableDef, key: string): boolean {
    const r = this.read(def, key);
    return r ? r.master === this.region : def.homeRegion === this.region;
  }

  /**
   * Take a committed record from elsewhere (a change from a log, or the copy another region
   * sent along): kept if newer than the copy here, ignored otherwise. Returns whether it was kept.
   */
  apply(def: TableDef, key: string, record: StoredRecord): boolean {
    const k = overlayKey(def, key);
    const current = this.read(def, key);
    if (current && compareVersions(recordVersion(record), recordVersion(current)) <= 0) return false;
    this.keep(def, key, k, record);
    return true;
  }

  /**
   * Write as the master. A key's writes get consecutive versions in call order, each built on the
   * one before even while that one is still being published (a hot record is not held to one
   * write per log round trip): every change carries the whole record, so a region that gets a
   * later version first skips the earlier one. A write that hands the record to another region
   * is the exception: later writes wait for it to commit, then go to the new master.
   */
  async write(def: TableDef, key: string, m: Mutation): Promise<MasterOutcome> {
    const k = overlayKey(def, key);
    for (let o = this.overlay.get(k); o?.pending && o.pending.master !== this.region; o = this.overlay.get(k)) await o.pendingDone?.catch(() => {});
    // From here to the publish there is no await: versions are assigned in call order.
    const committed = this.read(def, key);
    const o = this.overlay.get(k) ?? { committed: null, pending: null, pendingDone: null, inFlight: 0 };
    const current = o.pending ?? committed;
    if (current ? current.master !== this.region : def.homeRegion !== this.region) return { kind: 'elsewhere', record: committed };
    const now = this.clock.nowMs();
    const gone = !current || isGone(current, now);
    const have: Version = current ? recordVersion(current) : [0, 0];
    if (m.ifVersion && compareVersions(m.ifVersion, have) !== 0 && !(gone && compareVersions(m.ifVersion, [0, 0]) === 0)) return { kind: 'conflict', current: have };
    // An expired record reads as absent, but deleting it still puts a tombstone on its timeline.
    if (m.fields === null && (!current || current.deleted)) return { kind: 'absent' };
    const next = this.nextRecord(def, current, gone, m, now);
    const done = this.publishUntilDone(def, key, next);
    this.overlay.set(k, o);
    o.pending = next;
    o.pendingDone = done;
    o.inFlight++;
    const table = this.inflight.get(def.name) ?? new Set<Promise<void>>();
    this.inflight.set(def.name, table);
    const settled = done.catch(() => {});
    table.add(settled);
    try {
      await done;
    } finally {
      table.delete(settled);
      o.inFlight--;
      if (o.pending === next) {
        o.pending = null;
        o.pendingDone = null;
      }
      if (!o.committed && o.inFlight === 0 && this.overlay.get(k) === o) this.overlay.delete(k);
    }
    // The change may already have come back from the log (a publish retried after its ack was lost).
    this.apply(def, key, next);
    return { kind: 'ok', record: next };
  }

  private nextRecord(def: TableDef, current: StoredRecord | null, gone: boolean, m: Mutation, now: number): StoredRecord {
    let fieldsJson: Buffer;
    if (m.fields === null) fieldsJson = Buffer.alloc(0);
    else {
      // A Map, not an object: a field may be called "__proto__".
      const merged = new Map(!m.replace && !gone && current ? Object.entries(JSON.parse(current.fieldsJson.toString('utf8')) as Record<string, unknown>) : []);
      for (const [name, v] of Object.entries(m.fields)) {
        if (v === null) merged.delete(name);
        else merged.set(name, v);
      }
      const base = Object.fromEntries(merged);
      const problem = fieldsProblem(def, base);
      if (problem) throw new RpcError(RpcCode.invalid, problem);
      fieldsJson = Buffer.from(JSON.stringify(base), 'utf8');
      if (fieldsJson.length > MAX_RECORD_BYTES) throw new RpcError(RpcCode.invalid, `record of ${fieldsJson.length} bytes is over the ${MAX_RECORD_BYTES}-byte limit`);
    }
    if ((gone && m.fields !== null ? (current?.gen ?? 0) : current!.ver) >= 0xffffffff) throw new RpcError(RpcCode.invalid, 'this record has used up its versions (2^32 - 1 in one generation)');
    const keep = Math.max(def.mastership.migrateAfter, 1);
    const origins = [...(current?.origins ?? []), m.origin].slice(-keep);
    const newGeneration = gone && m.fields !== null;
    return {
      gen: newGeneration ? (current?.gen ?? 0) + 1 : current!.gen,
      ver: newGeneration ? 1 : current!.ver + 1,
      master: nextMaster(def, current?.master ?? def.mastership.pinned ?? m.origin, origins),
      origins,
      deleted: m.fields === null,
      writtenAt: now,
      expiresAt: m.fields !== null && def.ttlSeconds > 0 ? now + def.ttlSeconds * 1000 : 0,
      fieldsJson,
    };
  }

  /**
   * A change whose publish failed may still be in the log, so its version must not be given to
   * other contents: the key's later writes wait while it is published again, until the log takes
   * it (the caller's client may have given up and reported the outcome unknown).
   */
  private async publishUntilDone(def: TableDef, key: string, record: StoredRecord): Promise<void> {
    const k = overlayKey(def, key);
    let delay = 50;
    for (;;) {
      try {
        return await this.publish(def, key, record);
      } catch (err) {
        if (this.closed) throw new RpcError(RpcCode.closed, 'records node is stopping; the write may or may not have committed');
        // A change that could not even be encoded never reached the log: the write just fails.
        if (err instanceof UnsentChangeError) throw new RpcError(RpcCode.invalid, err.message);
        this.log.warn('publishing a change failed; retrying', { table: def.name, err: String((err as Error).message ?? err) });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
        // Published again, this change must not land after a newer one of the key (compaction keeps
        // the last): while a newer write is in flight, wait for it; once a newer one has committed,
        // this one is in it (each write is built on the one before) and is done.
        for (;;) {
          const committed = this.read(def, key);
          if (committed && compareVersions(recordVersion(committed), recordVersion(record)) >= 0) return;
          const newer = this.overlay.get(k)?.pending;
          if (!newer || newer === record || compareVersions(recordVersion(newer), recordVersion(record)) <= 0) break;
          await this.overlay.get(k)!.pendingDone!.catch(() => {});
        }
      }
    }
  }

  private keep(def: TableDef, key: string, k: string, record: StoredRecord): void {
    const o = this.overlay.get(k) ?? { committed: null, pending: null, pendingDone: null, inFlight: 0 };
    o.committed = record;
    this.overlay.set(k, o);
    const bytes = encodeRecord(record);
    this.store.put(def.name, storageKey(def, key), bytes).then(
      () => {
        this.trace?.(def.name, key, record);
        const now = this.overlay.get(k);
        if (now && now.committed === record) {
          now.committed = null;
          if (!now.pending && now.inFlight === 0) this.overlay.delete(k);
        }
      },
      (err: unknown) => this.log.error('local store write failed; the change log will replay it after a restart', { table: def.name, err: String(err) }),
    );
  }

  /** Resolves when the table's writes being published now have finished. */
  async drained(table: string): Promise<void> {
    await Promise.all([...(this.inflight.get(table) ?? [])]);
  }

  close(): void {
    this.closed = true;
  }
}

/** Pinned tables stay with their region; otherwise a record follows the region of its last N writes. */
export function nextMaster(def: TableDef, current: string, origins: string[]): string {
  if (def.mastership.pinned) return def.mastership.pinned;
  const n = def.mastership.migrateAfter;
  if (n === 0 || origins.length < n) return current;
  const last = origins[origins.length - 1];
  for (let i = origins.length - n; i < origins.length; i++) if (origins[i] !== last) return current;
  return last;
}

function overlayKey(def: TableDef, key: string): string {
  return `${def.name}\u0000${key}`;
}
