import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AcknowledgedCounterGenerator,
  CounterGenerator,
  DiscreteGenerator,
  ExponentialGenerator,
  HotspotIntegerGenerator,
  SCRAMBLED_ZETAN,
  ScrambledZipfianGenerator,
  SequentialGenerator,
  SkewedLatestGenerator,
  UniformLongGenerator,
  ZipfianGenerator,
  fnvhash64,
  javaStringHashCode,
  zetaStatic,
} from '../../bench/ycsb/generators.js';
import { seededRandom } from '../../bench/ycsb/random.js';

/** FNV-1a 64 over bytes, straight from its definition (an independent check of fnvhash64). */
function fnv1a64(bytes: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h;
}

function longBytes(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt.asIntN(64, v));
  return b;
}

/** How often each value came up in n draws. */
function counts(n: number, draw: () => number): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const v = draw();
    m.set(v, (m.get(v) ?? 0) + 1);
  }
  return m;
}

test('the reference FNV-1a 64 gives the published test vectors', () => {
  assert.equal(fnv1a64(Buffer.from('')), 0xcbf29ce484222325n);
  assert.equal(fnv1a64(Buffer.from('a')), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv1a64(Buffer.from('foobar')), 0x85944171f73967e8n);
});

test('fnvhash64 is FNV-1a over the little-endian long, made non-negative as Math.abs does', () => {
  for (const v of [0n, 1n, 2n, 42n, 999n, 1000n, 123456789n, 10_000_000_000n, -1n, -(1n << 63n), (1n << 63n) - 1n]) {
    const signed = BigInt.asIntN(64, fnv1a64(longBytes(v)));
    assert.equal(fnvhash64(v), signed < 0n ? -signed : signed, `value ${v}`);
  }
});

test('fnvhash64 matches values computed with Java long arithmetic (YCSB Utils.fnvhash64)', () => {
  // Printed by a Java 17 program doing YCSB's loop: h = (h ^ (val & 0xff)) * prime; val >>= 8; Math.abs(h).
  const java: Array<[number, string]> = [
    [0, '6284781860667377211'],
    [1, '8517097267634966620'],
    [2, '1820151046732198393'],
    [42, '55488592825689361'],
    [1000, '5952875239596136740'],
    [123456789, '2350796791908741607'],
    [10_000_000_000, '1201321332300452516'],
    [-1, '8289690350564177859'],
  ];
  for (const [v, expected] of java) assert.equal(fnvhash64(v).toString(), expected, `fnvhash64(${v})`);
});

test('fnvhash64 of a number equals that of the same bigint and is never negative except for Long.MIN_VALUE', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (v) => {
      const h = fnvhash64(v);
      if (h < 0n) assert.equal(h, -(1n << 63n));
      if (v >= -(2n ** 53n) && v <= 2n ** 53n) assert.equal(fnvhash64(Number(v)), h);
    }),
  );
});

test("javaStringHashCode matches Java's String.hashCode", () => {
  assert.equal(javaStringHashCode(''), 0);
  assert.equal(javaStringHashCode('hello'), 99162322);
  assert.equal(javaStringHashCode('user'), 3599307);
  assert.equal(javaStringHashCode('user6284781860667377211'), -594971599);
  assert.equal(javaStringHashCode('\u00e9t\u00e9 \ud83d\ude00'), -1803469019); // UTF-16 code units, surrogates included
});

test('zipfian draws match the Gray et al. formulas computed in Java for fixed u', () => {
  const us = [0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999999];
  let i = 0;
  const z = new ZipfianGenerator(0, 999, 0.99, undefined, () => us[i++ % us.length]);
  i = 0; // the constructor draws once, as YCSB's does
  assert.deepEqual(us.map(() => z.nextValue()), [0, 0, 2, 4, 22, 103, 471, 927, 999]);
  assert.ok(Math.abs(zetaStatic(0, 1000, 0.99, 0) - 7.728953217284729) < 1e-12);
});

test('scrambled zipfian draws match Java: fnvhash64 of the 10^10-item zipfian, mod the item count', () => {
  const us = [0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999999];
  let i = 0;
  const s = new ScrambledZipfianGenerator(0, 999, () => us[i++ % us.length]);
  i = 0;
  assert.deepEqual(us.map(() => s.nextValue()), [211, 587, 374, 599, 260, 938, 670, 521, 89]);
});

test('zipfian is deterministic for a seed, stays in range, and item 0 has frequency 1/zeta(n, 0.99)', () => {
  const n = 1000;
  const draws = 200_000;
  const a = ZipfianGenerator.ofItems(n, seededRandom(7));
  const b = ZipfianGenerator.ofItems(n, seededRandom(7));
  const seq = Array.from({ length: 100 }, () => a.nextValue());
  assert.deepEqual(Array.from({ length: 100 }, () => b.nextValue()), seq);
  const c = counts(draws, () => a.nextValue());
  for (const v of c.keys()) assert.ok(v >= 0 && v < n, `value ${v} out of range`);
  const zetan = zetaStatic(0, n, 0.99, 0);
  assert.ok(Math.abs(c.get(0)! / draws - 1 / zetan) < 0.005, `item 0: ${c.get(0)! / draws} vs ${1 / zetan}`);
  assert.ok(Math.abs(c.get(1)! / draws - 1 / (2 ** 0.99 * zetan)) < 0.005, 'item 1');
  assert.ok(c.get(0)! > c.get(1)! && c.get(1)! > c.get(10)!, 'popularity falls with the rank');
});

test('zipfian extends zeta when the item count grows, keeping the head at 1/zeta(new n)', () => {
  const z = ZipfianGenerator.ofItems(500, seededRandom(3));
  const draws = 200_000;
  const c = counts(draws, () => z.nextLong(2000));
  for (const v of c.keys()) assert.ok(v >= 0 && v < 2000);
  assert.ok([...c.keys()].some((v) => v >= 500), 'draws reach the added items');
  assert.ok(Math.abs(c.get(0)! / draws - 1 / zetaStatic(0, 2000, 0.99, 0)) < 0.005);
});

test('scrambled zipfian covers at least 99 % of 1000 keys and keeps the skew', () => {
  const s = new ScrambledZipfianGenerator(0, 999, seededRandom(11));
  const draws = 200_000;
  const c = counts(draws, () => s.nextValue());
  for (const v of c.keys()) assert.ok(v >= 0 && v <= 999);
  assert.ok(c.size >= 990, `covered ${c.size} of 1000 keys`);
  const sorted = [...c.values()].sort((x, y) => y - x);
  const hottest = [...c.entries()].sort((x, y) => y[1] - x[1])[0][0];
  assert.equal(hottest, Number(fnvhash64(0) % 1000n), 'the hottest key is where item 0 hashes to');
  assert.ok(sorted[0] / draws > 1 / SCRAMBLED_ZETAN - 0.005, `hottest key ${sorted[0] / draws}`);
  const top10pct = sorted.slice(0, 100).reduce((x, y) => x + y, 0) / draws;
  assert.ok(top10pct > 0.2, `the hottest 10 % of keys take ${top10pct} of the draws (uniform: 0.1)`);
});

test('acknowledged counter: lastValue advances only over a contiguous run of acknowledged values', () => {
  const g = new AcknowledgedCounterGenerator(10);
  assert.equal(g.lastValue(), 9);
  const [a, b, c] = [g.nextValue(), g.nextValue(), g.nextValue()];
  assert.deepEqual([a, b, c], [10, 11, 12]);
  g.acknowledge(12);
  g.acknowledge(11);
  assert.equal(g.lastValue(), 9, '10 is still pending');
  g.acknowledge(10);
  assert.equal(g.lastValue(), 12);
  assert.throws(() => {
    const h = new AcknowledgedCounterGenerator(0);
    h.acknowledge(5);
    h.acknowledge(5 + (1 << 20)); // same window slot, still pending
  }, /Too many unacknowledged/);
});

test('latest picks recent acknowledged keys and never an unacknowledged one', () => {
  const basis = new AcknowledgedCounterGenerator(100);
  const latest = new SkewedLatestGenerator(basis, seededRandom(5));
  const before = counts(50_000, () => latest.nextValue());
  assert.ok(Math.max(...before.keys()) <= 99 && Math.min(...before.keys()) >= 0);
  assert.equal([...before.entries()].sort((x, y) => y[1] - x[1])[0][0], 99, 'the newest key is the most popular');
  const pending = [basis.nextValue(), basis.nextValue(), basis.nextValue()];
  basis.acknowledge(pending[1]);
  basis.acknowledge(pending[2]);
  for (let i = 0; i < 20_000; i++) assert.ok(latest.nextValue() <= 99, 'key 100 is not acknowledged yet');
  basis.acknowledge(pending[0]);
  const after = counts(50_000, () => latest.nextValue());
  assert.ok(Math.max(...after.keys()) <= 102);
  assert.equal([...after.entries()].sort((x, y) => y[1] - x[1])[0][0], 102);
  const recent = [...after.entries()].filter(([k]) => k >= 93).reduce((s, [, n]) => s + n, 0) / 50_000;
  assert.ok(recent > 0.5, `the 10 newest of 103 keys take ${recent} of the draws`);
});

test('uniform covers its inclusive range evenly', () => {
  const u = new UniformLongGenerator(5, 14, seededRandom(1));
  const c = counts(100_000, () => u.nextValue());
  assert.deepEqual([...c.keys()].sort((x, y) => x - y), [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  for (const n of c.values()) assert.ok(Math.abs(n / 100_000 - 0.1) < 0.01);
});

test('discrete chooses in proportion to the weights', () => {
  const d = new DiscreteGenerator<string>(seededRandom(2));
  d.addValue(0.5, 'READ');
  d.addValue(0.3, 'UPDATE');
  d.addValue(0.2, 'SCAN');
  const c = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    const v = d.nextValue()!;
    c.set(v, (c.get(v) ?? 0) + 1);
  }
  assert.ok(Math.abs(c.get('READ')! / 1e5 - 0.5) < 0.01);
  assert.ok(Math.abs(c.get('UPDATE')! / 1e5 - 0.3) < 0.01);
  assert.ok(Math.abs(c.get('SCAN')! / 1e5 - 0.2) < 0.01);
  assert.equal(new DiscreteGenerator().nextValue(), null);
});

test('hotspot sends hotopnfraction of the draws to the first hotsetfraction of the range', () => {
  const h = new HotspotIntegerGenerator(0, 999, 0.2, 0.8, seededRandom(4));
  const c = counts(100_000, () => h.nextValue());
  const hot = [...c.entries()].filter(([k]) => k < 200).reduce((s, [, n]) => s + n, 0);
  assert.ok(Math.abs(hot / 100_000 - 0.8) < 0.01);
});

test('exponential puts percentile % of the draws below range', () => {
  const e = ExponentialGenerator.ofPercentile(95, 1000, seededRandom(6));
  let below = 0;
  for (let i = 0; i < 100_000; i++) if (e.nextValue() < 1000) below++;
  assert.ok(Math.abs(below / 100_000 - 0.95) < 0.005);
  const m = ExponentialGenerator.ofMean(50, seededRandom(8));
  let sum = 0;
  for (let i = 0; i < 100_000; i++) sum += m.nextValue();
  assert.ok(Math.abs(sum / 100_000 - 50) < 1);
});

test('counter and sequential generators', () => {
  const c = new CounterGenerator(7);
  assert.deepEqual([c.nextValue(), c.nextValue(), c.lastValue()], [7, 8, 8]);
  const s = new SequentialGenerator(3, 5);
  assert.deepEqual(Array.from({ length: 7 }, () => s.nextValue()), [3, 4, 5, 3, 4, 5, 3]);
});

test('every generator stays in its range for random parameters (property)', () => {
  const range = fc.tuple(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 1, max: 20_000 }));
  fc.assert(
    fc.property(range, fc.integer(), ([lb, width], seed) => {
      const ub = lb + width - 1;
      const rnd = seededRandom(seed);
      const gens = [
        new UniformLongGenerator(lb, ub, rnd),
        new ZipfianGenerator(lb, ub, 0.99, undefined, rnd),
        new ScrambledZipfianGenerator(lb, ub, rnd),
        new SequentialGenerator(lb, ub),
      ];
      for (const g of gens) {
        for (let i = 0; i < 200; i++) {
          const v = g.nextValue();
          assert.ok(Number.isInteger(v) && v >= lb && v <= ub, `${g.constructor.name} gave ${v} outside [${lb}, ${ub}]`);
        }
      }
    }),
    { numRuns: 60 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e6 }), fc.double({ min: -0.5, max: 1.5, noNaN: true }), fc.double({ min: -0.5, max: 1.5, noNaN: true }), fc.integer(), (lb, width, hotset, hotopn, seed) => {
      const h = new HotspotIntegerGenerator(lb, lb + width - 1, hotset, hotopn, seededRandom(seed));
      for (let i = 0; i < 200; i++) {
        const v = h.nextValue();
        assert.ok(Number.isInteger(v) && v >= lb && v < lb + width, `hotspot gave ${v}`);
      }
    }),
  );
  // From 3 records on: with one item at construction YCSB's eta is negative once the count grows,
  // and its formula leaves the range (YCSB's own behaviour for recordcount 2).
  fc.assert(
    fc.property(fc.integer({ min: 3, max: 5000 }), fc.integer({ min: 0, max: 50 }), fc.integer(), (start, inserts, seed) => {
      const basis = new AcknowledgedCounterGenerator(start);
      const latest = new SkewedLatestGenerator(basis, seededRandom(seed));
      for (let i = 0; i < inserts; i++) basis.acknowledge(basis.nextValue());
      for (let i = 0; i < 100; i++) {
        const v = latest.nextValue();
        assert.ok(Number.isInteger(v) && v >= 0 && v <= basis.lastValue(), `latest gave ${v}, last acknowledged ${basis.lastValue()}`);
      }
    }),
    { numRuns: 60 },
  );
  fc.assert(
    fc.property(fc.double({ min: 1, max: 99.9, noNaN: true }), fc.double({ min: 1, max: 1e9, noNaN: true }), fc.integer(), (pct, rng, seed) => {
      const e = ExponentialGenerator.ofPercentile(pct, rng, seededRandom(seed));
      for (let i = 0; i < 100; i++) assert.ok(e.nextValue() >= 0);
    }),
  );
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0.001, max: 10, noNaN: true }), { minLength: 1, maxLength: 5 }), fc.integer(), (weights, seed) => {
      const d = new DiscreteGenerator<number>(seededRandom(seed));
      weights.forEach((w, i) => d.addValue(w, i));
      for (let i = 0; i < 100; i++) {
        const v = d.nextValue()!;
        assert.ok(v >= 0 && v < weights.length);
      }
    }),
  );
});

test('seededRandom gives doubles in [0, 1) with 53 bits and repeats for a seed', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 10_000 }, () => a());
  assert.deepEqual(Array.from({ length: 10_000 }, () => b()), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.ok(xs.some((x) => (x * 2 ** 32) % 1 !== 0), 'more than 32 bits of precision');
  assert.notDeepEqual(Array.from({ length: 10 }, seededRandom(43)), xs.slice(0, 10));
});
