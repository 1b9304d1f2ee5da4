import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type RealMemcached, freeze } from '../helpers/memcached.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { ask } from '../helpers/text-session.js';
import { CacheClient, CacheError } from '../../src/router/client.js';

/** CacheClient: the router's routing embedded in the application process. */
let nodes: RealMemcached[] = [];
let router: TestRouter;
let client: CacheClient;
const config = () => ({ pools: { main: { servers: nodes.map((n) => `127.0.0.1:${n.port}`) } }, route: 'main' });


before(async () => {
  nodes = [await startMemcached(), await startMemcached(), await startMemcached()];
  router = await startRouter(config());
  client = CacheClient.create(JSON.stringify(config()));
});

after(async () => {
  await client?.close();
  await router?.close();
  await Promise.all(nodes.map((n) => n.stop()));
});

test('the embedded client and strata router place every key on the same server', async () => {
  for (let i = 0; i < 100; i++) assert.equal(await client.set(`emb:${i}`, `c${i}`), true);
  for (let i = 0; i < 100; i++) assert.equal(await ask(router.port, `get emb:${i}\r\n`), `VALUE emb:${i} 0 ${String(i).length + 1}\r\nc${i}\r\nEND\r\n`);
});

test('storage, retrieval, arithmetic and CAS calls answer as memcached does', async () => {
  assert.equal(await client.set('c:a', 'hello', { flags: 7, ttl: 100 }), true);
  const item = await client.get('c:a', { cas: true });
  assert.equal(item?.value.toString(), 'hello');
  assert.equal(item?.flags, 7);
  assert.equal(typeof item?.cas, 'bigint');
  assert.equal(await client.add('c:a', 'x'), false);
  assert.equal(await client.cas('c:a', 'new', item!.cas!), 'stored');
  assert.equal(await client.cas('c:a', 'stale', item!.cas!), 'exists');
  assert.equal(await client.replace('c:none', 'x'), false);
  assert.equal(await client.set('c:n', '41'), true);
  assert.equal(await client.incr('c:n'), 42n);
  assert.equal(await client.decr('c:n', 100), 0n);
  assert.equal(await client.incr('c:missing'), null);
  assert.equal(await client.touch('c:a', 10), true);
  const many = await client.getMulti(['c:a', 'c:none', 'c:n']);
  assert.deepEqual([...many.keys()], ['c:a', 'c:n']);
  assert.equal(await client.delete('c:a'), true);
  assert.equal(await client.delete('c:a'), false);
  assert.equal(await client.get('c:a'), null);
  await assert.rejects(client.set('bad key', 'x'), CacheError);
});

test('meta commands return their flags and value (the building blocks of leases)', async () => {
  const first = await client.meta('mg', 'c:lease', ['v', 'c', 'N30']);
  assert.equal(first.code, 'VA');
  assert.equal(first.flags.has('W'), true);
  const second = await client.meta('mg', 'c:lease', ['v', 'c', 'N30']);
  assert.equal(second.flags.has('Z'), true);
  const fill = await client.meta('ms', 'c:lease', ['T60', `C${first.flags.get('c')}`], 'filled');
  assert.equal(fill.code, 'HD');
  const hit = await client.meta('mg', 'c:lease', ['v']);
  assert.equal(hit.value?.toString(), 'filled');
});

test('an AbortSignal ends the wait for a reply', async () => {
  const silent = nodes[0];
  await freeze(silent.child);
  const stopped = CacheClient.create({ servers: [`127.0.0.1:${silent.port}`] });
  try {
    await assert.rejects(stopped.get('x', { signal: AbortSignal.timeout(50) }), { name: 'TimeoutError' });
  } finally {
    silent.child.kill('SIGCONT');
    await stopped.close();
  }
});
