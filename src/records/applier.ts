import type { Logger } from '../core/log.js';
import type { LogClient } from '../log/client.js';
import { ChangeKind, decodeChange } from './change-codec.js';
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
  /** This node and its incarnation: its own current changes were applied when the log acknowledged them. */
  self: { nodeId: string; incarnation: number };
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
  private readonly waiters: Array<{ partition: number; offset: number; resolve: () => void }> = [];
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
    return new Promise((resolve) => this.waiters.push({ partition, offset, resolve }));
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
        }
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.o.log.debug('following a change topic failed; retrying', { source: this.o.source, topic, partition: p, err: String((err as Error).message ?? err) });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private handle(p: number, offset: number, key: Buffer | null, value: Buffer | null): void {
    const cp = this.checkpoints[p];
    if (key && value && !isOwnCurrent(value, this.o.self)) {
      try {
        const change = decodeChange(value);
        const seen = cp.incarnations[change.writer] ?? 0;
        if (change.kind === ChangeKind.fence) {
          if (change.incarnation > seen) cp.incarnations[change.writer] = change.incarnation;
        } else if (change.incarnation >= seen) {
          const k = key.toString('utf8');
          if (this.o.holds(this.o.def, k) && this.o.su.apply(this.o.def, k, change.record)) this.applied++;
        }
      } catch (err) {
        this.o.log.error('unreadable change skipped', { source: this.o.source, table: this.o.def.name, partition: p, offset, err: String(err) });
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
    for (const p of this.dirty) void this.o.store.putMeta(this.metaKey(p), this.checkpoints[p]);
    this.dirty.clear();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    await Promise.allSettled(this.loops);
    await this.save();
  }
}

/** A change this very process published (it applied it already): known from its header alone. */
function isOwnCurrent(value: Buffer, self: { nodeId: string; incarnation: number }): boolean {
  if (value.length < 3 || value[0] !== ChangeKind.change) return false;
  const n = value.readUInt16LE(1);
  if (n !== Buffer.byteLength(self.nodeId) || value.length < 3 + n + 4) return false;
  return value.readUInt32LE(3 + n) === self.incarnation && value.toString('utf8', 3, 3 + n) === self.nodeId;
}
