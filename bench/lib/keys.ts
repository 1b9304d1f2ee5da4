/** Keys and values of the load generator: key i is "k" + 9 digits (10 bytes); its value starts with the key. */
export const KEY_LEN = 10;

/** Write key i at buf[off..off+10). */
export function writeKey(buf: Buffer, off: number, i: number): void {
  buf[off] = 0x6b; // k
  for (let j = off + KEY_LEN - 1; j > off; j--) {
    buf[j] = 48 + (i % 10);
    i = Math.floor(i / 10);
  }
}

/** Writes "set <key> 0 0 <size>\r\n<key><filler>\r\n" commands (optionally noreply). */
export class SetWriter {
  private readonly head: Buffer;
  private readonly filler: Buffer;
  readonly maxBytes: number;

  constructor(readonly valueSize: number, noreply = false) {
    if (valueSize < KEY_LEN) throw new Error(`values must be at least ${KEY_LEN} bytes`);
    this.head = Buffer.from(` 0 0 ${valueSize}${noreply ? ' noreply' : ''}\r\n`, 'latin1');
    this.filler = Buffer.alloc(valueSize - KEY_LEN + 2, 0x76); // 'v'…, then \r\n
    this.filler[this.filler.length - 2] = 13;
    this.filler[this.filler.length - 1] = 10;
    this.maxBytes = 4 + KEY_LEN + this.head.length + valueSize + 2;
  }

  /** Write the set of key i at off; returns the new offset. */
  write(buf: Buffer, off: number, i: number): number {
    buf.write('set ', off, 'latin1');
    writeKey(buf, off + 4, i);
    off += 4 + KEY_LEN;
    off += this.head.copy(buf, off);
    writeKey(buf, off, i);
    off += KEY_LEN;
    return off + this.filler.copy(buf, off);
  }
}

/** Writes "get k1 k2 …\r\n". */
export function writeGet(buf: Buffer, off: number, keys: ArrayLike<number>, count: number): number {
  buf.write('get', off, 'latin1');
  off += 3;
  for (let j = 0; j < count; j++) {
    buf[off++] = 0x20;
    writeKey(buf, off, keys[j]);
    off += KEY_LEN;
  }
  buf[off++] = 13;
  buf[off++] = 10;
  return off;
}

export const getBytes = (count: number): number => 3 + count * (KEY_LEN + 1) + 2;

/** xorshift32: a small, seeded, fast generator (state must be non-zero). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
