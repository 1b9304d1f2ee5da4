import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { memcachedAndStrata } from '../helpers/peers.js';
import { TextSession } from '../helpers/text-session.js';

/**
 * The npm clients users already have, unchanged, against Strata — and the same script against
 * Debian's memcached, so a difference points at Strata and not at the client.
 */
const require = createRequire(import.meta.url);
const memjs = require('memjs');
const Memcached = require('memcached');
const { MemcacheClient } = require('memcache-client');

/** The TTL the server holds for a key, read with the meta protocol (`t` flag). */
async function ttlOf(port: number, key: string): Promise<string> {
  const s = await TextSession.open(port);
  try {
    return (await s.send(`mg ${key} t\r\n`)).reply.toString().trim();
  } finally {
    s.close();
  }
}

async function memjsScript(port: number): Promise<unknown[]> {
  const client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, logger: { log() {} } });
  const seen: unknown[] = [];
  try {
    seen.push(await client.set('mj:a', 'hello', { expires: 0 }));
    seen.push((await client.get('mj:a')).value?.toString());
    seen.push((await client.get('mj:missing')).value);
    seen.push(await client.set('mj:ttl', 'x', { expires: 300 }));
    seen.push(await ttlOf(port, 'mj:ttl'));
    seen.push(await client.add('mj:a', 'again', {}));
    seen.push(await client.replace('mj:a', 'world', {}));
    seen.push((await client.get('mj:a')).value?.toString());
    seen.push(await client.increment('mj:n', 5, { initial: 10 }));
    seen.push(await client.increment('mj:n', 5, {}));
    seen.push(await client.decrement('mj:n', 100, {}));
    seen.push(await client.append('mj:a', '!'));
    seen.push((await client.get('mj:a')).value?.toString());
    seen.push(await client.delete('mj:a'));
    seen.push(await client.delete('mj:a'));
    seen.push((await client.get('mj:a')).value);
    const big = Buffer.alloc(500_000, 7);
    seen.push(await client.set('mj:big', big, {}));
    seen.push((await client.get('mj:big')).value?.equals(big));
  } finally {
    client.close();
  }
  return seen;
}

function cb<T>(fn: (done: (err: unknown, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

async function memcachedScript(port: number): Promise<unknown[]> {
  const client = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 2000, poolSize: 2 });
  const seen: unknown[] = [];
  try {
    seen.push(await cb((d) => client.set('mc:a', 'hello', 0, d)));
    seen.push(await cb((d) => client.get('mc:a', d)));
    seen.push(await cb((d) => client.get('mc:missing', d)));
    seen.push(await cb((d) => client.set('mc:ttl', 'x', 300, d)));
    seen.push(await ttlOf(port, 'mc:ttl'));
    seen.push(await cb((d) => client.set('mc:b', 'B', 0, d)));
    seen.push(await cb((d) => client.getMulti(['mc:a', 'mc:b', 'mc:missing'], d)));
    const gets = await cb<{ cas: string }>((d) => client.gets('mc:a', d));
    seen.push(typeof gets.cas);
    seen.push(await cb((d) => client.cas('mc:a', 'changed', gets.cas, 0, d)));
    seen.push(await cb((d) => client.cas('mc:a', 'stale', gets.cas, 0, d)));
    seen.push(await cb((d) => client.get('mc:a', d)));
    seen.push(await cb((d) => client.set('mc:n', 10, 0, d)));
    seen.push(await cb((d) => client.incr('mc:n', 5, d)));
    seen.push(await cb((d) => client.decr('mc:n', 100, d)));
    seen.push(await cb((d) => client.incr('mc:nope', 1, d)));
    seen.push(await cb((d) => client.del('mc:a', d)));
    seen.push(await cb((d) => client.get('mc:a', d)));
    seen.push(await cb((d) => client.set('mc:json', { a: 1, b: [2] }, 0, d)));
    seen.push(await cb((d) => client.get('mc:json', d)));
  } finally {
    client.end();
  }
  return seen;
}

async function memcacheClientScript(port: number): Promise<unknown[]> {
  const client = new MemcacheClient({ server: `127.0.0.1:${port}`, cmdTimeout: 2000 });
  const seen: unknown[] = [];
  try {
    seen.push(await client.set('ec:a', 'hello'));
    seen.push((await client.get('ec:a'))?.value);
    seen.push(await client.get('ec:missing'));
    seen.push(await client.set('ec:ttl', 'x', { lifetime: 300 }));
    seen.push(await ttlOf(port, 'ec:ttl'));
    seen.push(await client.set('ec:b', 'B'));
    const multi = await client.get(['ec:a', 'ec:b', 'ec:missing']);
    seen.push(Object.fromEntries(Object.entries(multi as Record<string, { value: string }>).map(([k, v]) => [k, v?.value])));
    const gets = await client.gets('ec:a');
    seen.push(await client.cas('ec:a', 'changed', { casUniq: gets!.casUniq }));
    seen.push(await client.cas('ec:a', 'stale', { casUniq: gets!.casUniq }).catch((e: Error) => e.message));
    seen.push((await client.get('ec:a'))?.value);
    seen.push(await client.set('ec:n', '10'));
    seen.push(await client.incr('ec:n', 5));
    seen.push(await client.decr('ec:n', 100));
    seen.push(await client.delete('ec:a'));
    seen.push(await client.get('ec:a'));
    seen.push(await client.set('ec:obj', { nested: true } as never));
    seen.push((await client.get('ec:obj'))?.value);
  } finally {
    client.shutdown();
  }
  return seen;
}

const peers = memcachedAndStrata();

test('memjs (binary protocol) sees the same results from Strata as from memcached', async () => {
  const expected = await memjsScript(peers.memcached.port);
  const actual = await memjsScript(peers.strata.port);
  assert.deepEqual(actual, expected);
  assert.equal(actual[1], 'hello');
  assert.equal(actual[4], 'HD t300');
});

test('memcached (3rd-Eden, text protocol) sees the same results from Strata as from memcached', async () => {
  const expected = await memcachedScript(peers.memcached.port);
  const actual = await memcachedScript(peers.strata.port);
  assert.deepEqual(actual, expected);
  assert.equal(actual[1], 'hello');
  assert.equal(actual[4], 'HD t300');
  assert.deepEqual(actual[6], { 'mc:a': 'hello', 'mc:b': 'B' });
});

test('memcache-client (text protocol) sees the same results from Strata as from memcached', async () => {
  const expected = await memcacheClientScript(peers.memcached.port);
  const actual = await memcacheClientScript(peers.strata.port);
  assert.deepEqual(actual, expected);
  assert.equal(actual[1], 'hello');
  assert.equal(actual[4], 'HD t300');
});
