import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { startMemcached } from '../helpers/memcached.js';
import { startStrataCache } from '../helpers/strata.js';
import { startStrataProcess } from '../helpers/strata-process.js';
import { TextSession } from '../helpers/text-session.js';
import { exchange } from '../helpers/raw-client.js';

const MiB = 1024 * 1024;

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

async function answersVersion(port: number): Promise<boolean> {
  const s = await TextSession.open(port);
  try {
    return (await s.send('version\r\n')).reply.toString().startsWith('VERSION ');
  } finally {
    s.close();
  }
}

test('a 1 MB line without a newline closes the connection, as memcached does', async () => {
  const memcached = await startMemcached();
  const strata = await startStrataCache();
  try {
    const line = Buffer.alloc(MiB, 'x');
    for (const port of [memcached.port, strata.port]) {
      const r = await exchange(port, line, () => false, 10_000);
      assert.equal(r.closed, true, `port ${port} closed the connection`);
      assert.equal(r.reply.length, 0);
    }
    assert.ok(await answersVersion(strata.port));
  } finally {
    await memcached.stop();
    await strata.close();
  }
});

test('random bytes on the wire never take the server down', async () => {
  const strata = await startStrataCache();
  try {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 4096 }), async (bytes) => {
        const s = await connect(strata.port);
        s.on('error', () => {});
        s.on('data', () => {});
        s.write(bytes);
        s.end();
        await new Promise<void>((resolve) => s.once('close', () => resolve()));
      }),
      { numRuns: 300 },
    );
    assert.ok(await answersVersion(strata.port));
    const stats = (await (await TextSession.open(strata.port)).send('stats\r\n')).reply.toString();
    assert.match(stats, /STAT curr_connections [12]\r\n/, 'garbage connections were all released');
  } finally {
    await strata.close();
  }
});

test('clients that vanish in the middle of a value leave nothing behind', async () => {
  const strata = await startStrataCache();
  try {
    for (let i = 0; i < 200; i++) {
      const s = await connect(strata.port);
      s.on('error', () => {});
      s.write(`set vanish:${i} 0 0 100000\r\n`);
      s.write(Buffer.alloc(50_000 + i, 'v'));
      s.destroy();
    }
    const session = await TextSession.open(strata.port);
    try {
      const r = await session.send(`get ${Array.from({ length: 200 }, (_, i) => `vanish:${i}`).join(' ')}\r\n`);
      assert.equal(r.reply.toString(), 'END\r\n');
    } finally {
      session.close();
    }
  } finally {
    await strata.close();
  }
});

test('a client that never reads cannot make the server buffer without bound', async () => {
  const strata = await startStrataProcess(['--cache-threads', '1', '--cache-memory', '64m']);
  let hog: net.Socket | undefined;
  try {
    const setup = await TextSession.open(strata.cachePort);
    const value = Buffer.alloc(512 * 1024, 'b');
    await setup.send(Buffer.concat([Buffer.from(`set big 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    setup.close();
    const before = strata.rss();
    hog = await connect(strata.cachePort);
    hog.pause(); // never read: 2,000 gets of 512 KB would be 1 GB of replies
    hog.write('get big\r\n'.repeat(2000));
    // While the hog's replies pile up, another client is still served, and memory stays bounded.
    let maxRss = before;
    for (let i = 0; i < 20; i++) {
      assert.ok(await answersVersion(strata.cachePort));
      maxRss = Math.max(maxRss, strata.rss());
    }
    assert.ok(maxRss - before < 64 * MiB, `RSS grew by ${((maxRss - before) / MiB).toFixed(1)} MiB`);
  } finally {
    hog?.destroy();
    await strata.stop();
  }
});

function openFileLimit(): number {
  const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 0;
}

test('10,000 idle connections are held, counted and released; the server keeps serving', async () => {
  const wanted = 10_000;
  assert.ok(openFileLimit() >= wanted + 500, `needs ulimit -n of at least ${wanted + 500} (have ${openFileLimit()}); .ci/run raises it`);
  const strata = await startStrataProcess(['--cache-threads', '2', '--cache-max-connections', '12000']);
  const sockets: net.Socket[] = [];
  try {
    const before = strata.rss();
    for (let i = 0; i < wanted; i += 500) {
      const batch = await Promise.all(Array.from({ length: 500 }, () => connect(strata.cachePort)));
      for (const s of batch) s.on('error', () => {});
      sockets.push(...batch);
    }
    const session = await TextSession.open(strata.cachePort);
    try {
      const deadline = Date.now() + 10_000;
      let curr = 0;
      while (Date.now() < deadline) {
        const stats = (await session.send('stats\r\n')).reply.toString();
        curr = Number(/STAT curr_connections (\d+)/.exec(stats)![1]);
        if (curr >= wanted + 1) break;
      }
      assert.equal(curr, wanted + 1);
      assert.equal((await session.send('set k 0 0 1\r\nx\r\nget k\r\n')).reply.toString(), 'STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n');
      const perConnection = (strata.rss() - before) / wanted;
      assert.ok(perConnection < 16 * 1024, `memory per idle connection ${perConnection.toFixed(0)} B`);
      for (const s of sockets) s.destroy();
      sockets.length = 0;
      const released = Date.now() + 10_000;
      while (Date.now() < released) {
        curr = Number(/STAT curr_connections (\d+)/.exec((await session.send('stats\r\n')).reply.toString())![1]);
        if (curr === 1) break;
      }
      assert.equal(curr, 1);
    } finally {
      session.close();
    }
  } finally {
    for (const s of sockets) s.destroy();
    await strata.stop();
  }
});

test('connections over the limit get memcached\'s error and are closed', async () => {
  const strata = await startStrataCache({ maxConnections: 5 });
  const sockets: net.Socket[] = [];
  try {
    for (let i = 0; i < 5; i++) sockets.push(await connect(strata.port));
    const r = await exchange(strata.port, 'version\r\n', () => false, 5000);
    assert.equal(r.reply.toString(), 'ERROR Too many open connections\r\n');
    assert.equal(r.closed, true);
    sockets.pop()!.destroy();
    const deadline = Date.now() + 5000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      const again = await exchange(strata.port, 'version\r\n', (b) => b.includes('\r\n'), 5000);
      ok = again.reply.toString().startsWith('VERSION');
    }
    assert.ok(ok, 'a freed slot is usable again');
  } finally {
    for (const s of sockets) s.destroy();
    await strata.close();
  }
});
