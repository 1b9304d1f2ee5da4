import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32c } from '../../src/core/crc32c.js';

/** The definition, bit by bit (reflected polynomial 0x82f63b78). */
function reference(b: Uint8Array, from: number, to: number): number {
  let c = ~0;
  for (let i = from; i < to; i++) {
    c ^= b[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

test('CRC-32C of "123456789" is the standard check value e3069283', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
});

test('slicing-by-8 equals the bitwise definition for any bytes and range', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (bytes, a, b) => {
      const from = bytes.length ? a % (bytes.length + 1) : 0;
      const to = from + (bytes.length - from ? b % (bytes.length - from + 1) : 0);
      return crc32c(bytes, from, to) === reference(bytes, from, to);
    }),
    { numRuns: 2000 },
  );
});
