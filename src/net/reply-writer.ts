const SLAB_SIZE = 64 * 1024;

/**
 * Accumulates a batch of replies in a pooled slab and hands the socket one Buffer per batch.
 * The flushed region is never reused (the socket may still hold it), so no copy is made:
 * writing continues after it, and a new slab is taken when this one is full.
 */
export class ReplyWriter {
  private buf: Buffer = Buffer.allocUnsafe(SLAB_SIZE);
  private start = 0;
  private pos = 0;

  /** Replies queued beyond this should stop request processing until the socket drains. */
  constructor(readonly highWater = 4 * 1024 * 1024) {}

  get pending(): number {
    return this.pos - this.start;
  }

  /** Whether the unflushed replies passed the high-water mark. */
  get full(): boolean {
    return this.pos - this.start > this.highWater;
  }

  /** Make room for n more bytes, moving the unflushed part to a new slab if needed. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const unflushed = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB_SIZE, (unflushed + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = unflushed;
  }

  /** Append an ASCII/latin1 string (short ones byte by byte: cheaper than a call into C++). */
  ascii(s: string): this {
    const n = s.length;
    this.reserve(n);
    if (n < 32) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < n; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += this.buf.write(s, this.pos, 'latin1');
    }
    return this;
  }

  /** Append raw bytes src[from, to). */
  bytes(src: Buffer, from = 0, to = src.length): this {
    const n = to - from;
    this.reserve(n);
    if (n < 32) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = from; i < to; i++) buf[p++] = src[i];
    } else {
      src.copy(this.buf, this.pos, from, to);
    }
    this.pos += n;
    return this;
  }

  byte(b: number): this {
    this.reserve(1);
    this.buf[this.pos++] = b;
    return this;
  }

  crlf(): this {
    this.reserve(2);
    this.buf[this.pos++] = 13;
    this.buf[this.pos++] = 10;
    return this;
  }

  /** Append a non-negative integer (up to 2^53) in decimal, without making a string. */
  decimal(n: number): this {
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    this.reserve(digits);
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = Math.floor(n / 10);
      buf[--p] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
    return this;
  }

  /** Reserve n bytes for the caller to fill in `target` at the returned offset. */
  claim(n: number): number {
    this.reserve(n);
    const offset = this.pos;
    this.pos += n;
    return offset;
  }

  /** The buffer `claim` offsets point into (valid until the next write). */
  get target(): Buffer {
    return this.buf;
  }

  /** The current write position, a mark for `rewind`. */
  get position(): number {
    return this.pos;
  }

  /** Drop every reply written since the last flush. */
  discardUnflushed(): void {
    this.pos = this.start;
  }

  /** Drop everything written since `mark` (a value of `position`). */
  rewind(mark: number): void {
    this.pos = mark;
  }

  /** Hand the batch to `write` (a socket's) as one Buffer, without copying. Returns what write returned. */
  flush(write: (chunk: Buffer) => boolean): boolean {
    if (this.pos === this.start) return true;
    const chunk = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    if (this.buf.length - this.pos < 512) {
      this.buf = Buffer.allocUnsafe(SLAB_SIZE);
      this.start = this.pos = 0;
    }
    return write(chunk);
  }

  /** Take the pending batch as a Buffer (for tests and in-process callers). */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
    return out;
  }
}
