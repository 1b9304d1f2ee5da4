/**
 * Little-endian binary codecs for wire payloads: a growable writer and a bounds-checked reader.
 * A reader that runs past its end or meets a malformed field throws DecodeError, which protocol
 * servers turn into an error reply (the bytes came from outside; it is never a bug).
 */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

const TWO_32 = 2 ** 32;

export class BufferWriter {
  buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
    return this;
  }

  /** An unsigned integer up to 2^53, as u64le. */
  u64(v: number): this {
    this.ensure(8);
    this.buf.writeUInt32LE(v % TWO_32, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / TWO_32), this.pos + 4);
    this.pos += 8;
    return this;
  }

  /** A signed integer (|v| < 2^53), as i64le. */
  i64(v: number): this {
    this.ensure(8);
    this.buf.writeBigInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  /** u16le byte length, then UTF-8. */
  str(s: string): this {
    const n = Buffer.byteLength(s);
    if (n > 0xffff) throw new RangeError('string longer than 65535 bytes');
    this.u16(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos);
    return this;
  }

  /** u32le length, then the bytes; null is written as length 0xffffffff. */
  bytes(b: Uint8Array | null): this {
    if (b === null) return this.u32(0xffffffff);
    this.u32(b.length);
    this.raw(b);
    return this;
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** The bytes written so far (a view: valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class BufferReader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new DecodeError(`payload cut short reading ${what}`);
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): number {
    this.need(8, what);
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    if (hi >= 0x200000) throw new DecodeError(`${what} above 2^53`);
    this.pos += 8;
    return lo + hi * TWO_32;
  }

  i64(what = 'i64'): number {
    this.need(8, what);
    const v = this.buf.readBigInt64LE(this.pos);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new DecodeError(`${what} out of range`);
    this.pos += 8;
    return Number(v);
  }

  str(what = 'string'): string {
    const n = this.u16(what);
    this.need(n, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /** A view of the bytes (not a copy); null for length 0xffffffff. */
  bytes(what = 'bytes'): Buffer | null {
    const n = this.u32(what);
    if (n === 0xffffffff) return null;
    return this.raw(n, what);
  }

  raw(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** Throw unless every byte was read (trailing garbage is malformed). */
  done(what = 'payload'): void {
    if (this.pos !== this.end) throw new DecodeError(`${this.end - this.pos} unexpected bytes after ${what}`);
  }
}
