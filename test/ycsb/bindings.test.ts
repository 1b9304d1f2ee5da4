/**
 * The PostgreSQL and Redis bindings against real servers started by bench/lib/sql-peers.ts: load
 * and run workloads a and e, then read back what was written, scan, and delete. Skipped only when
 * the server binaries are missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord } from '../../bench/ycsb/db.js';
import { createDB as createPostgresDB } from '../../bench/ycsb/bindings/postgres.js';
import { INDEX_KEY, createDB as createRedisDB } from '../../bench/ycsb/bindings/redis.js';
import { javaStringHashCode } from '../../bench/ycsb/generators.js';
import type { PhaseSummary } from '../../bench/ycsb/measurements.js';
import { presetProperties } from '../../bench/ycsb/presets.js';
import { seededRandom } from '../../bench/ycsb/random.js';
import { runPhase } from '../../bench/ycsb/runner.js';
import { CoreWorkload } from '../../bench/ycsb/workload.js';
import { haveRedisServer, postgresBinDir, startPostgres, startRedis, type SqlPeer } from '../../bench/lib/sql-peers.js';

const RECORDS = 300;
const OPERATIONS = 400;
const PRINTABLE = /^[\x20-\x7e]{100}$/;

/** Every value written per key and field, so reads can be checked whatever order concurrent updates landed in. */
type Written = Map<string, Map<string, Set<string>>>;

function remember(written: Written, key: string, values: RecordValues): void {
  let fields = written.get(key);
  if (!fields) written.set(key, (fields = new Map()));
  for (const [f, v] of values) {
    if (!fields.has(f)) fields.set(f, new Set());
    fields.get(f)!.add(v);
  }
}

/** The binding, remembering what each successful insert and update wrote. */
function recording(factory: DBFactory, written: Written): DBFactory {
  return (props) => {
    const db = factory(props);
    return {
      init: () => db.init(),
      cleanup: () => db.cleanup(),
      read: (t: string, k: string, f: Set<string> | null, r: RecordValues) => db.read(t, k, f, r),
      scan: (t: string, k: string, n: number, f: Set<string> | null, r: ScanRecord[]) => db.scan(t, k, n, f, r),
      delete: (t: string, k: string) => db.delete(t, k),
      async insert(t: string, k: string, v: RecordValues) {
        const s = await db.insert(t, k, v);
        if (s === 'OK') remember(written, k, v);
        return s;
      },
      async update(t: string, k: string, v: RecordValues) {
        const s = await db.update(t, k, v);
        if (s === 'OK') remember(written, k, v);
        return s;
      },
    };
  };
}

function workloadProps(name: string, extra: Properties): Properties {
  const props = presetProperties(name);
  for (const [k, v] of Object.entries({ recordcount: String(RECORDS), operationcount: String(OPERATIONS), threadcount: '4', status: 'false' })) props.set(k, v);
  for (const [k, v] of extra) props.set(k, v);
  return props;
}

async function phase(kind: 'load' | 'run', props: Properties, createDB: DBFactory, seed: number): Promise<PhaseSummary> {
  const r = await runPhase({ phase: kind, props, workload: new CoreWorkload(props, seededRandom(seed)), createDB });
  return r.measurements.summary(r.runtimeMs, r.operations);
}

function ok(s: PhaseSummary, op: string): number {
  return s.measurements[op]?.returns.OK ?? 0;
}

function assertNoErrors(s: PhaseSummary): void {
  for (const [op, m] of Object.entries(s.measurements)) assert.equal(m.errors, 0, `${op}: ${JSON.stringify(m.returns)}`);
}

/** Open one DB of the binding for direct checks; closed by the caller. */
async function openDB(factory: DBFactory, props: Properties): Promise<DB> {
  const db = factory(props);
  await db.init();
  return db;
}

interface ServerView {
  /** Records held by the server. */
  count(): Promise<number>;
  /** Remove every record. */
  clear(): Promise<void>;
  /** The keys a scan from startKey should return, in order, given all keys stored. */
  expectedScan(keys: string[], startKey: string, n: number): string[];
  /** True if nothing of the key is left (row, or hash and index entry). */
  gone(key: string): Promise<boolean>;
}

function checkBinding(name: string, factory: DBFactory, props: () => Properties, view: () => ServerView): void {
  test(`${name}: workload a loads ${RECORDS} records, runs ${OPERATIONS} operations, reads return what was written`, async () => {
    const p = workloadProps('a', props());
    const written: Written = new Map();
    const createDB = recording(factory, written);
    const load = await phase('load', p, createDB, 1);
    assert.equal(ok(load, 'INSERT'), RECORDS);
    assertNoErrors(load);
    assert.equal(await view().count(), RECORDS);
    assert.equal(written.size, RECORDS);

    const db = await openDB(factory, p);
    try {
      for (const [key, fields] of written) {
        const got: RecordValues = new Map();
        assert.equal(await db.read('usertable', key, null, got), 'OK');
        assert.deepEqual([...got.keys()].sort(), [...fields.keys()].sort());
        for (const [f, v] of got) assert.equal(v, [...fields.get(f)!][0], `${key}.${f}`);
      }
      const some = [...written.keys()][7];
      const one: RecordValues = new Map();
      assert.equal(await db.read('usertable', some, new Set(['field3']), one), 'OK');
      assert.deepEqual([...one.keys()], ['field3']);
      assert.equal(await db.read('usertable', 'user-no-such-key', null, new Map()), 'NOT_FOUND');

      const keys = [...written.keys()];
      for (const start of [keys[0], keys[100], 'user', 'user5']) {
        const scanned: ScanRecord[] = [];
        assert.equal(await db.scan('usertable', start, 20, null, scanned), 'OK');
        assert.deepEqual(scanned.map((r) => r.key), view().expectedScan(keys, start, 20), `scan from ${start}`);
        for (const r of scanned) for (const [f, v] of r.values) assert.equal(v, [...written.get(r.key)!.get(f)!][0]);
      }
    } finally {
      await db.cleanup();
    }

    const run = await phase('run', p, createDB, 2);
    assert.equal(ok(run, 'READ') + ok(run, 'UPDATE'), OPERATIONS);
    assert.ok(ok(run, 'READ') > 0 && ok(run, 'UPDATE') > 0);
    assertNoErrors(run);
    assert.equal(await view().count(), RECORDS);
    const after = await openDB(factory, p);
    try {
      for (const [key, fields] of written) {
        const got: RecordValues = new Map();
        assert.equal(await after.read('usertable', key, null, got), 'OK');
        assert.equal(got.size, 10);
        for (const [f, v] of got) {
          assert.match(v, PRINTABLE);
          assert.ok(fields.get(f)!.has(v), `${key}.${f} holds a value that was never written`);
        }
      }
    } finally {
      await after.cleanup();
    }
  });

  test(`${name}: workload e scans and inserts`, async () => {
    await view().clear();
    const p = workloadProps('e', props());
    const written: Written = new Map();
    const createDB = recording(factory, written);
    assertNoErrors(await phase('load', p, createDB, 3));
    const run = await phase('run', p, createDB, 4);
    const inserts = ok(run, 'INSERT');
    assert.equal(ok(run, 'SCAN') + inserts, OPERATIONS);
    assert.ok(ok(run, 'SCAN') > 0 && inserts > 0);
    assertNoErrors(run);
    assert.equal(await view().count(), RECORDS + inserts);
    assert.equal(written.size, RECORDS + inserts);
  });

  test(`${name}: delete removes the record`, async () => {
    const p = workloadProps('a', props());
    const db = await openDB(factory, p);
    try {
      const values = new Map(Array.from({ length: 10 }, (_, i) => [`field${i}`, `value ${i}`]));
      const before = await view().count();
      assert.equal(await db.insert('usertable', 'user-delete-me', values), 'OK');
      assert.equal(await view().count(), before + 1);
      assert.equal(await db.delete('usertable', 'user-delete-me'), 'OK');
      assert.equal(await view().count(), before);
      assert.ok(await view().gone('user-delete-me'));
      assert.equal(await db.read('usertable', 'user-delete-me', null, new Map()), 'NOT_FOUND');
      assert.notEqual(await db.delete('usertable', 'user-delete-me'), 'OK');
    } finally {
      await db.cleanup();
    }
  });
}

const postgresBin = postgresBinDir();
describe('postgres binding', { skip: postgresBin ? false : 'PostgreSQL server binaries not found (apt-get install postgresql)' }, () => {
  let server: SqlPeer | undefined;
  let client: pg.Client;
  before(async () => {
    server = await startPostgres();
    client = new pg.Client({ connectionString: server.url });
    await client.connect();
  });
  after(async () => {
    await client?.end().catch(() => {});
    await server?.stop();
  });
  const view: ServerView = {
    count: async () => {
      const exists = await client.query("SELECT to_regclass('usertable') AS t");
      if (exists.rows[0].t === null) return 0;
      return Number((await client.query('SELECT count(*) AS n FROM usertable')).rows[0].n);
    },
    clear: async () => {
      await client.query('DROP TABLE IF EXISTS usertable');
    },
    // The server's C collation orders by bytes, as JavaScript compares ASCII strings.
    expectedScan: (keys, start, n) => keys.filter((k) => k >= start).sort().slice(0, n),
    gone: async (key) => (await client.query('SELECT 1 FROM usertable WHERE ycsb_key = $1', [key])).rowCount === 0,
  };
  checkBinding('postgres', createPostgresDB, () => new Map([['postgres.url', server!.url]]), () => view);

  test('postgres: the table has YCSB_KEY and one TEXT column per field', async () => {
    const cols = await client.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'usertable' ORDER BY ordinal_position");
    assert.deepEqual(
      cols.rows.map((r) => `${r.column_name} ${r.data_type}`),
      ['ycsb_key character varying', ...Array.from({ length: 10 }, (_, i) => `field${i} text`)],
    );
    const settings = await client.query("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name");
    assert.deepEqual(settings.rows.map((r) => `${r.name}=${r.setting}`), ['fsync=on', 'full_page_writes=on', 'synchronous_commit=on']);
  });
});

describe('redis binding', { skip: haveRedisServer() ? false : 'redis-server not found (apt-get install redis-server)' }, () => {
  let server: SqlPeer | undefined;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true });
    await redis.connect();
  });
  after(async () => {
    await redis?.quit().catch(() => {});
    await server?.stop();
  });
  const view: ServerView = {
    count: async () => {
      const indexed = await redis.zcard(INDEX_KEY);
      const hashes = (await redis.dbsize()) - (indexed > 0 ? 1 : 0);
      assert.equal(hashes, indexed, 'one hash per indexed key');
      return indexed;
    },
    clear: async () => {
      await redis.flushall();
    },
    // Scans walk _indices by score (Java's String.hashCode of the key), ties in member order.
    expectedScan: (keys, start, n) =>
      keys
        .filter((k) => javaStringHashCode(k) >= javaStringHashCode(start))
        .sort((a, b) => javaStringHashCode(a) - javaStringHashCode(b) || (a < b ? -1 : a > b ? 1 : 0))
        .slice(0, n),
    gone: async (key) => (await redis.exists(key)) === 0 && (await redis.zscore(INDEX_KEY, key)) === null,
  };
  checkBinding('redis', createRedisDB, () => new Map([['redis.port', String(server!.port)]]), () => view);

  test('redis: server runs with the append-only file, fsync every second, no snapshots', async () => {
    const config = (await redis.config('GET', '*')) as string[];
    const get = (name: string) => config[config.indexOf(name) + 1];
    assert.equal(get('appendonly'), 'yes');
    assert.equal(get('appendfsync'), 'everysec');
    assert.equal(get('save'), '');
  });
});
