import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { LogClient } from '../log/client.js';
import type { Producer } from '../log/producer.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { ChangeApplier } from './applier.js';
import type { Catalog } from './catalog.js';
import { encodeChange, encodeFence, fenceKey } from './change-codec.js';
import type { LocalStore } from './local-store.js';
import type { StoredRecord } from './record-codec.js';
import { UnsentChangeError, type StorageUnit } from './storage-unit.js';
import { changeTopic, type TableDef } from './table-def.js';
import { partitionOf, tabletFor, type TableState } from './tablets.js';

const READY_WAIT_MS = 10_000;

interface TableRuntime {
  def: TableDef;
  appliers: Map<string, ChangeApplier>;
  ready: Promise<void>;
  isReady: boolean;
}

export interface TableReplicationOptions {
  region: string;
  nodeId: string;
  /** This process's incarnation: its changes carry it, and its fences cut off older ones. */
  incarnation: number;
  catalog: Catalog;
  local: LocalStore;
  ownLog: LogClient;
  producer: Producer;
  /** Where to connect to reach another region's advertised address. */
  route: (addr: { host: string; port: number }) => { host: string; port: number };
  clock: Clock;
  log: Logger;
}

/**
 * Each table's replication on this node: it takes the tablets no node of this region holds yet,
 * creates the table's change topic in this region's log, fences its own older incarnations, and
 * follows every region's change topic. A table is ready for master writes here once this node
 * has applied its own region's log up to its fence, so it knows every version committed before.
 */
export class TableReplication {
  private readonly tables = new Map<string, TableRuntime>();
  private readonly clients = new Map<string, Promise<LogClient>>();
  private su: StorageUnit | null = null;
  private closed = false;

  constructor(private readonly o: TableReplicationOptions) {
    this.clients.set(o.region, Promise.resolve(o.ownLog));
  }

  attach(su: StorageUnit): void {
    this.su = su;
  }

  async start(): Promise<void> {
    this.o.catalog.on('table', (s: TableState) => void this.ensure(s.def.name).catch(() => {}));
    this.o.catalog.on('region', (region: string) => {
      for (const rt of this.tables.values()) this.follow(rt, region);
    });
    for (const name of this.o.catalog.tables.keys()) void this.ensure(name).catch(() => {});
  }

  /** Set up a table's replication here (once); resolves when it is ready for master writes. */
  ensure(name: string): Promise<void> {
    const known = this.tables.get(name);
    if (known) return known.ready;
    const state = this.o.catalog.table(name);
    if (!state) return Promise.reject(new RpcError(RpcCode.notFound, `no table ${name}`));
    const rt: TableRuntime = { def: state.def, appliers: new Map(), ready: Promise.resolve(), isReady: false };
    rt.ready = this.setUp(rt).then(() => {
      rt.isReady = true;
    });
    rt.ready.catch(() => {});
    this.tables.set(name, rt);
    return rt.ready;
  }

  /** Resolves when the table is ready for master writes here; fails with tryLater after a while. */
  async ready(name: string): Promise<void> {
    const rt = this.tables.get(name);
    if (rt?.isReady) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RpcError(RpcCode.tryLater, `table ${name} is not ready on this node yet (catching up with its change log)`)), READY_WAIT_MS);
    });
    try {
      await Promise.race([this.ensure(name), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async setUp(rt: TableRuntime): Promise<void> {
    const def = rt.def;
    const topic = changeTopic(def.name);
    let delay = 100;
    for (;;) {
      if (this.closed) throw new RpcError(RpcCode.closed, 'records node is stopping');
      try {
        await this.claimTablets(def.name);
        await this.o.ownLog.createTopic(topic, { partitions: def.partitions, compact: true });
        const fence = encodeFence(this.o.nodeId, this.o.incarnation);
        const fences = await Promise.all(
          Array.from({ length: def.partitions }, (_, p) => this.o.producer.publish(topic, fence, { key: fenceKey(this.o.nodeId, this.o.incarnation), partition: p })),
        );
        for (const region of new Set([this.o.region, ...this.o.catalog.regions.keys()])) this.follow(rt, region);
        const own = rt.appliers.get(this.o.region)!;
        await Promise.all(fences.map((f) => own.appliedTo(f.partition, f.offset + 1)));
        this.o.log.info('table ready', { table: def.name, incarnation: this.o.incarnation });
        return;
      } catch (err) {
        if (this.closed) throw err;
        this.o.log.warn('setting up a table failed; retrying', { table: def.name, err: String((err as Error).message ?? err) });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private async claimTablets(name: string): Promise<void> {
    const { region, nodeId } = this.o;
    await this.o.catalog.update(name, (s) => {
      if (s.tablets.every((t) => t.owners[region])) return null;
      return { ...s, tablets: s.tablets.map((t) => (t.owners[region] ? t : { ...t, owners: { ...t.owners, [region]: nodeId } })) };
    });
  }

  private follow(rt: TableRuntime, source: string): void {
    if (this.closed || rt.appliers.has(source) || !this.su) return;
    const applier = new ChangeApplier({
      source,
      def: rt.def,
      logClient: () => this.client(source),
      store: this.o.local,
      su: this.su,
      holds: (def, key) => this.holds(def, key),
      log: this.o.log,
    });
    rt.appliers.set(source, applier);
  }

  /** Whether this node keeps the key's tablet in its region: it owns it, or it is moving here. */
  holds(def: TableDef, key: string): boolean {
    const state = this.o.catalog.table(def.name);
    if (!state) return false;
    const t = tabletFor(state, key);
    return t.owners[this.o.region] === this.o.nodeId || (t.moving?.region === this.o.region && t.moving.to === this.o.nodeId);
  }

  private client(region: string): Promise<LogClient> {
    let c = this.clients.get(region);
    if (!c) {
      const info = this.o.catalog.regions.get(region);
      if (!info) return Promise.reject(new Error(`region ${region} is not known`));
      c = LogClient.connect({ brokers: info.logBrokers, retryTimeoutMs: 10_000, route: this.o.route });
      this.clients.set(region, c);
      c.catch(() => this.clients.get(region) === c && this.clients.delete(region));
    }
    return c;
  }

  async publish(def: TableDef, key: string, record: StoredRecord): Promise<void> {
    let value: Buffer;
    try {
      value = encodeChange(this.o.nodeId, this.o.incarnation, record);
    } catch (err) {
      throw new UnsentChangeError(`the change cannot be encoded: ${(err as Error).message}`);
    }
    await this.o.producer.publish(changeTopic(def.name), value, { key, partition: partitionOf(def, key) });
  }

  /** Where this node's appliers are in every region's change topic of the table (region → next offset per partition). */
  positions(table: string): Record<string, number[]> {
    const rt = this.tables.get(table);
    const out: Record<string, number[]> = {};
    if (!rt) return out;
    for (const [region, a] of rt.appliers) out[region] = Array.from({ length: rt.def.partitions }, (_, p) => a.position(p));
    return out;
  }

  /** The current end of each partition of the table's change topic in this region's log. */
  async ownEndOffsets(def: TableDef): Promise<number[]> {
    const topic = changeTopic(def.name);
    const ends: number[] = [];
    for (let p = 0; p < def.partitions; p++) {
      ends.push(await this.o.ownLog.offsetOf(topic, p, 'latest'));
    }
    return ends;
  }

  /** Resolves once this node has applied its own region's change topic up to the offsets. */
  async appliedOwnTo(table: string, offsets: number[]): Promise<void> {
    await this.ensure(table);
    const own = this.tables.get(table)!.appliers.get(this.o.region)!;
    await Promise.all(offsets.map((o, p) => own.appliedTo(p, o)));
  }

  appliedCount(): number {
    let n = 0;
    for (const rt of this.tables.values()) for (const a of rt.appliers.values()) n += a.applied;
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const rt of this.tables.values()) for (const a of rt.appliers.values()) await a.stop();
    for (const [region, c] of this.clients) if (region !== this.o.region) c.then((cl) => cl.close(), () => {});
  }
}
