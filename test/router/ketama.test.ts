import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KetamaRing, hashKey, ketamaPointCount, ketamaServerName, type KetamaFlavor } from '../../src/router/ketama.js';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { freePort, waitForPort } from '../helpers/ports.js';
import { exchange, textExchange } from '../helpers/raw-client.js';

const require = createRequire(import.meta.url);
const Memcached = require('memcached');

/** Seeded generator (mulberry32); every test names its seed in failure messages. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-./|#{}';

/** A memcached-legal key: 1-100 printable ASCII characters, no space. */
function randomKey(r: () => number, prefix = ''): string {
  let s = prefix;
  const len = 1 + Math.floor(r() * 100);
  for (let i = 0; i < len; i++) s += KEY_CHARS[Math.floor(r() * KEY_CHARS.length)];
  return s;
}

/** Any string, sometimes non-ASCII (both sides hash its UTF-8 bytes). */
function randomString(r: () => number): string {
  if (r() < 0.8) return randomKey(r);
  const len = 1 + Math.floor(r() * 20);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCodePoint(0x20 + Math.floor(r() * 0x3000));
  return s;
}

const addr = (port: number) => `127.0.0.1:${port}`;
const nameOf = (a: string) => {
  const [host, port] = a.split(':');
  return ketamaServerName(host, Number(port));
};

// ---- (a) the npm memcached client's ring (hashring) -------------------------------------------

/** Compare every key's server in `new Memcached(servers)` and in a KetamaRing of the same servers. */
function compareWithNpm(servers: string[] | Record<string, number>, flavor: KetamaFlavor, seed: number, keys = 10_000): void {
  const addrs = Array.isArray(servers) ? servers : Object.keys(servers);
  const client = new Memcached(servers); // builds its HashRing; connects only on a command
  const ring = new KetamaRing(
    addrs.map((a) => ({ name: nameOf(a), weight: Array.isArray(servers) ? undefined : servers[a] })),
    { flavor },
  );
  try {
    assert.equal(ring.points.length, client.HashRing.ring.length, 'ring size');
    const r = rng(seed);
    for (let i = 0; i < keys; i++) {
      const key = randomString(r);
      const theirs: string = client.HashRing.get(key);
      const ours = addrs[ring.serverFor(key)];
      if (ours !== theirs) assert.fail(`seed ${seed}: key ${JSON.stringify(key)} -> ${ours}, memcached client -> ${theirs}`);
      assert.equal(addrs[ring.serverFor(Buffer.from(key))], theirs);
    }
  } finally {
    client.end();
  }
}

test('placement matches the npm memcached client (hashring), equal weights', () => {
  const seed = randomInt(2 ** 31);
  for (const n of [2, 3, 5, 7, 25]) {
    // 11211 is hashed as the host alone, other ports as host:port: both kinds in every ring.
    const addrs = Array.from({ length: n }, (_, i) => addr(11211 + i * 7));
    compareWithNpm(addrs, 'hashring', seed + n);
    // twemproxy's single-precision point counts agree with hashring's except for some n.
    if (n !== 7 && n !== 25) compareWithNpm(addrs, 'twemproxy', seed + n);
  }
});

test('placement matches the npm memcached client (hashring), weighted servers', () => {
  const seed = randomInt(2 ** 31);
  const cases: Array<Record<string, number>> = [
    { [addr(11211)]: 1, [addr(11212)]: 2, [addr(11213)]: 3 },
    { [addr(20001)]: 5, [addr(20002)]: 1, [addr(11211)]: 2, [addr(20004)]: 8, [addr(20005)]: 3 },
    { [addr(30001)]: 100, [addr(30002)]: 1 },
  ];
  for (const [i, servers] of cases.entries()) {
    compareWithNpm(servers, 'hashring', seed + i, 5_000);
    const weights = Object.values(servers);
    const total = weights.reduce((a, b) => a + b, 0);
    const same = weights.every((w) => ketamaPointCount(w, total, weights.length, 'twemproxy') === ketamaPointCount(w, total, weights.length, 'hashring'));
    if (same) compareWithNpm(servers, 'twemproxy', seed + i, 5_000);
  }
});

test('point counts: float32 (libmemcached, twemproxy) and double (hashring) differ for some server counts', () => {
  assert.equal(ketamaPointCount(1, 3, 3, 'twemproxy'), 160);
  assert.equal(ketamaPointCount(1, 3, 3, 'hashring'), 160);
  assert.equal(ketamaPointCount(1, 7, 7, 'twemproxy'), 160);
  assert.equal(ketamaPointCount(1, 7, 7, 'hashring'), 156);
  assert.equal(ketamaPointCount(1, 25, 25, 'twemproxy'), 156);
  assert.equal(ketamaPointCount(1, 25, 25, 'hashring'), 160);
  assert.equal(ketamaPointCount(1, 6, 3), 80);
  assert.equal(ketamaPointCount(3, 6, 3), 240);
  assert.deepEqual(new KetamaRing([{ name: 'a' }, { name: 'b', weight: 2 }, { name: 'c', weight: 3 }]).pointCounts, [80, 160, 240]);
});

// ---- (b) twemproxy (nutcracker) with real memcached backends -----------------------------------

interface Pool {
  /** Pool name in the YAML, also the key prefix. */
  name: string;
  /** "host:port:weight [name]" lines. */
  servers: string[];
  /** Ring as twemproxy builds it. */
  ring: KetamaRing;
  /** Which backend memcached (index) each ring server is. */
  backendOf: number[];
  keys: string[];
  port?: number;
}

function nutcrackerInstalled(): boolean {
  const r = spawnSync('nutcracker', ['-V'], { stdio: 'ignore' });
  return !r.error;
}

interface Nutcracker {
  stop(): Promise<void>;
  log(): Promise<string>;
}

/** Start nutcracker on free ports for the pools' listeners and its stats (retrying a lost race). */
async function startNutcracker(dir: string, pools: Pool[]): Promise<Nutcracker> {
  for (let attempt = 0; ; attempt++) {
    for (const p of pools) p.port = await freePort();
    const statsPort = await freePort();
    const yaml = pools
      .map((p) =>
        [
          `${p.name}:`,
          `  listen: 127.0.0.1:${p.port}`,
          '  hash: md5',
          '  distribution: ketama',
          '  auto_eject_hosts: false',
          '  timeout: 3000',
          '  servers:',
          ...p.servers.map((s) => `   - ${s}`),
        ].join('\n'),
      )
      .join('\n');
    const conf = path.join(dir, 'conf.yml');
    const logFile = path.join(dir, `nutcracker-${attempt}.log`);
    await writeFile(conf, yaml + '\n');
    const child: ChildProcess = spawn(
      'nutcracker',
      ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', logFile, '-p', path.join(dir, 'nutcracker.pid')],
      { stdio: 'ignore' },
    );
    let exited = false;
    child.once('exit', () => (exited = true));
    child.once('error', () => (exited = true));
    const stop = () =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    try {
      for (const p of pools) await waitForPort(p.port!, 5000);
      await waitForPort(statsPort, 5000);
      if (exited) throw new Error('nutcracker exited');
    } catch (err) {
      await stop();
      if (attempt < 3) continue;
      const log = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`nutcracker did not start: ${(err as Error).message}\n${log}`);
    }
    return { stop, log: () => readFile(logFile, 'utf8').catch(() => '') };
  }
}

/** Store every key (value = key) through nutcracker; all replies must be STORED. */
async function setThrough(port: number, keys: string[]): Promise<void> {
  const req = keys.map((k) => `set ${k} 0 0 ${Buffer.byteLength(k)}\r\n${k}\r\n`).join('');
  const lines = (b: Buffer) => b.toString('latin1').split('\r\n').length - 1;
  const r = await exchange(port, req, (b) => lines(b) >= keys.length, 15_000);
  const replies = r.reply.toString('latin1').split('\r\n').slice(0, -1);
  assert.equal(replies.length, keys.length, `replies from nutcracker (closed ${r.closed}, timed out ${r.timedOut}): ${r.reply.toString('latin1').slice(0, 500)}`);
  assert.deepEqual([...new Set(replies)], ['STORED']);
}

/** The keys among `keys` that the memcached on `port` holds. */
async function held(port: number, keys: string[]): Promise<Set<string>> {
  const r = await textExchange(port, keys.map((k) => `get ${k}\r\n`).join(''), 15_000);
  assert.ok(!r.timedOut && !r.closed, `get from memcached ${port}`);
  const found = new Set<string>();
  for (const m of r.reply.toString('latin1').matchAll(/^VALUE (\S+) /gm)) found.add(m[1]);
  return found;
}

test('placement matches twemproxy (nutcracker) over real memcached', async (t) => {
  if (!nutcrackerInstalled()) {
    t.skip('nutcracker (twemproxy) is not installed: apt-get install nutcracker');
    return;
  }
  const seed = randomInt(2 ** 31);
  const r = rng(seed);
  const backends: RealMemcached[] = [];
  let nutcracker: Nutcracker | undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'ketama-nutcracker-'));
  try {
    for (let i = 0; i < 3; i++) backends.push(await startMemcached(['-m', '16']));
    const ports = backends.map((b) => b.port);
    const pools: Pool[] = [];

    // Equal weights, servers named by default ("127.0.0.1:port": none of them is on 11211).
    pools.push({
      name: 'equal',
      servers: ports.map((p) => `127.0.0.1:${p}:1`),
      ring: new KetamaRing(ports.map((p) => ({ name: ketamaServerName('127.0.0.1', p) }))),
      backendOf: [0, 1, 2],
      keys: [],
    });
    // Weights 1:2:5.
    const weights = [1, 2, 5];
    pools.push({
      name: 'weighted',
      servers: ports.map((p, i) => `127.0.0.1:${p}:${weights[i]}`),
      ring: new KetamaRing(ports.map((p, i) => ({ name: ketamaServerName('127.0.0.1', p), weight: weights[i] }))),
      backendOf: [0, 1, 2],
      keys: [],
    });
    // 25 servers with explicit names, spread over the 3 backends: 25 is a count where
    // twemproxy's single-precision point count (156) differs from double precision (160).
    const named = Array.from({ length: 25 }, (_, i) => ({ name: `node-${i}`, backend: i % 3 }));
    pools.push({
      name: 'named',
      servers: named.map((s) => `127.0.0.1:${ports[s.backend]}:1 ${s.name}`),
      ring: new KetamaRing(named.map((s) => ({ name: s.name }))),
      backendOf: named.map((s) => s.backend),
      keys: [],
    });

    for (const pool of pools) {
      const keys = new Set<string>();
      while (keys.size < 500) keys.add(randomKey(r, `${pool.name}:`));
      pool.keys = [...keys];
    }
    // Make sure the 'named' pool tells the float32 count from the double one: add keys that
    // the double-precision ring would send to another backend.
    const named2 = pools[2];
    const doubleRing = new KetamaRing(named.map((s) => ({ name: s.name })), { flavor: 'hashring' });
    let added = 0;
    for (let tries = 0; added < 30; tries++) {
      assert.ok(tries < 100_000, 'the float32 and double rings of the named pool should disagree on some keys');
      const k = randomKey(r, 'named:');
      if (named2.backendOf[named2.ring.serverFor(k)] !== named2.backendOf[doubleRing.serverFor(k)] && !named2.keys.includes(k)) {
        named2.keys.push(k);
        added++;
      }
    }

    nutcracker = await startNutcracker(dir, pools);
    for (const pool of pools) await setThrough(pool.port!, pool.keys);

    const allKeys = pools.flatMap((p) => p.keys);
    const holders = new Map<string, number[]>();
    for (const [b, backend] of backends.entries()) {
      for (const k of await held(backend.port, allKeys)) holders.set(k, [...(holders.get(k) ?? []), b]);
    }
    for (const pool of pools) {
      const wrong: string[] = [];
      for (const k of pool.keys) {
        const expected = pool.backendOf[pool.ring.serverFor(k)];
        const actual = holders.get(k) ?? [];
        if (actual.length !== 1 || actual[0] !== expected) wrong.push(`${k}: expected backend ${expected}, held by [${actual.join(',')}]`);
      }
      assert.deepEqual(wrong, [], `seed ${seed}, pool ${pool.name}: ${wrong.length} of ${pool.keys.length} keys misplaced`);
    }
  } finally {
    await nutcracker?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- (c) unit checks ------------------------------------------------------------------------

test('hashKey: md5, first 4 bytes little-endian', () => {
  // md5("") = d41d8cd98f00b204e9800998ecf8427e
  assert.equal(hashKey(''), 0xd98c1dd4);
  assert.equal(hashKey(Buffer.alloc(0)), 0xd98c1dd4);
  assert.equal(hashKey('é'), hashKey(Buffer.from('é', 'utf8')));
});

test('points are sorted, owners parallel, 160 per equal-weight server', () => {
  const ring = new KetamaRing([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }]);
  assert.equal(ring.points.length, 640);
  assert.equal(ring.owners.length, 640);
  for (let i = 1; i < ring.points.length; i++) assert.ok(ring.points[i - 1] <= ring.points[i]);
  const perServer = [0, 0, 0, 0];
  for (const o of ring.owners) perServer[o]++;
  assert.deepEqual(perServer, [160, 160, 160, 160]);
});

test('lookup: first point >= hash, wrapping past the last point to the first', () => {
  const ring = new KetamaRing([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
  const { points, owners } = ring;
  const last = points.length - 1;
  assert.equal(ring.serverForHash(0), owners[0]);
  assert.equal(ring.serverForHash(points[0]), owners[0]);
  assert.equal(ring.serverForHash(points[last]), owners[last]);
  assert.equal(ring.serverForHash(0xffffffff), points[last] === 0xffffffff ? owners[last] : owners[0]);
  if (points[last] < 0xffffffff) assert.equal(ring.serverForHash(points[last] + 1), owners[0]);
  for (const i of [1, 17, 200, last]) {
    assert.equal(ring.serverForHash(points[i]), owners[i]);
    if (points[i - 1] + 1 < points[i]) assert.equal(ring.serverForHash(points[i - 1] + 1), owners[i]);
  }
  // A real key past the last point lands on the first point's server.
  const r = rng(1);
  let k: string;
  do k = randomKey(r);
  while (hashKey(k) <= points[last]);
  assert.equal(ring.serverFor(k), owners[0]);
});

test('a single server gets every key', () => {
  const ring = new KetamaRing([{ name: 'only:1', weight: 7 }]);
  assert.equal(ring.points.length, 160);
  const r = rng(randomInt(2 ** 31));
  for (let i = 0; i < 2000; i++) assert.equal(ring.serverFor(randomString(r)), 0);
  assert.equal(ring.serverForHash(0), 0);
  assert.equal(ring.serverForHash(0xffffffff), 0);
});

test('removing a server moves only its keys (about 1/N)', () => {
  const names = ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211', '10.0.0.4:11211', '10.0.0.5:11211'].map(nameOf);
  const before = new KetamaRing(names.map((name) => ({ name })));
  const removed = 2;
  const remaining = names.filter((_, i) => i !== removed);
  const after = new KetamaRing(remaining.map((name) => ({ name })));
  const seed = randomInt(2 ** 31);
  const r = rng(seed);
  const N = 20_000;
  let moved = 0;
  for (let i = 0; i < N; i++) {
    const k = randomKey(r);
    const was = names[before.serverFor(k)];
    const now = remaining[after.serverFor(k)];
    if (was === names[removed]) moved++;
    else assert.equal(now, was, `seed ${seed}: key ${k} moved from ${was} to ${now}`);
  }
  assert.ok(moved / N > 0.12 && moved / N < 0.28, `seed ${seed}: ${moved} of ${N} keys moved`);
});

test('distribution: 4 servers each get 15-35% of 100,000 keys', () => {
  const ring = new KetamaRing([1, 2, 3, 4].map((i) => ({ name: `192.168.1.${i}:11211` })));
  const seed = randomInt(2 ** 31);
  const r = rng(seed);
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 100_000; i++) counts[ring.serverFor(randomKey(r))]++;
  for (const c of counts) assert.ok(c >= 15_000 && c <= 35_000, `seed ${seed}: ${counts.join(', ')}`);
});

test('twemproxy flavor hashes at most 85 bytes of "name-i"', () => {
  const long = 'h'.repeat(90);
  const tw = new KetamaRing([{ name: long }, { name: 'b' }]);
  const hr = new KetamaRing([{ name: long }, { name: 'b' }], { flavor: 'hashring' });
  // Every "hhh...-i" truncates to the same 85 bytes: one md5, 4 distinct points, each 40 times.
  const twPoints = new Set(tw.points.filter((_, i) => tw.owners[i] === 0));
  const hrPoints = new Set(hr.points.filter((_, i) => hr.owners[i] === 0));
  assert.equal(twPoints.size, 4);
  assert.equal(hrPoints.size, 160);
});

test('bad configurations are refused', () => {
  assert.throws(() => new KetamaRing([]), RangeError);
  assert.throws(() => new KetamaRing([{ name: 'a', weight: 0 }]), RangeError);
  assert.throws(() => new KetamaRing([{ name: 'a', weight: -1 }]), RangeError);
  assert.throws(() => new KetamaRing([{ name: 'a', weight: Number.NaN }]), RangeError);
  assert.throws(() => new KetamaRing([{ name: 'a', weight: Infinity }]), RangeError);
});
