import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStrataCache } from '../helpers/strata.js';
import { TextSession } from '../helpers/text-session.js';

/** A value whose bytes tell which key and version wrote it, so a torn or misplaced value shows. */
const valueFor = (key: string, version: number) => `${key}|${version}|`.padEnd(200 + (version % 50), '#');

/**
 * Several connections spread over two worker threads write and read the same keys on one shared
 * store; under a small memory limit (evictions and page moves happen) every value read must be a
 * whole value some writer wrote for that key.
 */
test('two threads share one store without torn or misplaced values', async () => {
  const cache = await startStrataCache({ threads: 2, memoryLimit: 2 * 1024 * 1024 });
  const sessions: TextSession[] = [];
  try {
    for (let i = 0; i < 8; i++) sessions.push(await TextSession.open(cache.port));
    let hits = 0;
    await Promise.all(
      sessions.map(async (s, worker) => {
        for (let round = 0; round < 60; round++) {
          let batch = '';
          const keys: string[] = [];
          for (let j = 0; j < 40; j++) {
            const key = `k${(round * 733 + j * 97 + worker * 7919) % 20000}`;
            const v = valueFor(key, round * 100 + worker);
            batch += `set ${key} ${worker} 0 ${v.length}\r\n${v}\r\n`;
            keys.push(`k${(round * 541 + j * 131 + worker * 37) % 20000}`);
          }
          batch += `get ${keys.join(' ')}\r\n`;
          const { reply, closed, timedOut } = await s.send(batch);
          assert.ok(!closed && !timedOut);
          const text = reply.toString('latin1');
          assert.equal(text.match(/^STORED\r$/gm)?.length, 40);
          for (const m of text.matchAll(/^VALUE (\S+) (\d+) (\d+)\r\n([^\r]*)\r$/gm)) {
            const [, key, , bytes, data] = m;
            assert.equal(data.length, Number(bytes));
            const [k, version] = data.split('|');
            assert.equal(k, key, 'value belongs to its key');
            assert.equal(data, valueFor(key, Number(version)), 'value is whole');
            hits++;
          }
        }
      }),
    );
    assert.ok(hits > 0, 'some reads hit');
    const stats = (await sessions[0].send('stats\r\n')).reply.toString();
    assert.match(stats, /STAT threads 2\r\n/);
    assert.match(stats, /STAT evictions [1-9]\d*\r\n/);
    // Both threads served connections: the per-thread rows of total_connections add up.
    assert.match(stats, /STAT total_connections 8\r\n/);
  } finally {
    for (const s of sessions) s.close();
    await cache.close();
  }
});

test('connections are spread over the worker threads', async () => {
  // A burst of connections tends to land on one thread (libuv accepts until the backlog is
  // empty), so connect one at a time, each answered before the next, until both threads served.
  const cache = await startStrataCache({ threads: 2 });
  const sessions: TextSession[] = [];
  try {
    let rows = [0, 0];
    for (let i = 0; i < 300 && (rows[0] === 0 || rows[1] === 0); i++) {
      const s = await TextSession.open(cache.port);
      sessions.push(s);
      assert.match((await s.send('version\r\n')).reply.toString(), /^VERSION /);
      rows = [0, 1].map((row) => cache.store.statRowValue(row, 'total_connections'));
    }
    assert.ok(rows[0] > 0 && rows[1] > 0, `both threads accepted connections: ${rows.join(', ')}`);
    assert.equal(rows[0] + rows[1], sessions.length);
  } finally {
    for (const s of sessions) s.close();
    await cache.close();
  }
});
