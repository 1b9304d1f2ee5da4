import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { TextSession, ask } from '../helpers/text-session.js';
import { KetamaRing, ketamaServerName } from '../../src/router/ketama.js';

/**
 * What the router sends its servers: each real memcached sits behind a pass-through tap that
 * counts the request lines the router writes, so batching and fan-out can be seen on the wire.
 */
interface Tapped {
  node: RealMemcached;
  tap: net.Server;
  port: number;
  lines: string[];
}

const tapped: Tapped[] = [];
let router: TestRouter;

async function tapFor(node: RealMemcached): Promise<Tapped> {
  const t: Tapped = { node, tap: null as unknown as net.Server, port: 0, lines: [] };
  t.tap = net.createServer((c) => {
    const s = net.connect(node.port, '127.0.0.1');
    let pending = '';
    c.on('data', (d) => {
      pending += d.toString('latin1');
      const parts = pending.split('\r\n');
      pending = parts.pop()!;
      t.lines.push(...parts.filter((l) => /^(get|gets|set|delete|mg|ms) /.test(l)));
      s.write(d);
    });
    s.on('data', (d) => c.write(d));
    c.on('close', () => s.destroy());
    s.on('close', () => c.destroy());
    c.on('error', () => {});
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => t.tap.listen(0, '127.0.0.1', resolve));
  t.port = (t.tap.address() as net.AddressInfo).port;
  return t;
}

before(async () => {
  for (let i = 0; i < 3; i++) tapped.push(await tapFor(await startMemcached()));
  router = await startRouter({ pools: { main: { servers: tapped.map((t) => `127.0.0.1:${t.port}`) } }, route: 'main' });
});

after(async () => {
  await router?.close();
  for (const t of tapped) {
    t.tap.close();
    await t.node.stop();
  }
});

test('a multiget is split per server, each part one line, and the answer merged in request order', async () => {
  const ring = new KetamaRing(tapped.map((t) => ({ name: ketamaServerName('127.0.0.1', t.port) })));
  const keys = Array.from({ length: 30 }, (_, i) => `mg:${i}`);
  const stored = keys.filter((_, i) => i % 3 !== 0);
  for (const k of stored) assert.equal(await ask(router.port, `set ${k} 0 0 ${k.length}\r\n${k}\r\n`), 'STORED\r\n');
  for (const t of tapped) t.lines.length = 0;
  const asked = [...keys, keys[1], 'mg:none'];
  const reply = await ask(router.port, `get ${asked.join(' ')}\r\n`);
  const expected = asked.filter((k) => stored.includes(k)).map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n';
  assert.equal(reply, expected);
  for (let s = 0; s < tapped.length; s++) {
    const mine = asked.filter((k) => ring.serverFor(k) === s);
    assert.deepEqual(tapped[s].lines, mine.length ? [`get ${mine.join(' ')}`] : [], `server ${s} got its keys in one line`);
  }
});

test('pipelined single-key gets are merged into multi-key lines per server (and across clients whose requests arrive together)', async () => {
  for (const t of tapped) t.lines.length = 0;
  const clients = await Promise.all(Array.from({ length: 20 }, () => TextSession.open(router.port)));
  try {
    // 20 clients × 10 pipelined single-key gets, all at once.
    await Promise.all(clients.map((c, i) => c.send(Array.from({ length: 10 }, (_, j) => `get b:${i}:${j}\r\n`).join(''))));
  } finally {
    for (const c of clients) c.close();
  }
  const lines = tapped.reduce((n, t) => n + t.lines.length, 0);
  const keys = tapped.reduce((n, t) => n + t.lines.reduce((m, l) => m + l.split(' ').length - 1, 0), 0);
  assert.equal(keys, 200, 'every key asked once');
  // At most one line per client and server (60); fewer when clients' requests share a loop turn.
  assert.ok(lines <= 60, `200 gets went out in ${lines} lines`);
});

test('large batched replies that arrive over many reads reach the right keys, byte for byte', async () => {
  const keys = Array.from({ length: 60 }, (_, i) => `big:${i}`);
  const valueOf = (i: number) => String.fromCharCode(97 + (i % 26)).repeat(20_000 + i * 997);
  const s = await TextSession.open(router.port);
  try {
    const sets = keys.map((k, i) => `set ${k} ${i} 0 ${valueOf(i).length}\r\n${valueOf(i)}\r\n`).join('');
    assert.equal((await s.send(sets, 10_000)).reply.toString(), 'STORED\r\n'.repeat(keys.length));
    // Twice in one pipeline, plus single gets, so batches of one server hold many large blocks.
    const asked = [...keys, ...keys.slice().reverse()];
    const request = `get ${asked.join(' ')}\r\n` + keys.map((k) => `get ${k}\r\n`).join('');
    const expected =
      asked.map((k) => `VALUE ${k} ${keys.indexOf(k)} ${valueOf(keys.indexOf(k)).length}\r\n${valueOf(keys.indexOf(k))}\r\n`).join('') + 'END\r\n' +
      keys.map((k, i) => `VALUE ${k} ${i} ${valueOf(i).length}\r\n${valueOf(i)}\r\nEND\r\n`).join('');
    const reply = (await s.send(request, 10_000)).reply.toString();
    assert.equal(reply.length, expected.length);
    assert.ok(reply === expected, 'every value at its key, in order');
  } finally {
    s.close();
  }
});
