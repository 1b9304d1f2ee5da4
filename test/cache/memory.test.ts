import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStrataProcess } from '../helpers/strata-process.js';
import { TextSession } from '../helpers/text-session.js';

const MiB = 1024 * 1024;
const ITEMS = 1_000_000;
const LIMIT = 64 * MiB;
/**
 * What Strata may hold beyond its item memory limit, on top of the process's resident size
 * before loading (Node, V8, the code): the hash table (4 bytes per bucket; at most 4 MiB for
 * 64 MiB of items), connection buffers, and V8 heap growth from parsing 110 MB of requests.
 * Measured on the 2-core machine: about 10 MiB; the bound leaves room for noise.
 */
const OVERHEAD = 32 * MiB;

const key = (i: number) => `mem:${i}`;
/** 100 bytes that tell which key they belong to, so a value returned for the wrong key shows. */
const valueOf = (i: number) => `${key(i)}|`.padEnd(100, String.fromCharCode(97 + (i % 26)));

function stat(text: string, name: string): number {
  const m = new RegExp(`^STAT ${name} (\\d+)\\r$`, 'm').exec(text);
  assert.ok(m, `stat ${name} present`);
  return Number(m[1]);
}

test('1M items of 100 bytes into a 64 MB limit: RSS bounded, evictions counted, nothing corrupted', async () => {
  const strata = await startStrataProcess(['--cache-memory', '64m', '--cache-threads', '1']);
  const session = await TextSession.open(strata.cachePort);
  try {
    const before = strata.rss();
    for (let i = 0; i < ITEMS; i += 5000) {
      let batch = '';
      for (let j = i; j < i + 5000; j++) batch += `set ${key(j)} ${j} 0 100 noreply\r\n${valueOf(j)}\r\n`;
      const r = await session.send(batch, 30_000);
      assert.equal(r.reply.length, 0, `no error while loading: ${r.reply.toString().slice(0, 200)}`);
    }
    const after = strata.rss();
    assert.ok(after < before + LIMIT + OVERHEAD, `RSS ${(after / MiB).toFixed(1)} MiB stays under ${(before / MiB).toFixed(1)} + 64 + 32 MiB`);

    const stats = (await session.send('stats\r\n')).reply.toString();
    const items = stat(stats, 'curr_items');
    const evictions = stat(stats, 'evictions');
    assert.ok(evictions > 0, 'evictions counted');
    assert.equal(items + evictions, ITEMS, 'every set was stored or evicted');
    assert.ok(stat(stats, 'limit_maxbytes') <= LIMIT);

    // The newest 50,000 and 50,000 spread over all keys: a hit must be exactly its own value.
    let hits = 0;
    const check = async (ids: number[]) => {
      const r = (await session.send(`get ${ids.map(key).join(' ')}\r\n`)).reply.toString('latin1');
      for (const m of r.matchAll(/^VALUE (\S+) (\d+) (\d+)\r\n([^\r]*)\r$/gm)) {
        const id = Number(m[1].slice(4));
        assert.equal(Number(m[2]), id >>> 0, `flags of ${m[1]}`);
        assert.equal(m[4], valueOf(id), `value of ${m[1]}`);
        hits++;
      }
      assert.match(r, /END\r\n$/);
    };
    for (let i = ITEMS - 50_000; i < ITEMS; i += 500) await check(Array.from({ length: 500 }, (_, j) => i + j));
    for (let i = 0; i < 100; i++) await check(Array.from({ length: 500 }, (_, j) => (i * 500 + j) * 19 % ITEMS));
    assert.ok(hits >= 40_000, `the most recent items are there (${hits} hits)`);
  } finally {
    session.close();
    await strata.stop();
  }
});
