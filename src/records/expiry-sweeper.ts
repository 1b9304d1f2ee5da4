import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Catalog } from './catalog.js';
import type { LocalStore } from './local-store.js';
import { decodeRecord, recordVersion } from './record-codec.js';
import type { StorageUnit } from './storage-unit.js';
import { keyOfStorageKey, tabletFor, tabletRange } from './tablets.js';

const MAX_DELETES_PER_PASS = 1000;

/**
 * Deletes expired records of tables with a TTL, at their masters: a record past its expiry reads
 * as absent everywhere at once, and this turns it into a real delete on the record's timeline
 * (a test-and-set on the expired version, so a write that came in meanwhile wins).
 */
export class ExpirySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  deleted = 0;

  constructor(
    private readonly d: {
      region: string;
      nodeId: string;
      catalog: Catalog;
      store: LocalStore;
      su: StorageUnit;
      /** As for any master write: the table caught up with this region's log. */
      ready: (table: string) => Promise<void>;
      clock: Clock;
      log: Logger;
      intervalMs: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.d.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let budget = MAX_DELETES_PER_PASS;
      for (const { state } of [...this.d.catalog.tables.values()]) {
        if (state.def.ttlSeconds === 0) continue;
        for (let i = 0; i < state.tablets.length && budget > 0; i++) {
          if (state.tablets[i].owners[this.d.region] !== this.d.nodeId) continue;
          const { start, end } = tabletRange(state, i);
          const now = this.d.clock.nowMs();
          const due: Array<{ key: string; version: readonly [number, number] }> = [];
          for (const { key, value } of this.d.store.range(state.def.name, start, end, Number.MAX_SAFE_INTEGER)) {
            const r = decodeRecord(value);
            if (r.deleted || r.expiresAt === 0 || r.expiresAt > now || r.master !== this.d.region) continue;
            due.push({ key: keyOfStorageKey(state.def, key), version: recordVersion(r) });
            if (due.length >= budget) break;
          }
          if (due.length > 0) await this.d.ready(state.def.name);
          for (const { key, version } of due) {
            // As the router does: only while this node still owns the tablet and it is not moving away.
            const now = this.d.catalog.table(state.def.name);
            const t = now && tabletFor(now, key);
            if (!t || t.owners[this.d.region] !== this.d.nodeId || (t.moving?.region === this.d.region && t.moving.state !== 'copying')) continue;
            const out = await this.d.su.write(state.def, key, { fields: null, replace: false, ifVersion: version, origin: this.d.region }).catch(() => null);
            if (out?.kind === 'ok') this.deleted++;
            budget--;
          }
        }
      }
    } catch (err) {
      this.d.log.warn('expiry sweep failed', { err: String(err) });
    } finally {
      this.running = false;
    }
  }
}
