import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { CacheClient } from '../../src/router/client.js';
import { cacheAsideOutcome, invalidateAfterSave } from '../../src/patterns/cache-aside.js';
import { TOMBSTONE_FLAG, VALUE_FLAG, stringCodec } from '../../src/patterns/codec.js';
import { freePort } from '../helpers/ports.js';
import { cacheServers, deferred, uniqueKey, SERVER_NAMES } from './support/util.js';

// Strata's cache runs on this clock, so the tombstone window can be crossed without sleeping.
const clock = new ManualClock();
const { servers, client } = cacheServers(clock);
const on = (name: string) => client(servers.find((s) => s.name === name)!);

for (const name of SERVER_NAMES) {
  test(`${name}: a miss loads and fills with add; the next read is a hit`, async () => {
    const c = on(name);
    const key = uniqueKey('aside');
    assert.deepEqual(await cacheAsideOutcome(c, key, async () => ({ n: 1 }), { ttl: 60 }), { value: { n: 1 }, source: 'filled' });
    assert.deepEqual(await cacheAsideOutcome(c, key, async () => assert.fail('loader on a hit'), { ttl: 60 }), { value: { n: 1 }, source: 'hit' });
    assert.equal((await c.get(key))?.flags, VALUE_FLAG);
  });

  test(`${name}: after invalidateAfterSave readers go to the database and do not fill`, async () => {
    const c = on(name);
    const key = uniqueKey('aside');
    await cacheAsideOutcome(c, key, async () => 'old', { ttl: 60, codec: stringCodec });
    await invalidateAfterSave(c, key);
    const tomb = await c.get(key);
    assert.deepEqual([tomb?.flags, tomb?.value.length], [TOMBSTONE_FLAG, 0]);
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(await cacheAsideOutcome(c, key, async () => 'new', { ttl: 60, codec: stringCodec }), { value: 'new', source: 'tombstone' });
    }
    assert.equal((await c.get(key))?.flags, TOMBSTONE_FLAG);
  });

  test(`${name}: a reader that loaded before the write cannot fill over the tombstone (add refused)`, async () => {
    const c = on(name);
    const key = uniqueKey('aside');
    const row = deferred<string>();
    const loading = deferred<void>();
    const read = cacheAsideOutcome(c, key, () => (loading.resolve(), row.promise), { ttl: 60, codec: stringCodec });
    await loading.promise; // missed, reading the old row
    await invalidateAfterSave(c, key); // the writer committed 'new'
    row.resolve('old');
    assert.deepEqual(await read, { value: 'old', source: 'not-filled' });
    assert.equal((await c.get(key))?.flags, TOMBSTONE_FLAG);
  });
}

/** The documented bound, shown on Strata's cache with a hand-driven clock. */
test('strata: within the tombstone TTL a late fill is refused; after it, a reader slower than the TTL can fill an old value', async () => {
  const c = on('strata');
  for (const [lateByMs, expect] of [[4_000, 'not-filled'], [6_000, 'filled']] as const) {
    const key = uniqueKey('window');
    const row = deferred<string>();
    const loading = deferred<void>();
    const read = cacheAsideOutcome(c, key, () => (loading.resolve(), row.promise), { ttl: 60, codec: stringCodec });
    await loading.promise;
    await invalidateAfterSave(c, key, { tombstoneTtl: 5 }); // the database now holds 'new'
    clock.advance(lateByMs);
    row.resolve('old');
    assert.deepEqual(await read, { value: 'old', source: expect });
    const item = await c.get(key);
    if (expect === 'filled') assert.equal(item?.value.toString(), 'old'); // stale until its TTL or the next write
    else assert.equal(item?.flags, TOMBSTONE_FLAG);
  }
});

test('strata: once the tombstone expires, readers fill again', async () => {
  const c = on('strata');
  const key = uniqueKey('window');
  await invalidateAfterSave(c, key, { tombstoneTtl: 5 });
  clock.advance(5_000);
  assert.deepEqual(await cacheAsideOutcome(c, key, async () => 'new', { ttl: 60, codec: stringCodec }), { value: 'new', source: 'filled' });
});

test('an unreachable cache: cacheAside loads and reports the error; invalidateAfterSave throws', async () => {
  const c = CacheClient.create({ servers: [`127.0.0.1:${await freePort()}`] });
  try {
    const errors: Error[] = [];
    const out = await cacheAsideOutcome(c, 'k', async () => 'db', { ttl: 60, onCacheError: (e) => errors.push(e) });
    assert.deepEqual(out, { value: 'db', source: 'unfilled' });
    assert.equal(errors.length, 1);
    await assert.rejects(invalidateAfterSave(c, 'k'));
  } finally {
    await c.close();
  }
});

test('keys and TTLs memcached would misread are refused before anything is sent', async () => {
  const never = new Proxy({}, { get: () => () => assert.fail('the cache was called') }) as never;
  await assert.rejects(cacheAsideOutcome(never, 'has space', async () => 1, { ttl: 60 }), /invalid key/);
  await assert.rejects(cacheAsideOutcome(never, 'k'.repeat(251), async () => 1, { ttl: 60 }), /invalid key/);
  await assert.rejects(cacheAsideOutcome(never, 'k', async () => 1, { ttl: 31 * 24 * 3600 }), /30 days/);
  await assert.rejects(invalidateAfterSave(never, 'k', { tombstoneTtl: 0 }), /at least 1 second/);
});
