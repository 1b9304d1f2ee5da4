/**
 * An in-process binding over Maps, for tests of the driver. All DB instances made by one factory
 * share one store, so the run phase sees what the load phase inserted; scans walk the keys in
 * string order.
 */
import type { DB, DBFactory, RecordValues, ScanRecord, Status } from '../db.js';

class Table {
  readonly rows = new Map<string, RecordValues>();
  /** Keys in ascending order, for scans. */
  readonly keys: string[] = [];

  /** Index of the first key ≥ key. */
  lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export class MemoryStore {
  private readonly tables = new Map<string, Table>();
  table(name: string): Table {
    let t = this.tables.get(name);
    if (!t) this.tables.set(name, (t = new Table()));
    return t;
  }
}

function pick(values: RecordValues, fields: Set<string> | null, into: RecordValues): void {
  for (const [f, v] of values) if (fields === null || fields.has(f)) into.set(f, v);
}

class MemoryDB implements DB {
  constructor(private readonly store: MemoryStore) {}

  async init(): Promise<void> {}

  async cleanup(): Promise<void> {}

  async read(table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status> {
    const row = this.store.table(table).rows.get(key);
    if (!row) return 'NOT_FOUND';
    pick(row, fields, result);
    return 'OK';
  }

  async scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status> {
    const t = this.store.table(table);
    const end = Math.min(t.keys.length, t.lowerBound(startKey) + recordCount);
    for (let i = t.lowerBound(startKey); i < end; i++) {
      const values: RecordValues = new Map();
      pick(t.rows.get(t.keys[i])!, fields, values);
      result.push({ key: t.keys[i], values });
    }
    return 'OK';
  }

  async update(table: string, key: string, values: RecordValues): Promise<Status> {
    const row = this.store.table(table).rows.get(key);
    if (!row) return 'NOT_FOUND';
    for (const [f, v] of values) row.set(f, v);
    return 'OK';
  }

  async insert(table: string, key: string, values: RecordValues): Promise<Status> {
    const t = this.store.table(table);
    if (t.rows.has(key)) return 'ERROR'; // a duplicate primary key, as a SQL store would answer
    t.rows.set(key, new Map(values));
    t.keys.splice(t.lowerBound(key), 0, key);
    return 'OK';
  }

  async delete(table: string, key: string): Promise<Status> {
    const t = this.store.table(table);
    if (!t.rows.delete(key)) return 'NOT_FOUND';
    t.keys.splice(t.lowerBound(key), 1);
    return 'OK';
  }
}

/** A factory whose DBs share `store`. */
export function memoryBinding(store: MemoryStore = new MemoryStore()): DBFactory {
  return () => new MemoryDB(store);
}

/** The CLI's binding: one store for the whole process. */
export const createDB: DBFactory = memoryBinding();
