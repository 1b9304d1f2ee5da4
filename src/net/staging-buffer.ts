/**
 * Collects a block of announced size that arrives in pieces. Memory grows with the bytes that
 * actually arrived (doubling from 16 KiB), not with the size a client announced, so a client
 * that announces a large value and sends nothing holds almost nothing.
 */
export class StagingBuffer {
  private buf: Buffer;
  private filled = 0;

  constructor(readonly size: number) {
    this.buf = Buffer.allocUnsafe(Math.min(size, 16 * 1024));
  }

  /** Copy from src[from, to) up to the missing bytes; returns how many were taken. */
  fill(src: Buffer, from: number, to: number): number {
    const n = Math.min(to - from, this.size - this.filled);
    if (this.filled + n > this.buf.length) {
      let cap = this.buf.length;
      while (cap < this.filled + n) cap *= 2;
      const grown = Buffer.allocUnsafe(Math.min(cap, this.size));
      this.buf.copy(grown, 0, 0, this.filled);
      this.buf = grown;
    }
    src.copy(this.buf, this.filled, from, from + n);
    this.filled += n;
    return n;
  }

  get complete(): boolean {
    return this.filled === this.size;
  }

  /** The collected block (valid once complete). */
  get block(): Buffer {
    return this.buf;
  }
}
