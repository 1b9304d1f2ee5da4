import { hash } from 'node:crypto';

/**
 * The first 32 bits (little-endian) of MD5, which is all ketama uses of a key's digest. Keys of
 * up to 55 bytes (one MD5 block, nearly every cache key) are hashed here in JS without
 * allocating: about ten times cheaper than a call into node:crypto, which dominated the
 * router's per-key cost. Longer inputs go to node:crypto.
 */
const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
const K = new Int32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;
const block = new Uint8Array(64);
const words = new Int32Array(16);

export function md5First32(input: Uint8Array): number {
  const n = input.length;
  if (n > 55) return hash('md5', input, 'buffer').readUInt32LE(0);
  block.fill(0);
  block.set(input);
  block[n] = 0x80;
  const bits = n * 8;
  block[56] = bits & 0xff;
  block[57] = bits >>> 8;
  for (let i = 0; i < 16; i++) words[i] = block[i * 4] | (block[i * 4 + 1] << 8) | (block[i * 4 + 2] << 16) | (block[i * 4 + 3] << 24);
  const a0 = 0x67452301;
  const b0 = 0xefcdab89 | 0;
  const c0 = 0x98badcfe | 0;
  const d0 = 0x10325476;
  let a = a0;
  let b = b0;
  let c = c0;
  let d = d0;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const sum = (a + f + K[i] + words[g]) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << S[i]) | (sum >>> (32 - S[i])))) | 0;
  }
  return (a0 + a) >>> 0;
}
