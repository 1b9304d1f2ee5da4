import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder, FrameError, frameHeader, type Frame } from '../../src/net/rpc-frame.js';

const frameArb = fc.record({
  kind: fc.integer({ min: 0, max: 3 }),
  method: fc.integer({ min: 0, max: 0xffff }),
  id: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 3000 }),
});

test('frames cut into reads of any sizes, from a reused read buffer, come out whole and unchanged', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }), (frames, cuts) => {
      const stream = Buffer.concat(frames.flatMap((f) => [frameHeader(f.kind, f.method, f.id, f.payload.length), Buffer.from(f.payload)]));
      const decoder = new FrameDecoder();
      const got: Frame[] = [];
      // Like the TCP server's static read buffer: the same memory for every read, overwritten after.
      const scratch = Buffer.alloc(5000);
      let pos = 0;
      for (let i = 0; pos < stream.length; i++) {
        const n = Math.min(cuts[i % cuts.length], stream.length - pos);
        stream.copy(scratch, 0, pos, pos + n);
        decoder.push(scratch.subarray(0, n), (f) => got.push(f));
        scratch.fill(0xee);
        pos += n;
      }
      assert.equal(got.length, frames.length);
      got.forEach((g, i) => {
        assert.equal(g.kind, frames[i].kind);
        assert.equal(g.method, frames[i].method);
        assert.equal(g.id, frames[i].id);
        assert.deepEqual(new Uint8Array(g.payload), frames[i].payload);
      });
      assert.equal(decoder.buffered, 0);
    }),
    { numRuns: 300 },
  );
});

test('a length outside the limits is refused as soon as its four bytes are in, split or not', () => {
  for (const split of [1, 2, 3, 4, 12]) {
    const decoder = new FrameDecoder(1024);
    const bad = frameHeader(0, 1, 1, 2000);
    assert.throws(() => {
      decoder.push(bad.subarray(0, split), () => {});
      decoder.push(bad.subarray(split), () => {});
    }, FrameError);
  }
});
