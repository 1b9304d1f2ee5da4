/**
 * Number parsing with the exact acceptance rules of memcached's safe_strtoul / safe_strtol /
 * safe_strtoull (C strtoul semantics): leading whitespace and a sign are accepted, the number must
 * end at the end of the token or at whitespace, overflow is an error, a negative value is an error
 * for the unsigned forms, and the 32-bit forms keep the low 32 bits of a 64-bit result.
 * All return NaN (or -1n) for "not a valid number".
 */

const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);
const U64_MAX = (1n << 64n) - 1n;

/** Parse bytes[from,to) like strtoull; returns the 64-bit value, or -1n when invalid. */
export function parseU64(bytes: Uint8Array, from: number, to: number): bigint {
  let i = from;
  while (i < to && isSpace(bytes[i])) i++;
  let neg = false;
  if (i < to && (bytes[i] === 43 || bytes[i] === 45)) neg = bytes[i++] === 45;
  const start = i;
  let v = 0n;
  let small = 0;
  while (i < to && bytes[i] >= 48 && bytes[i] <= 57) {
    if (i - start < 15) small = small * 10 + (bytes[i] - 48);
    else {
      if (i - start === 15) v = BigInt(small);
      v = v * 10n + BigInt(bytes[i] - 48);
      if (v > U64_MAX) return -1n;
    }
    i++;
  }
  if (i === start) return -1n;
  if (i < to && !isSpace(bytes[i])) return -1n;
  if (i - start <= 15) v = BigInt(small);
  if (neg && v !== 0n) {
    // strtoull negates; memcached rejects it when the result looks negative as a signed value.
    const wrapped = (U64_MAX + 1n - v) & U64_MAX;
    if (wrapped >= 1n << 63n) return -1n;
    return wrapped;
  }
  return v;
}

/** Fast path for the common case: plain digits only, below 2^53. Returns -1 if not that simple. */
function simpleDigits(bytes: Uint8Array, from: number, to: number): number {
  const n = to - from;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = bytes[i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** safe_strtoul into a uint32: NaN when invalid. */
export function parseU32(bytes: Uint8Array, from: number, to: number): number {
  const simple = simpleDigits(bytes, from, to);
  if (simple >= 0) return simple >>> 0;
  const v = parseU64(bytes, from, to);
  if (v < 0n) return NaN;
  return Number(v & 0xffffffffn);
}

/** safe_strtol into an int32 (strtol on a 64-bit long, then truncated): NaN when invalid. */
export function parseI32(bytes: Uint8Array, from: number, to: number): number {
  const simple = simpleDigits(bytes, from, to);
  if (simple >= 0) return simple | 0;
  let i = from;
  while (i < to && isSpace(bytes[i])) i++;
  let neg = false;
  if (i < to && (bytes[i] === 43 || bytes[i] === 45)) neg = bytes[i++] === 45;
  const start = i;
  let v = 0n;
  while (i < to && bytes[i] >= 48 && bytes[i] <= 57) {
    v = v * 10n + BigInt(bytes[i] - 48);
    if (v > 1n << 63n) return NaN;
    i++;
  }
  if (i === start) return NaN;
  if (i < to && !isSpace(bytes[i])) return NaN;
  if (neg) v = -v;
  if (v > (1n << 63n) - 1n) return NaN;
  return Number(BigInt.asIntN(32, v));
}
