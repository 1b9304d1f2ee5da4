import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { startStrataCache } from '../helpers/strata.js';
import { TextSession } from '../helpers/text-session.js';
import type { CacheService } from '../../src/cache/server.js';

/**
 * The npm clients users already have, unchanged, against Strata. Every script runs against
 * Debian's memcached too, and every run is checked against the same expected results: a step
 * that fails on memcached as well is the client's (or this test's) doing, one that fails only on
 * Strata is Strata's. Strata runs with one thread and with two (worker threads, shared store).
 *
 * Expiry is checked without waiting for it: the TTL the server holds is read back with a raw
 * meta `mg <key> t`, and a negative TTL (memcached: expired at once) must read as a miss.
 */
const require = createRequire(import.meta.url);
const memjs = require('memjs');
const Memcached = require('memcached');
const { MemcacheClient } = require('memcache-client');

type Steps = Array<[string, unknown]>;

/** Record one step's result, or its error message, under a label (so a diff names the step). */
async function step(steps: Steps, label: string, fn: () => unknown): Promise<void> {
  try {
    steps.push([label, await fn()]);
  } catch (err) {
    steps.push([label, `error: ${(err as Error).message}`]);
  }
}

/**
 * The TTL the server holds for a key (meta `mg <key> t`), as `t~<expected>` when it is within
 * a few seconds below `expected` (the servers' clocks tick once a second), else the raw reply.
 */
async function ttlOf(port: number, key: string, expected: number): Promise<string> {
  const s = await TextSession.open(port);
  try {
    const reply = (await s.send(`mg ${key} t\r\n`)).reply.toString().trim();
    const m = /^HD t(\d+)$/.exec(reply);
    if (m && Number(m[1]) <= expected + 1 && Number(m[1]) >= expected - 3) return `t~${expected}`;
    return reply;
  } finally {
    s.close();
  }
}

/** All 256 byte values, twice, then a CRLF and an "END" line inside the value. */
const BINARY = Buffer.concat([Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)), Buffer.from('\r\nEND\r\n')]);
const BIG = Buffer.alloc(500_000, 'q');
const unixNow = () => Math.floor(Date.now() / 1000);

// ---- memjs: binary protocol -----------------------------------------------------------------

async function memjsScript(port: number): Promise<Steps> {
  const client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 1, timeout: 5, logger: { log() {} } });
  const s: Steps = [];
  const value = async (key: string) => ((await client.get(key)).value as Buffer | null)?.toString('latin1') ?? null;
  /** memjs 1.3 has no gets/cas API: this goes through its own transport with a CAS in the header. */
  const raw = (key: string, request: Buffer) =>
    new Promise<{ status: number; cas: Buffer }>((resolve, reject) => {
      client.perform(key, request, client.seq, (err: Error | null, r: { header: { status: number; cas: Buffer } }) =>
        err ? reject(err) : resolve({ status: r.header.status, cas: r.header.cas }),
      );
    });
  const getCas = async (key: string) => {
    client.incrSeq();
    return raw(key, memjs.Utils.makeRequestBuffer(0x00, key, '', '', client.seq));
  };
  const setCas = async (key: string, val: string, cas: Buffer) => {
    client.incrSeq();
    const req: Buffer = memjs.Utils.makeRequestBuffer(0x01, key, Buffer.alloc(8), val, client.seq);
    cas.copy(req, 16);
    return (await raw(key, req)).status;
  };
  try {
    await step(s, 'set', () => client.set('mj:a', 'hello', { expires: 0 }));
    await step(s, 'get', () => value('mj:a'));
    await step(s, 'get missing', () => value('mj:missing'));
    await step(s, 'no expiry held', () => ttlOf(port, 'mj:a', 0));
    await step(s, 'set ttl 300', () => client.set('mj:ttl', 'x', { expires: 300 }));
    await step(s, 'ttl 300 held', () => ttlOf(port, 'mj:ttl', 300));
    await step(s, 'touch 600', () => client.touch('mj:ttl', 600));
    await step(s, 'ttl 600 held', () => ttlOf(port, 'mj:ttl', 600));
    await step(s, 'set absolute expiry', () => client.set('mj:abs', 'x', { expires: unixNow() + 900 }));
    await step(s, 'absolute expiry held', () => ttlOf(port, 'mj:abs', 900));
    await step(s, 'add existing', () => client.add('mj:a', 'again', {}));
    await step(s, 'add new', () => client.add('mj:added', 'new', {}));
    await step(s, 'replace', () => client.replace('mj:a', 'world', {}));
    await step(s, 'replace missing', () => client.replace('mj:nope', 'x', {}));
    await step(s, 'after replace', () => value('mj:a'));
    await step(s, 'incr creates with initial', () => client.increment('mj:n', 5, { initial: 10 }));
    await step(s, 'incr', () => client.increment('mj:n', 5, {}));
    await step(s, 'decr floors at 0', () => client.decrement('mj:n', 100, {}));
    await step(s, 'incr non-numeric', () => client.increment('mj:a', 1, {}));
    await step(s, 'append', () => client.append('mj:a', '!'));
    await step(s, 'prepend', () => client.prepend('mj:a', '<'));
    await step(s, 'after append/prepend', () => value('mj:a'));
    const first = await getCas('mj:a');
    await step(s, 'get with cas', () => [first.status, first.cas.equals(Buffer.alloc(8))]);
    await step(s, 'set with current cas', () => setCas('mj:a', 'cas-1', first.cas));
    await step(s, 'set with stale cas', () => setCas('mj:a', 'cas-2', first.cas));
    await step(s, 'after cas', () => value('mj:a'));
    await step(s, 'set binary value', () => client.set('mj:bin', BINARY, {}));
    await step(s, 'binary value intact', async () => (await client.get('mj:bin')).value?.equals(BINARY));
    await step(s, 'set utf-8 key', () => client.set('mj:ключ', 'значение', {}));
    await step(s, 'get utf-8 key', async () => (await client.get('mj:ключ')).value?.toString());
    await step(s, 'set 500 KB', () => client.set('mj:big', BIG, {}));
    await step(s, '500 KB intact', async () => (await client.get('mj:big')).value?.equals(BIG));
    await step(s, 'set 2 MB (over the item limit)', () => client.set('mj:huge', Buffer.alloc(2 << 20), {}));
    // memjs has no multiget: concurrent gets go out pipelined on one connection.
    await step(s, 'pipelined gets', () => Promise.all(['mj:a', 'mj:added', 'mj:missing', 'mj:n'].map(value)));
    await step(s, 'delete', () => client.delete('mj:a'));
    await step(s, 'delete again', () => client.delete('mj:a'));
    await step(s, 'get deleted', () => value('mj:a'));
  } finally {
    client.close();
  }
  return s;
}

const MEMJS_EXPECTED: Steps = [
  ['set', true],
  ['get', 'hello'],
  ['get missing', null],
  ['no expiry held', 'HD t-1'],
  ['set ttl 300', true],
  ['ttl 300 held', 't~300'],
  ['touch 600', true],
  ['ttl 600 held', 't~600'],
  ['set absolute expiry', true],
  ['absolute expiry held', 't~900'],
  ['add existing', false],
  ['add new', true],
  ['replace', true],
  ['replace missing', false],
  ['after replace', 'world'],
  ['incr creates with initial', { success: true, value: 10 }],
  ['incr', { success: true, value: 15 }],
  ['decr floors at 0', { success: true, value: 0 }],
  ['incr non-numeric', 'error: MemJS INCREMENT: Incr/Decr on non-numeric value'],
  ['append', true],
  ['prepend', true],
  // memjs 1.3.2's prepend sends APPEND (opcode 0x0e), so '<' lands at the end on both servers.
  ['after append/prepend', 'world!<'],
  ['get with cas', [0, false]],
  ['set with current cas', 0],
  ['set with stale cas', 2],
  ['after cas', 'cas-1'],
  ['set binary value', true],
  ['binary value intact', true],
  ['set utf-8 key', true],
  ['get utf-8 key', 'значение'],
  ['set 500 KB', true],
  ['500 KB intact', true],
  ['set 2 MB (over the item limit)', 'error: MemJS SET: Value too large'],
  // memcached rewrites a shrinking counter in place, padded with spaces: "15" - 100 is "0 ".
  ['pipelined gets', ['cas-1', 'new', null, '0 ']],
  ['delete', true],
  ['delete again', false],
  ['get deleted', null],
];

// ---- memcached (3rd-Eden): text protocol ----------------------------------------------------

function cb<T>(fn: (done: (err: unknown, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

async function memcachedScript(port: number): Promise<Steps> {
  const client = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 5000, poolSize: 2 });
  const s: Steps = [];
  try {
    await step(s, 'set', () => cb((d) => client.set('mc:a', 'hello', 0, d)));
    await step(s, 'get', () => cb((d) => client.get('mc:a', d)));
    await step(s, 'get missing', () => cb((d) => client.get('mc:missing', d)));
    await step(s, 'no expiry held', () => ttlOf(port, 'mc:a', 0));
    await step(s, 'set ttl 300', () => cb((d) => client.set('mc:ttl', 'x', 300, d)));
    await step(s, 'ttl 300 held', () => ttlOf(port, 'mc:ttl', 300));
    await step(s, 'touch 600', () => cb((d) => client.touch('mc:ttl', 600, d)));
    await step(s, 'ttl 600 held', () => ttlOf(port, 'mc:ttl', 600));
    await step(s, 'set absolute expiry', () => cb((d) => client.set('mc:abs', 'x', unixNow() + 900, d)));
    await step(s, 'absolute expiry held', () => ttlOf(port, 'mc:abs', 900));
    await step(s, 'set already expired (negative TTL)', () => cb((d) => client.set('mc:gone', 'x', -1, d)));
    await step(s, 'already expired is a miss', () => cb((d) => client.get('mc:gone', d)));
    await step(s, 'set b', () => cb((d) => client.set('mc:b', 'B', 0, d)));
    await step(s, 'getMulti', () => cb((d) => client.getMulti(['mc:a', 'mc:b', 'mc:missing'], d)));
    const gets = await cb<{ cas: string; 'mc:a': string }>((d) => client.gets('mc:a', d));
    await step(s, 'gets', () => [gets['mc:a'], /^\d+$/.test(gets.cas)]);
    await step(s, 'cas current', () => cb((d) => client.cas('mc:a', 'changed', gets.cas, 0, d)));
    await step(s, 'cas stale', () => cb((d) => client.cas('mc:a', 'stale', gets.cas, 0, d)));
    await step(s, 'after cas', () => cb((d) => client.get('mc:a', d)));
    await step(s, 'add existing', () => cb((d) => client.add('mc:a', 'x', 0, d)));
    await step(s, 'replace missing', () => cb((d) => client.replace('mc:nope', 'x', 0, d)));
    await step(s, 'append', () => cb((d) => client.append('mc:a', '!', d)));
    await step(s, 'prepend', () => cb((d) => client.prepend('mc:a', '<', d)));
    await step(s, 'after append/prepend', () => cb((d) => client.get('mc:a', d)));
    await step(s, 'set number', () => cb((d) => client.set('mc:n', 10, 0, d)));
    await step(s, 'incr', () => cb((d) => client.incr('mc:n', 5, d)));
    await step(s, 'decr floors at 0', () => cb((d) => client.decr('mc:n', 100, d)));
    await step(s, 'incr missing', () => cb((d) => client.incr('mc:nope', 1, d)));
    await step(s, 'value with CRLF and END inside', () => cb((d) => client.set('mc:crlf', 'a\r\nEND\r\nb', 0, d)));
    await step(s, 'CRLF value intact', () => cb((d) => client.get('mc:crlf', d)));
    await step(s, 'set 500 KB', () => cb((d) => client.set('mc:big', BIG.toString(), 0, d)));
    await step(s, '500 KB intact', async () => (await cb<string>((d) => client.get('mc:big', d))) === BIG.toString());
    await step(s, 'set object (JSON)', () => cb((d) => client.set('mc:json', { a: 1, b: [2] }, 0, d)));
    await step(s, 'get object', () => cb((d) => client.get('mc:json', d)));
    await step(s, 'del', () => cb((d) => client.del('mc:a', d)));
    await step(s, 'get deleted', () => cb((d) => client.get('mc:a', d)));
  } finally {
    client.end();
  }
  return s;
}

const MEMCACHED_EXPECTED: Steps = [
  ['set', true],
  ['get', 'hello'],
  ['get missing', undefined],
  ['no expiry held', 'HD t-1'],
  ['set ttl 300', true],
  ['ttl 300 held', 't~300'],
  ['touch 600', true],
  ['ttl 600 held', 't~600'],
  ['set absolute expiry', true],
  ['absolute expiry held', 't~900'],
  ['set already expired (negative TTL)', true],
  ['already expired is a miss', undefined],
  ['set b', true],
  ['getMulti', { 'mc:a': 'hello', 'mc:b': 'B' }],
  ['gets', ['hello', true]],
  ['cas current', true],
  ['cas stale', false],
  ['after cas', 'changed'],
  ['add existing', 'error: Item is not stored'],
  ['replace missing', 'error: Item is not stored'],
  ['append', true],
  ['prepend', true],
  ['after append/prepend', '<changed!'],
  ['set number', true],
  ['incr', 15],
  ['decr floors at 0', 0],
  ['incr missing', false],
  ['value with CRLF and END inside', true],
  ['CRLF value intact', 'a\r\nEND\r\nb'],
  ['set 500 KB', true],
  ['500 KB intact', true],
  ['set object (JSON)', true],
  ['get object', { a: 1, b: [2] }],
  ['del', true],
  ['get deleted', undefined],
];

// ---- memcache-client (electrode): text protocol ---------------------------------------------

async function memcacheClientScript(port: number): Promise<Steps> {
  const client = new MemcacheClient({ server: `127.0.0.1:${port}`, cmdTimeout: 5000, logger: { debug() {}, info() {}, warn() {}, error() {} } });
  const s: Steps = [];
  const value = async (key: string) => ((await client.get(key)) as { value: unknown } | undefined)?.value;
  try {
    await step(s, 'set', () => client.set('ec:a', 'hello'));
    await step(s, 'get', () => value('ec:a'));
    await step(s, 'get missing', () => client.get('ec:missing'));
    await step(s, 'default lifetime held', () => ttlOf(port, 'ec:a', 60));
    await step(s, 'set lifetime 300', () => client.set('ec:ttl', 'x', { lifetime: 300 }));
    await step(s, 'ttl 300 held', () => ttlOf(port, 'ec:ttl', 300));
    await step(s, 'touch 600', () => client.touch('ec:ttl', 600));
    await step(s, 'ttl 600 held', () => ttlOf(port, 'ec:ttl', 600));
    await step(s, 'set already expired (negative lifetime)', () => client.set('ec:gone', 'x', { lifetime: -1 }));
    await step(s, 'already expired is a miss', () => client.get('ec:gone'));
    await step(s, 'set b', () => client.set('ec:b', 'B'));
    await step(s, 'multi-get', async () => {
      const multi = (await client.get(['ec:a', 'ec:b', 'ec:missing'])) as Record<string, { value: unknown }>;
      return Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v?.value]));
    });
    const gets = (await client.gets('ec:a')) as { value: string; casUniq: string | number };
    await step(s, 'gets', () => [gets.value, /^\d+$/.test(String(gets.casUniq))]);
    await step(s, 'cas current', () => client.cas('ec:a', 'changed', { casUniq: gets.casUniq }));
    await step(s, 'cas stale', () => client.cas('ec:a', 'stale', { casUniq: gets.casUniq }));
    await step(s, 'after cas', () => value('ec:a'));
    await step(s, 'add existing', () => client.add('ec:a', 'x'));
    await step(s, 'append', () => client.append('ec:a', '!'));
    await step(s, 'after append', () => value('ec:a'));
    await step(s, 'set number', () => client.set('ec:n', '10'));
    await step(s, 'incr', () => client.incr('ec:n', 5));
    await step(s, 'decr floors at 0', () => client.decr('ec:n', 100));
    await step(s, 'incr missing', () => client.incr('ec:nope', 1));
    await step(s, 'set binary Buffer', () => client.set('ec:bin', BINARY));
    await step(s, 'binary Buffer intact', async () => Buffer.isBuffer(await value('ec:bin')) && (await value('ec:bin') as Buffer).equals(BINARY));
    await step(s, 'set 500 KB (compressible, sent as is)', () => client.set('ec:big', BIG, { compress: false }));
    await step(s, '500 KB intact', async () => (await value('ec:big') as Buffer).equals(BIG));
    await step(s, 'set object', () => client.set('ec:obj', { nested: true } as never));
    await step(s, 'get object', () => value('ec:obj'));
    await step(s, 'delete', () => client.delete('ec:a'));
    await step(s, 'delete again', () => client.delete('ec:a'));
    await step(s, 'get deleted', () => client.get('ec:a'));
  } finally {
    client.shutdown();
  }
  return s;
}

const MEMCACHE_CLIENT_EXPECTED: Steps = [
  ['set', ['STORED']],
  ['get', 'hello'],
  ['get missing', undefined],
  // memcache-client's default lifetime is 60 seconds.
  ['default lifetime held', 't~60'],
  ['set lifetime 300', ['STORED']],
  ['ttl 300 held', 't~300'],
  ['touch 600', ['TOUCHED']],
  ['ttl 600 held', 't~600'],
  ['set already expired (negative lifetime)', ['STORED']],
  ['already expired is a miss', undefined],
  ['set b', ['STORED']],
  ['multi-get', { 'ec:a': 'hello', 'ec:b': 'B' }],
  ['gets', ['hello', true]],
  ['cas current', ['STORED']],
  ['cas stale', 'error: EXISTS'],
  ['after cas', 'changed'],
  ['add existing', 'error: NOT_STORED'],
  ['append', ['STORED']],
  ['after append', 'changed!'],
  ['set number', ['STORED']],
  ['incr', '15'],
  ['decr floors at 0', '0'],
  ['incr missing', 'error: NOT_FOUND'],
  ['set binary Buffer', ['STORED']],
  ['binary Buffer intact', true],
  ['set 500 KB (compressible, sent as is)', ['STORED']],
  ['500 KB intact', true],
  ['set object', ['STORED']],
  ['get object', { nested: true }],
  ['delete', ['DELETED']],
  ['delete again', 'error: NOT_FOUND'],
  ['get deleted', undefined],
];

// ---- the servers ----------------------------------------------------------------------------

let memcached: RealMemcached | undefined;
let strata: CacheService | undefined;
let strata2: CacheService | undefined;
before(async () => {
  memcached = await startMemcached();
  strata = await startStrataCache();
  strata2 = await startStrataCache({ threads: 2 });
});
after(async () => {
  await memcached?.stop();
  await strata?.close();
  await strata2?.close();
});

/** Sockets this process holds open (clients' and, for the in-process Strata, the server's side). */
const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

/** Wait until this process holds no socket at all (bounded), and say how many are left. */
async function socketsClosed(): Promise<number> {
  const deadline = Date.now() + 5000;
  while (openSockets() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return openSockets();
}

const clients: Array<[string, (port: number) => Promise<Steps>, Steps]> = [
  ['memjs (binary protocol)', memjsScript, MEMJS_EXPECTED],
  ['memcached (3rd-Eden, text protocol)', memcachedScript, MEMCACHED_EXPECTED],
  ['memcache-client (electrode, text protocol)', memcacheClientScript, MEMCACHE_CLIENT_EXPECTED],
];

for (const [name, script, expected] of clients) {
  for (const server of ['memcached', 'Strata', 'Strata with 2 threads'] as const) {
    test(`${name} against ${server}`, async () => {
      const port = { memcached: memcached?.port, Strata: strata?.port, 'Strata with 2 threads': strata2?.port }[server]!;
      assert.equal(await socketsClosed(), 0, 'no socket is open before the client starts');
      const steps = await script(port);
      assert.deepEqual(steps, expected, `${name} against ${server}`);
      assert.equal(await socketsClosed(), 0, 'the client closed every socket it opened');
    });
  }
}
