import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { md5First32 } from '../../src/router/md5.js';

test('md5First32 equals the first 4 bytes (little-endian) of node:crypto md5, for every length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 130 }), (bytes) => {
      assert.equal(md5First32(bytes), createHash('md5').update(bytes).digest().readUInt32LE(0));
    }),
    { numRuns: 5000 },
  );
  for (let n = 0; n <= 70; n++) {
    const b = Buffer.alloc(n, 0xff);
    assert.equal(md5First32(b), createHash('md5').update(b).digest().readUInt32LE(0), `length ${n}`);
  }
});
