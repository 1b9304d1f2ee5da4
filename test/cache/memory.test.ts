import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startStrataProcess } from '../helpers/strata-process.js';
import { TextSession } from '../helpers/text-session.js';

const MiB = 1024 * 1024;
const ITEMS = 1_000_000;
const VALUE_SIZE = 100;
const LIMIT = 64 * MiB;
/**
 * What the Strata process may hold resident beyond its 64 MiB item limit, at any time (VmHWM).
 * Measured on the 2-core test machine, run from source through tsx as here: 83-88 MiB resident
 * before loading (Node, V8, tsx's loader, the code) and 156-161 MiB at the peak, after the
 * million sets, i.e. 92-97 MiB beyond the limit: the idle process, the 1 MiB hash table, and
 * about 8 MiB of V8 heap and buffers from parsing 140 MB of requests. (From dist/ the idle
 * process is 27 MiB smaller.) The bound leaves 31 MiB of margin.
 */
const OVERHEAD = 128 * MiB;
/**
 * What loading may add on top of the process's resident size before it (measured: 73 MiB, the
 * 64 MiB of items, the hash table, heap growth). Catches item memory kept outside the store.
 */
const GROWTH = LIMIT + 24 * MiB;

const key = (i: number) => `mem:${i}`;

/** 100 bytes that belong to one key: its name, then xorshift noise seeded by it (every byte value, CR and LF included). */
function valueOf(i: number, out: Buffer = Buffer.alloc(VALUE_SIZE), at = 0): Buffer {
  const name = `${key(i)}|`;
  out.write(name, at, 'latin1');
  let x = (Math.imul(i + 1, 0x9e3779b1) >>> 0) || 1;
  for (let p = at + name.length; p < at + VALUE_SIZE; p++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[p] = x & 0xff;
  }
  return out;
}

function stat(text: string, name: string): number {
  const m = new RegExp(`^STAT ${name} (\\d+)\\r$`, 'm').exec(text);
  assert.ok(m, `stat ${name} present`);
  return Number(m[1]);
}

/** Parse a get reply strictly (VALUE line, exactly <bytes> bytes, CRLF, ..., END): nothing may be out of place. */
function parseValues(reply: Buffer): Map<string, { flags: number; data: Buffer }> {
  const out = new Map<string, { flags: number; data: Buffer }>();
  let pos = 0;
  for (;;) {
    const nl = reply.indexOf('\r\n', pos);
    assert.ok(nl >= 0, 'reply ends with END');
    const line = reply.toString('latin1', pos, nl);
    if (line === 'END') {
      assert.equal(nl + 2, reply.length, 'nothing after END');
      return out;
    }
    const m = /^VALUE (\S+) (\d+) (\d+)$/.exec(line);
    assert.ok(m, `a VALUE line, not ${JSON.stringify(line.slice(0, 80))}`);
    const start = nl + 2;
    const end = start + Number(m[3]);
    assert.equal(reply.toString('latin1', end, end + 2), '\r\n', `value of ${m[1]} ends where its length says`);
    assert.ok(!out.has(m[1]), `${m[1]} returned once`);
    out.set(m[1], { flags: Number(m[2]), data: reply.subarray(start, end) });
    pos = end + 2;
  }
}

/** A seeded generator, so a failing sample can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 0x100000000;
}

test('1M items of 100 bytes into a 64 MB limit: RSS bounded, evictions counted, nothing corrupted', async (t) => {
  // Its own process, so the resident memory measured is Strata's alone.
  const strata = await startStrataProcess(['--cache-memory', '64m', '--cache-threads', '1']);
  const session = await TextSession.open(strata.cachePort);
  try {
    const before = strata.rss();
    const BATCH = 5000;
    for (let i = 0; i < ITEMS; i += BATCH) {
      const parts: Buffer[] = [];
      for (let j = i; j < i + BATCH; j++) {
        parts.push(Buffer.from(`set ${key(j)} ${j} 0 ${VALUE_SIZE} noreply\r\n`, 'latin1'), valueOf(j), Buffer.from('\r\n'));
      }
      // Pipelined: 5,000 sets in one write, then `mn` to know they were all processed.
      const r = await session.send(Buffer.concat(parts), 30_000);
      assert.deepEqual([r.reply.toString('latin1').slice(0, 200), r.timedOut, r.closed], ['', false, false], `sets ${i}..${i + BATCH - 1}`);
    }
    const after = strata.rss();
    const peak = strata.peakRss();
    t.diagnostic(`RSS before ${(before / MiB).toFixed(1)} MiB, after ${(after / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB`);
    assert.ok(peak < LIMIT + OVERHEAD, `peak RSS ${(peak / MiB).toFixed(1)} MiB stays under 64 + ${OVERHEAD / MiB} MiB`);
    assert.ok(after < LIMIT + OVERHEAD, `RSS ${(after / MiB).toFixed(1)} MiB stays under 64 + ${OVERHEAD / MiB} MiB`);
    assert.ok(peak - before < GROWTH, `loading added ${((peak - before) / MiB).toFixed(1)} MiB (bound ${GROWTH / MiB} MiB)`);

    const stats = (await session.send('stats\r\n')).reply.toString();
    const items = stat(stats, 'curr_items');
    const evictions = stat(stats, 'evictions');
    t.diagnostic(`curr_items ${items}, evictions ${evictions}`);
    assert.ok(evictions > 0, 'evictions counted');
    assert.equal(items + evictions, ITEMS, 'every set was stored or evicted');
    assert.equal(stat(stats, 'total_items'), ITEMS);
    assert.equal(stat(stats, 'limit_maxbytes'), LIMIT);
    assert.ok(stat(stats, 'bytes') <= LIMIT);

    // The newest 50,000 and 50,000 distinct keys drawn at random: a hit must be exactly its own value.
    const check = async (ids: number[]) => {
      const r = await session.send(`get ${ids.map(key).join(' ')}\r\n`, 10_000);
      assert.deepEqual([r.timedOut, r.closed], [false, false]);
      const values = parseValues(r.reply);
      const asked = new Set(ids.map(key));
      for (const [name, { flags, data }] of values) {
        assert.ok(asked.has(name), `${name} was asked for`);
        const id = Number(name.slice(4));
        assert.equal(flags, id, `flags of ${name}`);
        assert.ok(data.equals(valueOf(id)), `value of ${name}: ${data.toString('hex')}`);
      }
      return values.size;
    };
    let newestHits = 0;
    for (let i = ITEMS - 50_000; i < ITEMS; i += 500) newestHits += await check(Array.from({ length: 500 }, (_, j) => i + j));
    const random = lcg(12345);
    const drawn = new Set<number>();
    while (drawn.size < 50_000) drawn.add(Math.floor(random() * ITEMS));
    const sample = [...drawn];
    let randomHits = 0;
    for (let i = 0; i < sample.length; i += 500) randomHits += await check(sample.slice(i, i + 500));
    t.diagnostic(`hits: newest ${newestHits} of 50000, random ${randomHits} of 50000`);
    // The store evicts the least recently used items: the newest 50,000 are all there.
    assert.equal(newestHits, 50_000, 'the most recent items are all there');
    assert.ok(randomHits > 0, 'the random sample found stored items');
  } finally {
    session.close();
    await strata.stop();
  }
});
