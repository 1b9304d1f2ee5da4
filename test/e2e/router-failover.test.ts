import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startMemcached, type RealMemcached, freeze } from '../helpers/memcached.js';
import { startStrataProcess, type StrataProcess } from '../helpers/strata-process.js';
import { startRouter, eventually, type TestRouter } from '../helpers/router.js';
import { TextSession, ask } from '../helpers/text-session.js';
import { KetamaRing, ketamaServerName } from '../../src/router/ketama.js';

const require = createRequire(import.meta.url);
const { MemcacheClient } = require('memcache-client');

/**
 * A pool of three cache nodes (two of Debian's memcached, one Strata cache process) behind
 * `strata router`, with a gutter memcached: placement, failover while under load, recovery, and
 * the delete spool.
 */
let a: RealMemcached;
let b: RealMemcached;
let c: StrataProcess;
let gutter: RealMemcached;
let router: TestRouter;
let ring: KetamaRing;
const sessions: TextSession[] = [];
const GUTTER_TTL = 10;

async function session(port: number): Promise<TextSession> {
  const s = await TextSession.open(port);
  sessions.push(s);
  return s;
}


const nodePorts = () => [a.port, b.port, c.cachePort];

/** A key whose server in the main pool is node `i`. */
function keyOn(i: number, prefix: string): string {
  for (let n = 0; ; n++) if (ring.serverFor(`${prefix}${n}`) === i) return `${prefix}${n}`;
}

async function serverState(port: number): Promise<string> {
  const stats = await ask(router.port, 'stats\r\n');
  return new RegExp(`STAT server:127\\.0\\.0\\.1:${port}:state (\\w+)`).exec(stats)?.[1] ?? 'missing';
}

before(async () => {
  a = await startMemcached();
  b = await startMemcached();
  c = await startStrataProcess([]);
  gutter = await startMemcached();
  const servers = nodePorts().map((p) => `127.0.0.1:${p}`);
  router = await startRouter({
    pools: {
      main: { servers, timeoutMs: 300, retryMs: 100, failureLimit: 2 },
      gutter: { servers: [`127.0.0.1:${gutter.port}`], timeoutMs: 300 },
    },
    route: { type: 'failover', children: ['main', 'gutter'], exptime: GUTTER_TTL },
  });
  ring = new KetamaRing(nodePorts().map((p) => ({ name: ketamaServerName('127.0.0.1', p) })));
});

after(async () => {
  for (const s of sessions) s.close();
  await router?.close();
  await Promise.all([a?.stop(), b?.stop(), c?.stop(), gutter?.stop()]);
});

test('every key lands on the node ketama names, across memcached and Strata nodes', async () => {
  const r = await session(router.port);
  const keys = Array.from({ length: 300 }, (_, i) => `place:${i}`);
  for (const k of keys) assert.equal((await r.send(`set ${k} 0 0 ${k.length}\r\n${k}\r\n`)).reply.toString(), 'STORED\r\n');
  const direct = await Promise.all(nodePorts().map((p) => session(p)));
  const counts = [0, 0, 0];
  for (const k of keys) {
    const owner = ring.serverFor(k);
    counts[owner]++;
    for (let i = 0; i < 3; i++) {
      const got = (await direct[i].send(`get ${k}\r\n`)).reply.toString();
      assert.equal(got, i === owner ? `VALUE ${k} 0 ${k.length}\r\n${k}\r\nEND\r\n` : 'END\r\n', `${k} on node ${i}`);
    }
  }
  for (const n of counts) assert.ok(n > 50, `keys spread over the nodes: ${counts}`);
});

test('killing a node under load: misses served from the gutter, no client errors, then it comes back', async () => {
  const clients = Array.from({ length: 8 }, () => new MemcacheClient({ server: `127.0.0.1:${router.port}`, cmdTimeout: 5000, logger: { debug() {}, info() {}, warn() {}, error() {} } }));
  let ops = 0;
  let errors = 0;
  let stop = false;
  const worker = async (client: InstanceType<typeof MemcacheClient>, w: number) => {
    for (let n = 0; !stop; n++) {
      const key = `load:${(n * 7 + w * 13) % 600}`;
      try {
        const got = await client.get(key);
        if (!got) await client.set(key, `v-${key}`, { lifetime: 0 });
      } catch {
        errors++;
      }
      ops++;
    }
  };
  const running = clients.map((cl, i) => worker(cl, i));
  try {
    await eventually('2,000 operations before the kill', () => ops >= 2000, 30_000);
    c.child.kill('SIGKILL');
    const killedAt = ops;
    await eventually('the killed node marked down', async () => (await serverState(c.cachePort)) === 'down');
    await eventually('3,000 operations after the kill', () => ops >= killedAt + 3000, 30_000);
  } finally {
    stop = true;
    await Promise.all(running);
    for (const cl of clients) cl.shutdown();
  }
  // Only requests in flight at the moment of the kill may fail (one per client at most); the
  // failover route retries them in the gutter, so in practice none do.
  assert.ok(errors <= clients.length, `client errors: ${errors}`);
  const gutterItems = Number(/STAT curr_items (\d+)/.exec(await ask(gutter.port, 'stats\r\n'))?.[1]);
  assert.ok(gutterItems > 0, 'the dead node\'s keys were refilled in the gutter during the load');

  // Keys of the dead node: a miss first, then what the application stores lands in the gutter
  // with a short TTL.
  const key = keyOn(2, 'dead:');
  const r = await session(router.port);
  assert.equal((await r.send(`get ${key}\r\n`)).reply.toString(), 'END\r\n');
  assert.equal((await r.send(`set ${key} 0 0 5\r\nhello\r\n`)).reply.toString(), 'STORED\r\n');
  assert.equal((await r.send(`get ${key}\r\n`)).reply.toString(), `VALUE ${key} 0 5\r\nhello\r\nEND\r\n`);
  const inGutter = await ask(gutter.port, `mg ${key} t v\r\n`);
  const ttl = Number(/ t(\d+)/.exec(inGutter)?.[1]);
  assert.ok(ttl > 0 && ttl <= GUTTER_TTL, `gutter copy expires within ${GUTTER_TTL} s: ${inGutter}`);

  // Bring the node back on its port: the router probes it, and its keys go to it again.
  const port = c.cachePort;
  c = await startStrataProcess(['--cache-port', String(port)]);
  assert.equal(c.cachePort, port);
  await eventually('the node back up', async () => (await serverState(port)) === 'up');
  const back = keyOn(2, 'back:');
  assert.equal((await r.send(`set ${back} 0 0 2\r\nok\r\n`)).reply.toString(), 'STORED\r\n');
  assert.equal(await ask(port, `get ${back}\r\n`), `VALUE ${back} 0 2\r\nok\r\nEND\r\n`);
  assert.equal(await ask(gutter.port, `get ${back}\r\n`), 'END\r\n');
});

test('a delete that cannot reach its node is kept on disk and delivered when the node answers again', async () => {
  const key = keyOn(0, 'inval:');
  assert.equal(await ask(a.port, `set ${key} 0 0 3\r\nold\r\n`), 'STORED\r\n');
  await freeze(a.child); // alive but silent: requests time out
  try {
    const r = await session(router.port);
    const reply = await r.send(`delete ${key}\r\n`, 5000);
    assert.equal(reply.reply.toString(), 'DELETED\r\n');
    assert.match(await ask(router.port, 'stats\r\n'), new RegExp(`STAT server:127\\.0\\.0\\.1:${a.port}:spooled_deletes 1\\r\\n`));
  } finally {
    a.child.kill('SIGCONT');
  }
  await eventually('the spooled delete delivered', async () => (await ask(a.port, `get ${key}\r\n`)) === 'END\r\n');
  await eventually('the spool empty', async () => /spooled_deletes 0\r\n/.test(await ask(router.port, 'stats\r\n')));
});
