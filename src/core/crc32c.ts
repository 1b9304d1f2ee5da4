/** CRC-32C (Castagnoli), the checksum of Strata's on-disk records; table-driven, one byte at a time. */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

export function crc32c(buf: Uint8Array, from = 0, to = buf.length, seed = 0): number {
  let crc = ~seed;
  for (let i = from; i < to; i++) crc = TABLE[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
