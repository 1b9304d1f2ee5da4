import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOneRegion } from './helper.js';
import { VersionConflictError } from '../../src/records/client.js';

test('write, read at every consistency level, test-and-set, delete and a new generation', async (t) => {
  const r = await startOneRegion();
  t.after(() => r.stop());
  const c = r.client;
  await c.createTable({ name: 'users', fields: { age: 'integer' } });

  const none = await c.readAny('users', 'alice');
  assert.equal(none.exists, false);
  assert.equal(none.version, null);

  const w1 = await c.write('users', 'alice', { name: 'Alice', age: 30 });
  assert.equal(w1.version, '1.1');
  assert.equal(w1.master, 'local');
  const w2 = await c.write('users', 'alice', { age: 31 });
  assert.equal(w2.version, '1.2');

  for (const read of [c.readAny('users', 'alice'), c.readLatest('users', 'alice'), c.readCritical('users', 'alice', '1.2')]) {
    const got = await read;
    assert.deepEqual(got.value, { name: 'Alice', age: 31 });
    assert.equal(got.version, '1.2');
  }
  await assert.rejects(c.readCritical('users', 'alice', '1.3'), /not committed/);

  await assert.rejects(c.testAndSetWrite('users', 'alice', '1.1', { age: 40 }), (err: unknown) => err instanceof VersionConflictError && err.current === '1.2');
  assert.equal((await c.testAndSetWrite('users', 'alice', '1.2', { age: 40 })).version, '1.3');
  await assert.rejects(c.write('users', 'alice', { age: 'forty' }), /age must be an integer/);

  assert.equal((await c.delete('users', 'alice'))?.version, '1.4');
  const gone = await c.readLatest('users', 'alice');
  assert.equal(gone.exists, false);
  assert.equal(gone.version, '1.4');
  assert.equal(await c.delete('users', 'alice'), null);
  assert.equal((await c.write('users', 'alice', { name: 'Alice again' })).version, '2.1');
  assert.deepEqual((await c.readAny('users', 'alice')).value, { name: 'Alice again' });
});

test('records survive a restart and scans page through an ordered table in key order', async (t) => {
  let r = await startOneRegion();
  const dir = r.dir;
  t.after(() => r.stop());
  await r.client.createTable({ name: 'events', kind: 'ordered' });
  await r.client.createTable({ name: 'hashed' });
  const keys = Array.from({ length: 250 }, (_, i) => `k${String(i).padStart(4, '0')}`);
  await Promise.all(keys.map((k, i) => r.client.write('events', k, { i })));
  await Promise.all(keys.map((k, i) => r.client.write('hashed', k, { i })));
  await r.stopServices();
  r = await startOneRegion({ dir });

  const seen: string[] = [];
  let continuation: string | null = null;
  do {
    const page: { records: Array<{ key: string }>; continuation: string | null } = await r.client.scan('events', { start: 'k0010', end: 'k0200', limit: 37, continuation });
    seen.push(...page.records.map((x) => x.key));
    continuation = page.continuation;
  } while (continuation);
  assert.deepEqual(seen, keys.slice(10, 200));

  const all: string[] = [];
  continuation = null;
  do {
    const page: { records: Array<{ key: string }>; continuation: string | null } = await r.client.scan('hashed', { limit: 64, continuation });
    all.push(...page.records.map((x) => x.key));
    continuation = page.continuation;
  } while (continuation);
  assert.deepEqual([...all].sort(), keys);

  const many = await r.client.multiget('events', ['k0001', 'nope', 'k0249']);
  assert.deepEqual(many.map((x) => x.value), [{ i: 1 }, null, { i: 249 }]);
  assert.equal((await r.client.write('events', 'k0001', { j: 1 })).version, '1.2');
});

test('the change feed delivers every committed change with its version, deletes included', async (t) => {
  const r = await startOneRegion();
  t.after(() => r.stop());
  await r.client.createTable({ name: 'feed' });
  await r.client.write('feed', 'a', { n: 1 });
  await r.client.write('feed', 'a', { n: 2 });
  await r.client.write('feed', 'b', { n: 1 });
  await r.client.delete('feed', 'a');
  const abort = new AbortController();
  const seen: string[] = [];
  for await (const ev of r.client.changes('feed', { from: 'earliest', signal: abort.signal })) {
    seen.push(`${ev.key}@${ev.version}${ev.deleted ? ' deleted' : ` ${JSON.stringify(ev.value)}`} (${ev.region})`);
    if (seen.length === 4) abort.abort();
  }
  const forA = seen.filter((s) => s.startsWith('a@'));
  assert.deepEqual(forA, ['a@1.1 {"n":1} (local)', 'a@1.2 {"n":2} (local)', 'a@1.3 deleted (local)']);
  assert.ok(seen.includes('b@1.1 {"n":1} (local)'));
});

test('tablets split when they grow past the threshold and by request; reads and scans see every record', async (t) => {
  const r = await startOneRegion({ over: { splitRecords: 60, splitCheckMs: 100 } });
  t.after(() => r.stop());
  await r.client.createTable({ name: 'h', tablets: 1 });
  await r.client.createTable({ name: 'o', kind: 'ordered' });
  const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
  for (const table of ['h', 'o']) await Promise.all(keys.map((k, i) => r.client.write(table, k, { i })));
  for (let i = 0; ; i++) {
    const { tables } = await r.client.tables();
    if (tables.every((tb) => tb.tablets.length >= 4)) break;
    assert.ok(i < 300, `tablets did not split: ${JSON.stringify(tables.map((tb) => tb.tablets.length))}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  const o = (await r.client.tables()).tables.find((tb) => tb.def.name === 'o')!;
  const byHand = await r.client.splitTablet('o', o.tablets[0].id, 'k0005');
  assert.equal(byHand.tablets[1].low, 'k0005');
  await assert.rejects(r.client.splitTablet('o', o.tablets[0].id, ''), /not inside/);
  for (const table of ['h', 'o']) {
    const got = await r.client.multiget(table, keys);
    assert.deepEqual(got.map((x) => x.value), keys.map((_, i) => ({ i })));
    const seen: string[] = [];
    let continuation: string | null = null;
    do {
      const page: { records: Array<{ key: string }>; continuation: string | null } = await r.client.scan(table, { limit: 47, continuation });
      seen.push(...page.records.map((x) => x.key));
      continuation = page.continuation;
    } while (continuation);
    assert.deepEqual(table === 'o' ? seen : [...seen].sort(), keys);
  }
  assert.equal((await r.client.write('o', 'k150', { i: -1 })).version, '1.2');
});

test('a table with a TTL: records read as absent once expired and are then deleted at their master', async (t) => {
  const r = await startOneRegion({ over: { expirySweepMs: 100 } });
  t.after(() => r.stop());
  await r.client.createTable({ name: 'sessions', ttlSeconds: 1 });
  await r.client.write('sessions', 's1', { user: 'u1' });
  assert.equal((await r.client.readAny('sessions', 's1')).exists, true);
  for (let i = 0; ; i++) {
    const got = await r.client.readLatest('sessions', 's1');
    if (!got.exists && got.version === '1.2') break;
    assert.ok(i < 200, `not expired and deleted: ${JSON.stringify(got)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal((await r.client.write('sessions', 's1', { user: 'u2' })).version, '2.1');
});
