import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type RealMemcached, freeze } from '../helpers/memcached.js';
import { startRouter, eventually, type TestRouter } from '../helpers/router.js';
import { TextSession, ask } from '../helpers/text-session.js';

/** Each route type, through `strata router` in front of real memcached servers. */
const servers: RealMemcached[] = [];
const routers: TestRouter[] = [];
const addr = (m: RealMemcached) => `127.0.0.1:${m.port}`;


async function router(config: unknown): Promise<TestRouter> {
  const r = await startRouter(config);
  routers.push(r);
  return r;
}

before(async () => {
  for (let i = 0; i < 4; i++) servers.push(await startMemcached());
});

after(async () => {
  for (const r of routers) await r.close();
  await Promise.all(servers.map((s) => s.stop()));
});

const flushAll = () => Promise.all(servers.map((s) => ask(s.port, 'flush_all\r\n')));

test('replicated (sync): writes reach every replica; reads fail over to the next replica on a miss', async () => {
  await flushAll();
  const [p, q] = servers;
  const r = await router({
    pools: { p: { servers: [addr(p)] }, q: { servers: [addr(q)] } },
    route: { type: 'replicated', children: ['p', 'q'], writes: 'sync' },
  });
  assert.equal(await ask(r.port, 'set rk 0 0 2\r\nv1\r\n'), 'STORED\r\n');
  assert.equal(await ask(p.port, 'get rk\r\n'), 'VALUE rk 0 2\r\nv1\r\nEND\r\n');
  assert.equal(await ask(q.port, 'get rk\r\n'), 'VALUE rk 0 2\r\nv1\r\nEND\r\n');
  // Lose the first replica's copy: the read is answered by the second.
  await ask(p.port, 'delete rk\r\n');
  assert.equal(await ask(r.port, 'get rk\r\n'), 'VALUE rk 0 2\r\nv1\r\nEND\r\n');
  // The delete reaches both; the worst reply wins: p had lost its copy.
  assert.equal(await ask(r.port, 'delete rk\r\n'), 'NOT_FOUND\r\n');
  assert.equal(await ask(q.port, 'get rk\r\n'), 'END\r\n');
  // A sync write answers with the worst reply: add where one replica already has the key.
  await ask(q.port, 'set rk2 0 0 1\r\nx\r\n');
  assert.equal(await ask(r.port, 'add rk2 0 0 1\r\ny\r\n'), 'NOT_STORED\r\n');
  assert.equal(await ask(q.port, 'get rk2\r\n'), 'VALUE rk2 0 1\r\nx\r\nEND\r\n');
});

test('replicated (async): the first replica answers, the others are written in the background', async () => {
  await flushAll();
  const [p, q, s] = servers;
  const r = await router({
    pools: { p: { servers: [addr(p)] }, q: { servers: [addr(q)] }, s: { servers: [addr(s)] } },
    route: { type: 'replicated', children: ['p', 'q', 's'], writes: 'async' },
  });
  assert.equal(await ask(r.port, 'set ak 0 0 1\r\nz\r\n'), 'STORED\r\n');
  for (const m of [p, q, s]) await eventually(`replica ${m.port} written`, async () => (await ask(m.port, 'get ak\r\n')) === 'VALUE ak 0 1\r\nz\r\nEND\r\n');
});

test('warm-up: a miss in the cold pool is answered from the warm one and copied into cold', async () => {
  await flushAll();
  const [cold, warm] = servers;
  const r = await router({
    pools: { cold: { servers: [addr(cold)] }, warm: { servers: [addr(warm)] } },
    route: { type: 'warmup', cold: 'cold', warm: 'warm', exptime: 100 },
  });
  await ask(warm.port, 'set wk 7 0 4\r\nwarm\r\n');
  assert.equal(await ask(r.port, 'get wk\r\n'), 'VALUE wk 7 4\r\nwarm\r\nEND\r\n');
  await eventually('cold filled', async () => (await ask(cold.port, 'get wk\r\n')) === 'VALUE wk 7 4\r\nwarm\r\nEND\r\n');
  const ttl = Number(/ t(\d+)/.exec(await ask(cold.port, 'mg wk t\r\n'))?.[1]);
  assert.ok(ttl > 0 && ttl <= 100, `cold copy has the warm-up TTL: ${ttl}`);
  // Writes go to cold only.
  assert.equal(await ask(r.port, 'set wk2 0 0 1\r\nc\r\n'), 'STORED\r\n');
  assert.equal(await ask(warm.port, 'get wk2\r\n'), 'END\r\n');
});

test('prefix routing: the longest matching key prefix chooses the pool', async () => {
  await flushAll();
  const [d, u, v] = servers;
  const r = await router({
    pools: { d: { servers: [addr(d)] }, u: { servers: [addr(u)] }, v: { servers: [addr(v)] } },
    route: { type: 'prefix', routes: { 'user:': 'u', 'user:vip:': 'v' }, default: 'd' },
  });
  await ask(r.port, 'set user:1 0 0 1\r\na\r\nset user:vip:1 0 0 1\r\nb\r\nset other 0 0 1\r\nc\r\n');
  assert.equal(await ask(u.port, 'get user:1 user:vip:1 other\r\n'), 'VALUE user:1 0 1\r\na\r\nEND\r\n');
  assert.equal(await ask(v.port, 'get user:1 user:vip:1 other\r\n'), 'VALUE user:vip:1 0 1\r\nb\r\nEND\r\n');
  assert.equal(await ask(d.port, 'get user:1 user:vip:1 other\r\n'), 'VALUE other 0 1\r\nc\r\nEND\r\n');
  // A multiget spanning pools is answered in the request's key order.
  assert.equal(await ask(r.port, 'get other user:vip:1 nope user:1\r\n'), 'VALUE other 0 1\r\nc\r\nVALUE user:vip:1 0 1\r\nb\r\nVALUE user:1 0 1\r\na\r\nEND\r\n');
});

test('shadowing: a copy of the traffic goes to the shadow pool, whose answers are ignored', async () => {
  await flushAll();
  const [m, s] = servers;
  const r = await router({
    pools: { m: { servers: [addr(m)] }, s: { servers: [addr(s)] } },
    route: { type: 'shadow', main: 'm', shadow: 's', fraction: 1 },
  });
  await ask(s.port, 'set sk 0 0 6\r\nshadow\r\n');
  assert.equal(await ask(r.port, 'get sk\r\n'), 'END\r\n');
  assert.equal(await ask(r.port, 'set sk2 0 0 4\r\nmain\r\n'), 'STORED\r\n');
  await eventually('shadow got the write', async () => (await ask(s.port, 'get sk2\r\n')) === 'VALUE sk2 0 4\r\nmain\r\nEND\r\n');
  const stats = await ask(s.port, 'stats\r\n');
  assert.ok(Number(/STAT cmd_get (\d+)/.exec(stats)?.[1]) >= 1, 'shadow saw the get');
});

test('failover to the next server on the ring, then the gutter', async () => {
  await flushAll();
  const [x, y, g] = servers;
  const r = await router({
    pools: { main: { servers: [addr(x), addr(y)], timeoutMs: 200, retryMs: 60_000, failureLimit: 1 }, gutter: { servers: [addr(g)] } },
    route: { type: 'failover', children: ['main', { type: 'pool', pool: 'main', choice: 1 }, 'gutter'], exptime: 5 },
  });
  // Keys owned by x, while x is silent, go to y (the next server), with the short TTL.
  await freeze(x.child);
  try {
    const keys = Array.from({ length: 40 }, (_, i) => `nx:${i}`);
    for (const k of keys) assert.equal(await ask(r.port, `set ${k} 0 0 1\r\n1\r\n`), 'STORED\r\n');
    const onY = (await ask(y.port, `get ${keys.join(' ')}\r\n`)).split('VALUE').length - 1;
    assert.equal(onY, keys.length, 'all keys on the surviving server');
    assert.equal(await ask(g.port, `get ${keys.join(' ')}\r\n`), 'END\r\n', 'gutter unused while a next server answers');
  } finally {
    x.child.kill('SIGCONT');
  }
});

test('reloading the route file moves keys to the new pool without a restart; a bad file is refused', async () => {
  await flushAll();
  const [p, q] = servers;
  const r = await router({ pools: { p: { servers: [addr(p)] } }, route: 'p' });
  await ask(r.port, 'set rl 0 0 1\r\n1\r\n');
  assert.equal(await ask(p.port, 'get rl\r\n'), 'VALUE rl 0 1\r\n1\r\nEND\r\n');
  const conn = await TextSession.open(r.port); // an open client connection survives the reload
  try {
    r.writeRoutes({ pools: { q: { servers: [addr(q)] } }, route: 'q' });
    assert.equal(r.service.reload(), true);
    assert.equal((await conn.send('set rl 0 0 1\r\n2\r\n')).reply.toString(), 'STORED\r\n');
    assert.equal(await ask(q.port, 'get rl\r\n'), 'VALUE rl 0 1\r\n2\r\nEND\r\n');
    r.writeRoutes({ pools: {}, route: 'q' });
    assert.equal(r.service.reload(), false);
    assert.equal((await conn.send('get rl\r\n')).reply.toString(), 'VALUE rl 0 1\r\n2\r\nEND\r\n');
  } finally {
    conn.close();
  }
});
