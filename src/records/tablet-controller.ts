import type { Logger } from '../core/log.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { Catalog } from './catalog.js';
import type { LocalStore } from './local-store.js';
import { RecordsMethod, decodeScanReply } from './protocol.js';
import type { StorageUnit } from './storage-unit.js';
import type { TableReplication } from './table-replication.js';
import { splitTablet, tabletRange, type TableState, type Tablet, type TabletMove } from './tablets.js';

export interface TabletControllerDeps {
  region: string;
  nodeId: string;
  catalog: Catalog;
  store: LocalStore;
  su: StorageUnit;
  replication: TableReplication;
  callNode: (nodeId: string, method: number, payload: Buffer, timeoutMs: number) => Promise<Buffer>;
  /** Live records nodes: id → region. */
  members: () => Map<string, { region: string }>;
  /** Split a tablet past this many records (0: never split by itself). */
  splitRecords: number;
  checkIntervalMs: number;
  log: Logger;
}

const COPY_PAGE = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Tablet management on one node (PNUTS' tablet controller, spread over the nodes): splits the
 * tablets it holds in the table's home region once they grow past `splitRecords` (a split only
 * changes the map: both halves stay where the tablet was, in every region), and plays its part
 * in moves of a tablet within its region (tablets.ts, TabletMove): as the target it copies the
 * tablet and finally takes it over; as the source it stops writes, drains them and releases it.
 */
export class TabletController {
  private readonly busy = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Tablets this node owned at the last look (table → tablet ids), to clean up those that moved away. */
  private readonly owned = new Map<string, Set<number>>();

  private checking = false;

  constructor(private readonly d: TabletControllerDeps) {}

  start(): void {
    this.d.catalog.on('table', (s: TableState) => this.onTable(s));
    for (const { state } of this.d.catalog.tables.values()) this.onTable(state);
    if (this.d.splitRecords > 0) {
      this.timer = setInterval(() => void this.checkSplits().catch((err: unknown) => this.d.log.warn('split check failed', { err: String(err) })), this.d.checkIntervalMs);
      this.timer.unref();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
  }

  // ---- splits ----

  private async checkSplits(): Promise<void> {
    if (this.checking) return; // the last check is still counting
    this.checking = true;
    try {
      await this.checkSplitsNow();
    } finally {
      this.checking = false;
    }
  }

  private async checkSplitsNow(): Promise<void> {
    for (const { state } of [...this.d.catalog.tables.values()]) {
      if (this.d.region !== state.def.homeRegion) continue;
      // No tablet can be over the limit when the whole table here is not (the common case, O(1)).
      if (this.d.store.entryCount(state.def.name) <= this.d.splitRecords) continue;
      for (let i = 0; i < state.tablets.length; i++) {
        const t = state.tablets[i];
        if (t.owners[this.d.region] !== this.d.nodeId || t.moving) continue;
        const { start, end } = tabletRange(state, i);
        if (await this.d.store.holdsMoreThan(state.def.name, start, end, this.d.splitRecords)) await this.split(state.def.name, t.id);
        if (this.closed) return;
      }
    }
  }

  /** Split a tablet at `at`, or at its median record (as held here); returns the new map. */
  async split(table: string, tabletId: number, at?: string): Promise<TableState> {
    let point = at;
    if (point === undefined) {
      const state = this.table(table);
      const i = this.indexOf(state, tabletId);
      const { start, end } = tabletRange(state, i);
      const n = this.d.store.count(table, start, end);
      const median = this.d.store.keyAt(table, start, end, Math.floor(n / 2));
      if (n < 2 || !median) throw new RpcError(RpcCode.invalid, `tablet ${tabletId} of ${table} holds ${n} records here: nothing to split`);
      point = state.def.kind === 'ordered' ? median : median.slice(0, 8);
    }
    const next = await this.d.catalog.update(table, (s) => {
      const i = this.indexOf(s, tabletId);
      if (s.tablets[i].moving) throw new RpcError(RpcCode.tryLater, `tablet ${tabletId} of ${table} is moving; split it after`);
      try {
        return splitTablet(s, i, point!);
      } catch (err) {
        throw new RpcError(RpcCode.invalid, (err as Error).message);
      }
    });
    this.d.log.info('tablet split', { table, tablet: tabletId, at: point });
    return next!;
  }

  // ---- moves ----

  /** Start moving a tablet to another node of the same region. */
  async move(table: string, tabletId: number, to: string, region = this.d.region): Promise<TableState> {
    const member = this.d.members().get(to);
    if (!member || member.region !== region) throw new RpcError(RpcCode.invalid, `node ${to} is not a live records node of region ${region}`);
    const next = await this.d.catalog.update(table, (s) => {
      const t = s.tablets[this.indexOf(s, tabletId)];
      const from = t.owners[region];
      if (t.moving) throw new RpcError(RpcCode.tryLater, `tablet ${tabletId} of ${table} is already moving to ${t.moving.to}`);
      if (!from) throw new RpcError(RpcCode.tryLater, `tablet ${tabletId} of ${table} has no node in region ${region} yet`);
      if (from === to) return null;
      return withTablet(s, tabletId, { ...t, moving: { region, from, to, state: 'copying' } });
    });
    this.d.log.info('tablet move started', { table, tablet: tabletId, region, to });
    return next!;
  }

  private onTable(state: TableState): void {
    const name = state.def.name;
    const mine = new Set(state.tablets.filter((t) => t.owners[this.d.region] === this.d.nodeId).map((t) => t.id));
    const before = this.owned.get(name);
    this.owned.set(name, mine);
    for (const t of state.tablets) {
      const m = t.moving;
      if (m?.region !== this.d.region) continue;
      if (m.to === this.d.nodeId && m.state === 'copying') this.once(`${name}/${t.id}/copy`, () => this.copyIn(name, t.id, m));
      if (m.from === this.d.nodeId && m.state === 'draining') this.once(`${name}/${t.id}/drain`, () => this.drainOut(name, t.id));
      if (m.to === this.d.nodeId && m.state === 'released') this.once(`${name}/${t.id}/take`, () => this.takeOver(name, t.id, m.offsets ?? []));
    }
    // Tablets that moved away from here: their records go (after the new owner took over).
    if (before) {
      for (const id of before) {
        const i = state.tablets.findIndex((t) => t.id === id);
        if (i >= 0 && !mine.has(id) && state.tablets[i].owners[this.d.region]) {
          const { start, end } = tabletRange(state, i);
          this.d.store.removeRange(name, start, end).then(
            (n) => this.d.log.info('moved tablet removed here', { table: name, tablet: id, records: n }),
            (err: unknown) => this.d.log.warn('removing a moved tablet failed; its records stay here unused', { table: name, tablet: id, err: String(err) }),
          );
        }
      }
    }
  }

  private once(id: string, step: () => Promise<void>): void {
    if (this.busy.has(id)) return;
    this.busy.add(id);
    void (async () => {
      for (let delay = 100; !this.closed; delay = Math.min(delay * 2, 2000)) {
        try {
          await step();
          return;
        } catch (err) {
          this.d.log.warn('tablet move step failed; retrying', { step: id, err: String((err as Error).message ?? err) });
          await sleep(delay);
        }
      }
    })().finally(() => this.busy.delete(id));
  }

  /** Target: follow the tablet's changes (holds() already says yes), copy the source's records, then ask it to drain. */
  private async copyIn(table: string, tabletId: number, move: TabletMove): Promise<void> {
    await this.d.replication.ensure(table);
    const mine = this.d.replication.positions(table);
    // The source's copy must include every change before the point where this node began applying the tablet's changes.
    for (;;) {
      const theirs = JSON.parse((await this.d.callNode(move.from, RecordsMethod.positions, Buffer.from(JSON.stringify({ table })), 10_000)).toString()) as Record<string, number[]>;
      if (Object.entries(mine).every(([r, ps]) => ps.every((p, i) => (theirs[r]?.[i] ?? -1) >= p))) break;
      await sleep(100);
    }
    const state = this.table(table);
    const { start, end } = tabletRange(state, this.indexOf(state, tabletId));
    let after = '';
    let copied = 0;
    for (;;) {
      const payload = Buffer.from(JSON.stringify({ table, start, end, after, limit: COPY_PAGE }));
      const page = decodeScanReply(await this.d.callNode(move.from, RecordsMethod.copyRange, payload, 30_000));
      for (const row of page.rows) if (this.d.su.apply(state.def, row.key, row.record)) copied++;
      if (!page.next) break;
      after = page.next;
    }
    await this.d.store.flushed();
    await this.advance(table, tabletId, move, 'copying', { state: 'draining' });
    this.d.log.info('tablet copied', { table, tablet: tabletId, from: move.from, records: copied });
  }

  /** Source: no more master writes for the tablet here (the router refuses them); wait for those running; note the log's end. */
  private async drainOut(table: string, tabletId: number): Promise<void> {
    await this.d.su.drained(table);
    const offsets = await this.d.replication.ownEndOffsets(this.table(table).def);
    const move = this.table(table).tablets[this.indexOf(this.table(table), tabletId)].moving!;
    await this.advance(table, tabletId, move, 'draining', { state: 'released', offsets });
  }

  /** Target: apply the region's log past the source's last write, then own the tablet. */
  private async takeOver(table: string, tabletId: number, offsets: number[]): Promise<void> {
    await this.d.replication.appliedOwnTo(table, offsets);
    await this.d.store.flushed();
    await this.d.catalog.update(table, (s) => {
      const t = s.tablets[this.indexOf(s, tabletId)];
      if (t.moving?.to !== this.d.nodeId || t.moving.state !== 'released') return null;
      const { moving: _done, ...rest } = t;
      return withTablet(s, tabletId, { ...rest, owners: { ...t.owners, [this.d.region]: this.d.nodeId } });
    });
    this.d.log.info('tablet moved here', { table, tablet: tabletId });
  }

  private async advance(table: string, tabletId: number, move: TabletMove, from: TabletMove['state'], change: Partial<TabletMove>): Promise<void> {
    await this.d.catalog.update(table, (s) => {
      const t = s.tablets[this.indexOf(s, tabletId)];
      if (!t.moving || t.moving.to !== move.to || t.moving.state !== from) return null;
      return withTablet(s, tabletId, { ...t, moving: { ...t.moving, ...change } });
    });
  }

  private table(name: string): TableState {
    const s = this.d.catalog.table(name);
    if (!s) throw new RpcError(RpcCode.notFound, `no table ${name}`);
    return s;
  }

  private indexOf(state: TableState, tabletId: number): number {
    const i = state.tablets.findIndex((t) => t.id === tabletId);
    if (i < 0) throw new RpcError(RpcCode.notFound, `table ${state.def.name} has no tablet ${tabletId}`);
    return i;
  }
}

function withTablet(s: TableState, id: number, t: Tablet): TableState {
  return { ...s, tablets: s.tablets.map((x) => (x.id === id ? t : x)) };
}
