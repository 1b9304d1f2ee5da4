import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';

/**
 * A node's local copy of its tablets: one lmdb database per table (`t/<table>`), keyed by
 * storage key (tablets.ts) with the record bytes (record-codec.ts) as value, plus `meta` for
 * where each change topic has been applied to and which writer incarnations were seen. lmdb
 * batches the writes of a tick into one durable commit; the change log is the redo log, so a
 * commit lost in a crash is applied again from the log.
 */
export class LocalStore {
  private readonly tables = new Map<string, Database<Buffer, string>>();
  private readonly meta: Database<unknown, string>;

  private constructor(private readonly root: RootDatabase) {
    this.meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'msgpack' });
  }

  static open(dir: string): LocalStore {
    mkdirSync(dir, { recursive: true });
    return new LocalStore(open({ path: dir, maxDbs: 4096, compression: false }));
  }

  private table(name: string): Database<Buffer, string> {
    let db = this.tables.get(name);
    if (!db) {
      db = this.root.openDB<Buffer, string>({ name: `t/${name}`, encoding: 'binary' });
      this.tables.set(name, db);
    }
    return db;
  }

  get(table: string, skey: string): Buffer | undefined {
    return this.table(table).get(skey);
  }

  put(table: string, skey: string, value: Buffer): Promise<boolean> {
    return this.table(table).put(skey, value);
  }

  /** Records with storage keys in [start, end) (end '' : to the last), in key order. */
  *range(table: string, start: string, end: string, limit: number): Generator<{ key: string; value: Buffer }> {
    const opts = end ? { start, end, limit } : { start, limit };
    for (const { key, value } of this.table(table).getRange(opts)) yield { key, value };
  }

  /** How many records have storage keys in [start, end) (end '': to the last). */
  count(table: string, start: string, end: string): number {
    return this.table(table).getCount(end ? { start, end } : { start });
  }

  /** How many records the table holds here (lmdb keeps the count: no walk). */
  entryCount(table: string): number {
    return (this.table(table).getStats() as { entryCount: number }).entryCount;
  }

  /**
   * Whether [start, end) holds more than `limit` records, counted `chunk` keys at a time with
   * a turn of the event loop between chunks, so a big tablet does not stall requests
   * (a plain count walks every key: ~85 ms for 100,000). Approximate under concurrent writes.
   */
  async holdsMoreThan(table: string, start: string, end: string, limit: number, chunk = 2000): Promise<boolean> {
    const db = this.table(table);
    let seen = 0;
    let from = start;
    let skipFirst = 0;
    for (;;) {
      let n = 0;
      let last: string | undefined;
      for (const key of db.getKeys(end ? { start: from, end, offset: skipFirst, limit: chunk } : { start: from, offset: skipFirst, limit: chunk })) {
        n++;
        last = key;
      }
      seen += n;
      if (seen > limit) return true;
      if (n < chunk || last === undefined) return false;
      from = last;
      skipFirst = 1;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The storage key `index` places after `start` (for a split point). */
  keyAt(table: string, start: string, end: string, index: number): string | undefined {
    for (const key of this.table(table).getKeys(end ? { start, end, offset: index, limit: 1 } : { start, offset: index, limit: 1 })) return key;
    return undefined;
  }

  /** Remove the records with storage keys in [start, end) (a tablet that moved away). */
  async removeRange(table: string, start: string, end: string): Promise<number> {
    const db = this.table(table);
    const removals = [...db.getKeys(end ? { start, end } : { start })].map((key) => db.remove(key));
    await Promise.all(removals);
    return removals.length;
  }

  getMeta<T>(key: string): T | undefined {
    return this.meta.get(key) as T | undefined;
  }

  putMeta(key: string, value: unknown): Promise<boolean> {
    return this.meta.put(key, value);
  }

  /** Resolves once everything put so far is durable. */
  flushed(): Promise<boolean> {
    return this.root.flushed;
  }

  async dropTable(name: string): Promise<void> {
    const db = this.table(name);
    await db.drop();
    this.tables.delete(name);
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
