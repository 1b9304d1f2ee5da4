import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import {
  IdGenerator, ClockBackwardsError, SNOWFLAKE, INSTAGRAM, encodeId, decodeId, shardOf, snowflake, instagramIds, type IdLayout,
} from '../../src/patterns/ids.js';

/** A hand-driven clock that also moves on by 1 ms after `patience` reads without a move: time passing while a generator spins. */
class SpinningClock extends ManualClock {
  reads = 0;
  private sinceMove = 0;
  constructor(private readonly patience = 3) {
    super();
  }
  override nowMs(): number {
    this.reads++;
    if (++this.sinceMove > this.patience) {
      this.advance(1);
      this.sinceMove = 0;
    }
    return super.nowMs();
  }
  /** The time, without counting as a read. */
  peek(): number {
    return super.nowMs();
  }
  override advance(ms: number): void {
    this.sinceMove = 0;
    super.advance(ms);
  }
}

const layouts: [string, IdLayout][] = [['snowflake', SNOWFLAKE], ['instagram', INSTAGRAM]];
/** Steps: advance the clock by 0-3 ms, or take up to 3000 ids (beyond a millisecond's 1024 or 4096 sometimes). */
const steps = fc.array(fc.oneof(fc.record({ advance: fc.integer({ min: 0, max: 3 }) }), fc.record({ take: fc.integer({ min: 1, max: 3000 }) })), { maxLength: 12 });

for (const [name, layout] of layouts) {
  test(`${name}: ids from one generator strictly increase, and decode to the clock's ms, the node and the sequence`, () => {
    fc.assert(
      fc.property(steps, fc.integer({ min: 0, max: 2 ** layout.nodeBits - 1 }), (plan, node) => {
        const clock = new SpinningClock();
        const gen = new IdGenerator({ node, layout, clock });
        let last = -1n;
        let lastParts = { timestampMs: 0, sequence: -1 };
        for (const step of plan) {
          if ('advance' in step) clock.advance(step.advance);
          else
            for (let i = 0; i < step.take; i++) {
              const id = gen.next();
              assert.ok(id > last);
              const parts = decodeId(id, layout);
              assert.equal(parts.node, node);
              assert.equal(parts.timestampMs, clock.peek());
              // Same ms: the next sequence number; a later ms: sequence 0.
              if (parts.timestampMs === lastParts.timestampMs) assert.equal(parts.sequence, lastParts.sequence + 1);
              else assert.ok(parts.timestampMs > lastParts.timestampMs && parts.sequence === 0);
              last = id;
              lastParts = parts;
            }
        }
      }),
      { numRuns: 60 },
    );
  });

  test(`${name}: ids are unique across generators with different node ids sharing one clock`, () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 2 ** layout.nodeBits - 1 }), { minLength: 2, maxLength: 6 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 })), { maxLength: 2000 }),
        (nodes, calls) => {
          const clock = new ManualClock();
          const gens = nodes.map((node) => new IdGenerator({ node, layout, clock }));
          const seen = new Set<bigint>();
          for (const [pick, advance] of calls) {
            if (advance === 2) clock.advance(1);
            const g = pick % gens.length;
            const id = gens[g].next();
            assert.ok(!seen.has(id), `duplicate ${id}`);
            seen.add(id);
            assert.equal(decodeId(id, layout).node, nodes[g]);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test(`${name}: decode(encode(parts)) round-trips over the whole range`, () => {
    fc.assert(
      fc.property(
        fc.record({
          timestampMs: fc.bigInt({ min: 0n, max: 2n ** BigInt(layout.timeBits) - 1n }).map((t) => layout.epochMs + Number(t)),
          node: fc.integer({ min: 0, max: 2 ** layout.nodeBits - 1 }),
          sequence: fc.integer({ min: 0, max: 2 ** layout.sequenceBits - 1 }),
        }),
        (parts) => assert.deepEqual(decodeId(encodeId(parts, layout), layout), { ...parts }), // fast-check records have no prototype
      ),
    );
  });

  test(`${name}: when a millisecond's sequence runs out, next() waits for the next millisecond`, () => {
    const clock = new SpinningClock(5);
    const gen = new IdGenerator({ node: 1, layout, clock });
    const perMs = 2 ** layout.sequenceBits;
    const start = clock.nowMs();
    // Keep the clock still while the first perMs ids are taken.
    const ids: bigint[] = [];
    for (let i = 0; i < perMs; i++) {
      clock.advance(0);
      ids.push(gen.next());
    }
    assert.ok(ids.every((id) => decodeId(id, layout).timestampMs === start));
    const readsBefore = clock.reads;
    const next = decodeId(gen.next(), layout);
    assert.deepEqual(next, { timestampMs: start + 1, node: 1, sequence: 0 });
    assert.ok(clock.reads - readsBefore > 1, 'it read the clock until it moved');
  });

  test(`${name}: a clock that goes backwards makes next() throw until it catches up`, () => {
    const clock = new ManualClock();
    const gen = new IdGenerator({ node: 3, layout, clock });
    const before = gen.next();
    clock.advance(-5);
    assert.throws(() => gen.next(), (err: unknown) => err instanceof ClockBackwardsError && err.byMs === 5);
    clock.advance(5);
    assert.ok(gen.next() > before);
  });
}

test("Instagram's worked example: 1387263000 ms after the epoch, shard 1341, sequence 905", () => {
  const id = encodeId({ timestampMs: INSTAGRAM.epochMs + 1387263000, node: 1341, sequence: 905 }, INSTAGRAM);
  assert.equal(id, (1387263000n << 23n) | (1341n << 10n) | 905n);
  assert.equal(shardOf(id), 1341);
  const gen = instagramIds({ shardId: 1341, clock: new ManualClock() });
  assert.equal(shardOf(gen.next()), 1341);
});

test('snowflake layout: 41-bit time, 10-bit node, 12-bit sequence; out-of-range input is refused', () => {
  assert.equal(encodeId({ timestampMs: SNOWFLAKE.epochMs + 1, node: 1, sequence: 1 }), (1n << 22n) | (1n << 12n) | 1n);
  const max = encodeId({ timestampMs: SNOWFLAKE.epochMs + 2 ** 41 - 1, node: 1023, sequence: 4095 });
  assert.equal(max, 2n ** 63n - 1n);
  assert.throws(() => snowflake({ nodeId: 1024 }), RangeError);
  assert.throws(() => snowflake({ nodeId: 0, epochMs: Date.now() + 60_000 }).next(), RangeError); // before the epoch
  assert.throws(() => decodeId(2n ** 63n), RangeError);
  assert.throws(() => new IdGenerator({ node: 0, layout: { ...SNOWFLAKE, timeBits: 43 } }), RangeError);
});
