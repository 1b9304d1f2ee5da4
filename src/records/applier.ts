import type { Logger } from '../core/log.js';
import type { LogClient } from '../log/client.js';
import { ChangeKind, decodeChange, type ChangeMessage } from './change-codec.js';
import type { LocalStore } from './local-store.js';
import type { StorageUnit } from './storage-unit.js';
import { changeTopic, type TableDef } from './table-def.js';

/** What an applier keeps per partition in the local store, with the changes it applied. */
interface Checkpoint {
  /** The next offset to apply. */
  offset: number;
  /** writer node → newest incarnation fenced in this partition. */
  incarnations: Record<string, number>;
}

export interface ApplierOptions {
  /** The region whose change topic this applier follows. */
  source: string;
  def: TableDef;
  logClient: () => Promise<LogClient>;
  store: LocalStore;
  su: StorageUnit;
  /** Whether this node holds the key's tablet (other keys are skipped). */
  holds: (def: TableDef, key: string) => boolean;
  log: Logger;
}

/**
 * Follows one region's change topic of one table (every partition) and applies the changes to
 * this node's copy in log order, so a record's versions arrive in the order its master published
 * them. Where it got to is saved in the local store after the changes it covers, so after a crash
 * it applies again from there (applying is idempotent: older versions are skipped).
 */
export class ChangeApplier {
  private readonly abort = new AbortController();
  private readonly checkpoints: Checkpoint[] = [];
  private readonly dirty = new Set<number>();
  private readonly waiters: Array<{ partition: number; offset: number; resolve: () => void; reject: (err: Error) => void }> = [];
  private lastFailure = '';
  private readonly timer: NodeJS.Timeout;
  private readonly loops: Promise<void>[] = [];
  applied = 0;

  constructor(private readonly o: ApplierOptions) {
    for (let p = 0; p < o.def.partitions; p++) {
      this.checkpoints.push(o.store.getMeta<Checkpoint>(this.metaKey(p)) ?? { offset: 0, incarnations: {} });
    }
    this.timer = setInterval(() => void this.save(), 100);
    this.timer.unref();
    for (let p = 0; p < o.def.partitions; p++) this.loops.push(this.follow(p));
  }

  private metaKey(p: number): string {
    return `applied/${this.o.source}/${this.o.def.name}/${p}`;
  }

  /** Resolves once the partition's changes before `offset` have been applied. */
  appliedTo(partition: number, offset: number): Promise<void> {
    if (this.checkpoints[partition].offset >= offset) return Promise.resolve();
    if (this.abort.signal.aborted) return Promise.reject(new Error('applier stopped'));
    return new Promise((resolve, reject) => this.waiters.push({ partition, offset, resolve, reject }));
  }

  /** The next offset to apply in a partition. */
  position(partition: number): number {
    return this.checkpoints[partition].offset;
  }

  private async follow(p: number): Promise<void> {
    const topic = changeTopic(this.o.def.name);
    let delay = 100;
    while (!this.abort.signal.aborted) {
      try {
        const client = await this.o.logClient();
        const from = { offset: this.checkpoints[p].offset };
        for await (const rec of client.consume(topic, { partition: p, from, signal: this.abort.signal, maxWaitMs: 500, durableOnly: true })) {
          this.handle(p, rec.offset, rec.key, rec.value);
          delay = 100;
          this.lastFailure = '';
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        // Said once per distinct error: a stall (a log that lost data, an unreachable region) must be visible.
        const why = String((err as Error).message ?? err);
        if (why !== this.lastFailure) this.o.log.warn('following a change topic failed; retrying', { source: this.o.source, topic, partition: p, err: why });
        this.lastFailure = why;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private handle(p: number, offset: number, key: Buffer | null, value: Buffer | null): void {
    const cp = this.checkpoints[p];
    if (key && value) {
      let change: ChangeMessage | null = null;
      try {
        change = decodeChange(value);
      } catch (err) {
        this.o.log.error('unreadable change skipped', { source: this.o.source, table: this.o.def.name, partition: p, offset, err: String(err) });
      }
      const seen = change ? (cp.incarnations[change.writer] ?? 0) : 0;
      if (change?.kind === ChangeKind.fence) {
        if (change.incarnation > seen) cp.incarnations[change.writer] = change.incarnation;
      } else if (change && change.incarnation >= seen) {
        // An error applying (not decoding) stops here: the loop starts again from the checkpoint.
        const k = key.toString('utf8');
        if (this.o.holds(this.o.def, k) && this.o.su.apply(this.o.def, k, change.record)) this.applied++;
      }
    }
    cp.offset = offset + 1;
    this.dirty.add(p);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w.partition === p && cp.offset >= w.offset) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Checkpoints go to the store after the changes they cover (lmdb keeps the order of writes). */
  private async save(): Promise<void> {
    for (const p of this.dirty) {
      this.o.store.putMeta(this.metaKey(p), this.checkpoints[p]).catch((err: unknown) => this.o.log.warn('saving an applier checkpoint failed', { err: String(err) }));
    }
    this.dirty.clear();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    await Promise.allSettled(this.loops);
    for (const w of this.waiters.splice(0)) w.reject(new Error('applier stopped'));
    await this.save();
  }
}

