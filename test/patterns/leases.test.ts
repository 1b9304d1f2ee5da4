import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CacheClient, CacheError } from '../../src/router/client.js';
import { leasedGetOutcome, invalidate, type LeaseOutcome } from '../../src/patterns/leases.js';
import { ManualScheduler, type Scheduler } from '../../src/patterns/scheduler.js';
import { VALUE_FLAG } from '../../src/patterns/codec.js';
import { freePort } from '../helpers/ports.js';
import { cacheServers, deferred, uniqueKey, SERVER_NAMES } from './support/util.js';

const { servers, client } = cacheServers();
const serverNamed = (name: string) => servers.find((s) => s.name === name)!;
/** For reads that must not wait: a wait fails the test instead of sleeping. */
const noWaits: Scheduler = { sleep: () => Promise.reject(new Error('unexpected wait')) };

for (const name of SERVER_NAMES) {
  test(`${name}: 1,000 concurrent misses over 20 clients make exactly one loader call, and all get the value`, { timeout: 30_000 }, async () => {
    const clients = Array.from({ length: 20 }, () => client(serverNamed(name)));
    const scheduler = new ManualScheduler();
    const key = uniqueKey('herd');
    const row = deferred<{ id: number; name: string }>();
    const secondLoad = deferred<never>();
    let loads = 0;
    const loader = () => {
      if (++loads > 1) secondLoad.reject(new Error(`loader called ${loads} times`));
      return row.promise;
    };
    const reads = Array.from({ length: 1000 }, (_, i) =>
      leasedGetOutcome(clients[i % clients.length], key, loader, { ttl: 60, scheduler, waitMs: 50, maxWaits: 5 }));

    // One caller won the lease and is loading; the other 999 were told Z and are waiting.
    await Promise.race([scheduler.whenSleeping(999), secondLoad.promise]);
    assert.equal(loads, 1);
    row.resolve({ id: 7, name: 'ada' });
    const holder = await Promise.race(reads); // only the holder can finish before time moves
    assert.deepEqual(holder, { value: { id: 7, name: 'ada' }, source: 'filled', waits: 0 });
    scheduler.advance(50);
    const outcomes = await Promise.all(reads);

    assert.equal(loads, 1);
    assert.ok(outcomes.every((o) => o.value.id === 7 && o.value.name === 'ada'));
    const bySource = count(outcomes);
    assert.deepEqual(bySource, { filled: 1, hit: 999 });
    assert.ok(outcomes.filter((o) => o.source === 'hit').every((o) => o.waits === 1));
  });

  test(`${name}: md I on a missing key answers NF and creates nothing; invalidate says false and reads still fill`, async () => {
    const c = client(serverNamed(name));
    const key = uniqueKey('absent');
    const raw = await c.meta('md', key, ['I', 'T10']);
    assert.equal(raw.code, 'NF');
    assert.equal((await c.meta('mg', key, ['v'])).code, 'EN');
    assert.equal(await invalidate(c, key), false);
    const first = await leasedGetOutcome(c, key, async () => 'row', { ttl: 60, scheduler: noWaits });
    assert.deepEqual(first, { value: 'row', source: 'filled', waits: 0 });
    const second = await leasedGetOutcome(c, key, async () => assert.fail('loader called on a hit'), { ttl: 60, scheduler: noWaits });
    assert.deepEqual(second, { value: 'row', source: 'hit', waits: 0 });
  });

  for (const voider of ['invalidate', 'delete'] as const) {
    test(`${name}: ${voider === 'delete' ? 'a' : 'an'} ${voider} between lease grant and fill voids the lease: the fill is refused and the old value never cached`, async () => {
      const c = client(serverNamed(name));
      const key = uniqueKey(`void-${voider}`);
      const oldRow = deferred<string>();
      const loaderCalled = deferred<void>();
      const read = leasedGetOutcome(c, key, () => (loaderCalled.resolve(), oldRow.promise), { ttl: 60, scheduler: noWaits });
      await loaderCalled.promise; // the lease is granted; the reader is reading the old row
      if (voider === 'invalidate') assert.equal(await invalidate(c, key), true); // the writer commits, then invalidates
      else assert.equal(await c.delete(key), true);
      oldRow.resolve('old');

      assert.deepEqual(await read, { value: 'old', source: 'refused', waits: 0 });
      // Look with a classic get: a plain mg of a stale item would take the next lease (W) itself.
      const after = await c.get(key);
      if (voider === 'delete') assert.equal(after, null);
      else assert.deepEqual([after?.value.length, after?.flags], [0, 0]); // the stale, empty lease placeholder
      assert.notEqual(after?.flags, VALUE_FLAG);
      // The next reader gets a new lease, loads the new row and fills it.
      const next = await leasedGetOutcome(c, key, async () => 'new', { ttl: 60, scheduler: noWaits });
      assert.deepEqual(next, { value: 'new', source: 'filled', waits: 0 });
      assert.equal((await c.meta('mg', key, ['v'])).value?.toString(), JSON.stringify('new'));
    });
  }

  test(`${name}: after invalidate, one caller refills; stale 'serve' callers get the old value meanwhile, 'wait' callers the new one`, async () => {
    const c = client(serverNamed(name));
    const scheduler = new ManualScheduler();
    const key = uniqueKey('stale');
    await leasedGetOutcome(c, key, async () => 'v1', { ttl: 60, scheduler: noWaits });
    assert.equal(await invalidate(c, key), true);

    const v2 = deferred<string>();
    const refilling = deferred<void>();
    const refill = leasedGetOutcome(c, key, () => (refilling.resolve(), v2.promise), { ttl: 60, stale: 'serve', scheduler: noWaits });
    await refilling.promise; // it holds the new lease
    const served = await leasedGetOutcome(c, key, async () => assert.fail('second loader'), { ttl: 60, stale: 'serve', scheduler });
    assert.deepEqual(served, { value: 'v1', source: 'stale', waits: 0 });
    const waiting = leasedGetOutcome(c, key, async () => assert.fail('third loader'), { ttl: 60, stale: 'wait', scheduler });
    await scheduler.whenSleeping(1);
    v2.resolve('v2');
    assert.deepEqual(await refill, { value: 'v2', source: 'filled', waits: 0 });
    scheduler.advance(50);
    assert.deepEqual(await waiting, { value: 'v2', source: 'hit', waits: 1 });
  });

  test(`${name}: a loader that fails hands the lease back: the error reaches the caller and the next caller loads at once`, async () => {
    const c = client(serverNamed(name));
    const key = uniqueKey('failing');
    await assert.rejects(leasedGetOutcome(c, key, async () => assert.fail('db down'), { ttl: 60, scheduler: noWaits }), /db down/);
    assert.deepEqual(await leasedGetOutcome(c, key, async () => 'row', { ttl: 60, scheduler: noWaits }), { value: 'row', source: 'filled', waits: 0 });
  });

  test(`${name}: waiters give up after maxWaits when the lease holder never fills, and load without filling`, async () => {
    const c = client(serverNamed(name));
    const scheduler = new ManualScheduler();
    const key = uniqueKey('abandoned');
    assert.ok((await c.meta('mg', key, ['v', 'N10'])).flags.has('W')); // a holder that will never fill
    const read = leasedGetOutcome(c, key, async () => 'loaded', { ttl: 60, scheduler, waitMs: 20, maxWaits: 3 });
    for (let i = 0; i < 3; i++) {
      await scheduler.whenSleeping(1);
      scheduler.advance(20);
    }
    assert.deepEqual(await read, { value: 'loaded', source: 'unfilled', waits: 3 });
    const still = await c.get(key);
    assert.deepEqual([still?.value.length, still?.flags], [0, 0]); // still the empty lease placeholder
  });
}

test('an unreachable cache: leasedGet loads without filling and reports the error; invalidate throws', async () => {
  const port = await freePort(); // nothing listens there
  const c = CacheClient.create({ servers: [`127.0.0.1:${port}`] });
  try {
    const errors: Error[] = [];
    const out = await leasedGetOutcome(c, 'k', async () => 'db', { ttl: 60, onCacheError: (e) => errors.push(e) });
    assert.deepEqual(out, { value: 'db', source: 'unfilled', waits: 0 });
    assert.equal(errors.length, 1);
    await assert.rejects(invalidate(c, 'k'), CacheError);
  } finally {
    await c.close();
  }
});

test('an aborted signal rejects a waiting leasedGet', async () => {
  const scheduler = new ManualScheduler();
  const fake = { meta: async () => ({ code: 'VA' as const, flags: new Map([['Z', '']]), value: Buffer.alloc(0) }) };
  const ac = new AbortController();
  const read = leasedGetOutcome(fake as never, 'k', async () => 'x', { ttl: 1, scheduler, signal: ac.signal });
  await scheduler.whenSleeping(1);
  ac.abort(new Error('deadline'));
  await assert.rejects(read, /deadline/);
});

function count(outcomes: LeaseOutcome<unknown>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o.source] = (out[o.source] ?? 0) + 1;
  return out;
}
