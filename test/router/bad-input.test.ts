import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { TextSession } from '../helpers/text-session.js';

/** What clients and servers may throw at the router: it answers or closes, and keeps serving. */
let m: RealMemcached;
let router: TestRouter;

before(async () => {
  m = await startMemcached();
  router = await startRouter({ pools: { main: { servers: [`127.0.0.1:${m.port}`], timeoutMs: 500 } }, route: 'main' });
});

after(async () => {
  await router?.close();
  await m?.stop();
});

/** Send bytes, collect what comes back until the router closes or `quietMs` passes without data. */
function exchange(port: number, bytes: Buffer | string, quietMs = 300): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let reply = '';
    let timer = setTimeout(() => finish(false), quietMs * 3);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ reply, closed });
    };
    s.on('data', (d) => {
      reply += d.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), quietMs);
    });
    s.on('close', () => finish(true));
    s.on('error', () => {});
    s.write(bytes);
  });
}

async function stillServes(): Promise<void> {
  const s = await TextSession.open(router.port);
  try {
    assert.equal((await s.send('set alive 0 0 2\r\nok\r\nget alive\r\n')).reply.toString(), 'STORED\r\nVALUE alive 0 2\r\nok\r\nEND\r\n');
  } finally {
    s.close();
  }
}

test('a line that never ends is refused and the connection closed', async () => {
  const r = await exchange(router.port, 'set ' + 'x'.repeat(100_000));
  assert.deepEqual(r, { reply: 'CLIENT_ERROR line too long\r\n', closed: true });
  await stillServes();
});

test('a value over the item size limit is refused, skipped, and the old value removed (as memcached)', async () => {
  const s = await TextSession.open(router.port);
  try {
    await s.send('set big 0 0 3\r\nold\r\n');
    const huge = 'z'.repeat(1024 * 1024 + 1);
    const r = await s.send(`set big 0 0 ${huge.length}\r\n${huge}\r\nget big\r\n`, 5000);
    assert.equal(r.reply.toString(), 'SERVER_ERROR object too large for cache\r\nEND\r\n');
  } finally {
    s.close();
  }
});

test('the binary protocol is refused with a message, not misread', async () => {
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  const r = await exchange(router.port, header);
  assert.equal(r.closed, true);
  assert.match(r.reply, /^SERVER_ERROR .*binary/);
});

test('random bytes from clients never stop the router', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 600 }), async (bytes) => {
      await exchange(router.port, Buffer.from(bytes), 30);
    }),
    { numRuns: 60 },
  );
  await stillServes();
});

test('deep pipelines are answered in order, past the per-connection bound on outstanding commands', async () => {
  const n = 10_000;
  const s = await TextSession.open(router.port);
  try {
    let req = '';
    for (let i = 0; i < n; i++) req += `set p${i} 0 0 ${String(i).length} noreply\r\n${i}\r\n`;
    for (let i = 0; i < n; i++) req += `get p${i}\r\n`;
    const r = (await s.send(req, 30_000)).reply.toString();
    let expected = '';
    for (let i = 0; i < n; i++) expected += `VALUE p${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`;
    assert.equal(r, expected);
  } finally {
    s.close();
  }
});

test('a server that answers garbage: every request still gets exactly one reply, and the router keeps serving', async () => {
  const liar = net.createServer((c) => c.on('data', () => c.write('NONSENSE\r\nMORE\r\n')));
  await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
  const port = (liar.address() as net.AddressInfo).port;
  const r = await startRouter({ pools: { main: { servers: [`127.0.0.1:${port}`], timeoutMs: 300, failureLimit: 100 } }, route: 'main' });
  try {
    const s = await TextSession.open(r.port);
    try {
      const reply = (await s.send('get a\r\nset b 0 0 1\r\nx\r\n', 5000)).reply.toString();
      // The get's reply is not a VALUE block: a miss. The set's is whatever line came back.
      assert.match(reply, /^END\r\n[^\r\n]*\r\n$/);
    } finally {
      s.close();
    }
    await stillServes();
  } finally {
    await r.close();
    liar.close();
  }
});

test('a client that never reads its replies holds bounded memory, and others are still served', async () => {
  const value = 'v'.repeat(100_000);
  assert.equal((await exchange(router.port, `set fat 0 0 ${value.length}\r\n${value}\r\n`)).reply, 'STORED\r\n');
  const rssBefore = process.memoryUsage().rss;
  const s = net.connect(router.port, '127.0.0.1');
  s.on('error', () => {});
  s.pause(); // never read
  try {
    // 5,000 gets of a 100 KB value: 500 MB of replies if the router buffered them all.
    const request = Buffer.from('get fat\r\n'.repeat(5000));
    await new Promise<void>((resolve) => s.write(request, () => resolve()));
    await stillServes();
    const destination = router.service.router.servers()[0];
    await new Promise((r) => setTimeout(r, 200)); // let the router fill what it will
    assert.equal(destination.pending, 0, 'nothing stuck at the server');
    const grown = process.memoryUsage().rss - rssBefore;
    assert.ok(grown < 250 * 1024 * 1024, `router process grew ${Math.round(grown / 1048576)} MiB`);
    await stillServes();
  } finally {
    s.destroy();
  }
});
