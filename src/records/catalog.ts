import { EventEmitter } from 'node:events';
import type { Logger } from '../core/log.js';
import type { MetadataStore, Watcher, WatchEvent } from '../cluster/index.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { initialTablets, type TableState } from './tablets.js';
import type { TableDef } from './table-def.js';

/** Where a region's log can be reached (`regions/<region>`, kept after its nodes stop). */
export interface RegionInfo {
  logBrokers: Array<{ host: string; port: number }>;
}

const TABLES = 'tables/';
const REGIONS = 'regions/';

/**
 * The records metadata every node shares (docs/records.md, "Metadata"): table definitions with
 * their tablet maps (`tables/<name>`) and the regions' log addresses (`regions/<region>`), read
 * once and kept current by watches. Emits `table` (TableState) on every change of a table and
 * `region` (name, RegionInfo) on every change of a region.
 */
export class Catalog extends EventEmitter {
  readonly tables = new Map<string, { state: TableState; revision: number }>();
  readonly regions = new Map<string, RegionInfo>();
  private watchers: Watcher[] = [];

  private constructor(
    private readonly store: MetadataStore,
    private readonly log: Logger,
  ) {
    super();
  }

  static async open(store: MetadataStore, log: Logger): Promise<Catalog> {
    const c = new Catalog(store, log);
    for (const prefix of [TABLES, REGIONS]) {
      const snap = await store.snapshot(prefix);
      for (const kv of snap.kvs) c.onEvent({ type: 'put', kv });
      c.watchers.push(await store.watch(prefix, (ev) => c.onEvent(ev), { afterRevision: snap.revision }));
    }
    return c;
  }

  private onEvent(ev: WatchEvent): void {
    if (ev.type === 'delete') {
      if (ev.key.startsWith(TABLES)) this.tables.delete(ev.key.slice(TABLES.length));
      return;
    }
    try {
      const value = JSON.parse(ev.kv.value.toString('utf8')) as unknown;
      if (ev.kv.key.startsWith(TABLES)) {
        const name = ev.kv.key.slice(TABLES.length);
        const known = this.tables.get(name);
        if (known && known.revision >= ev.kv.modRevision) return;
        const state = value as TableState;
        this.tables.set(name, { state, revision: ev.kv.modRevision });
        this.emit('table', state);
      } else {
        const region = ev.kv.key.slice(REGIONS.length);
        this.regions.set(region, value as RegionInfo);
        this.emit('region', region, value as RegionInfo);
      }
    } catch (err) {
      this.log.error('unreadable records metadata entry; ignored', { key: ev.kv.key, err: String(err) });
    }
  }

  table(name: string): TableState | undefined {
    return this.tables.get(name)?.state;
  }

  /** Create a table; an existing table with the same definition is returned as it is. */
  async createTable(def: TableDef): Promise<TableState> {
    const state: TableState = { def, tablets: initialTablets(def), nextTabletId: def.kind === 'ordered' ? 1 : def.tablets };
    if (await this.store.putIf(TABLES + def.name, JSON.stringify(state), 0)) {
      await this.refresh(def.name);
      return this.table(def.name) ?? state;
    }
    const existing = await this.refresh(def.name);
    if (existing && JSON.stringify(existing.def) === JSON.stringify(def)) return existing;
    throw new RpcError(RpcCode.invalid, `table ${def.name} exists with another definition`);
  }

  /** Read a table's entry now (rather than waiting for the watch). */
  async refresh(name: string): Promise<TableState | undefined> {
    const kv = await this.store.get(TABLES + name);
    if (kv) this.onEvent({ type: 'put', kv });
    else this.tables.delete(name);
    return this.table(name);
  }

  /**
   * Change a table's entry by compare-and-set on its revision, retrying on conflict; `change`
   * returns null when there is nothing to change.
   */
  async update(name: string, change: (s: TableState) => TableState | null): Promise<TableState | undefined> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const kv = await this.store.get(TABLES + name);
      if (!kv) return undefined;
      const next = change(JSON.parse(kv.value.toString('utf8')) as TableState);
      if (!next) {
        this.onEvent({ type: 'put', kv });
        return this.table(name);
      }
      if (await this.store.putIf(TABLES + name, JSON.stringify(next), kv.modRevision)) return this.refresh(name);
    }
    throw new RpcError(RpcCode.tryLater, `table ${name}: too many concurrent changes to its tablet map`);
  }

  async putRegion(region: string, info: RegionInfo): Promise<void> {
    await this.store.put(REGIONS + region, JSON.stringify(info));
  }

  async close(): Promise<void> {
    for (const w of this.watchers.splice(0)) await w.close().catch(() => {});
  }
}
