import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from '../../src/patterns/index.js';
import { cacheServers, uniqueKey } from './support/util.js';

const { servers, client } = cacheServers();

test('the strata/cache entry point exports every piece', () => {
  for (const name of [
    'CacheClient', 'StrataCache', 'leasedGet', 'leasedGetOutcome', 'invalidate', 'cacheAside', 'cacheAsideOutcome', 'invalidateAfterSave',
    'ReadYourWrites', 'IdGenerator', 'snowflake', 'instagramIds', 'decodeId', 'encodeId', 'shardOf', 'ManualScheduler', 'realScheduler',
    'jsonCodec', 'stringCodec', 'bufferCodec', 'ClockBackwardsError', 'ManualClock',
  ]) {
    assert.ok(name in api, name);
  }
});

test('StrataCache passes its defaults on: lease TTL to invalidate, tombstone TTL to invalidateAfterSave', async () => {
  const cache = new api.StrataCache(client(servers[0]), { leaseTtl: 3, tombstoneTtl: 2 });
  const leased = uniqueKey('facade');
  assert.equal(await cache.leasedGet(leased, async () => 1, { ttl: 60 }), 1);
  assert.equal(await cache.invalidate(leased), true);
  const ttl = Number((await cache.client.meta('mg', leased, ['t'])).flags.get('t'));
  assert.ok(ttl >= 2 && ttl <= 3, `stale item TTL ${ttl}`);

  const aside = uniqueKey('facade');
  await cache.invalidateAfterSave(aside);
  const tombTtl = Number((await cache.client.meta('mg', aside, ['t'])).flags.get('t'));
  assert.ok(tombTtl >= 1 && tombTtl <= 2, `tombstone TTL ${tombTtl}`);
  assert.deepEqual(await cache.cacheAsideOutcome(aside, async () => 'db', { ttl: 60 }), { value: 'db', source: 'tombstone' });
});
