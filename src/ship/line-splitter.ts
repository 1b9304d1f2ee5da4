/** One line read from an input, without its newline, and where the input stands after it. */
export interface Line {
  value: Buffer;
  /** Milliseconds since the Unix epoch when the line was read (the record's timestamp). */
  timestamp: number;
  /** Byte position in the input just past this line (and its newline, if it had one). */
  end: number;
}

/**
 * Cuts a byte stream into lines at '\n' (a '\r' before it is kept: the line is passed on as
 * written). Bytes after the last newline wait for more input; a line longer than `maxLineBytes`
 * is passed on in pieces of that size so memory stays bounded.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Input position of the first byte not yet passed on in a line. */
  private consumed: number;

  constructor(
    private readonly maxLineBytes: number,
    start = 0,
  ) {
    this.consumed = start;
  }

  /** Bytes held back waiting for their newline. */
  get pendingBytes(): number {
    return this.partialBytes;
  }

  /** Input position up to which every byte has been passed on in a line. */
  get position(): number {
    return this.consumed;
  }

  push(chunk: Buffer, now = Date.now()): Line[] {
    const lines: Line[] = [];
    const emit = (bytes: Buffer, newline: boolean) => {
      const value = this.take(bytes);
      this.consumed += value.length + (newline ? 1 : 0);
      lines.push({ value, timestamp: now, end: this.consumed });
    };
    let from = 0;
    while (from < chunk.length) {
      const nl = chunk.indexOf(0x0a, from);
      const stop = nl === -1 ? chunk.length : nl;
      while (this.partialBytes + (stop - from) > this.maxLineBytes) {
        const piece = this.maxLineBytes - this.partialBytes;
        emit(chunk.subarray(from, from + piece), false);
        from += piece;
      }
      if (nl === -1) {
        // Copied: the caller may reuse its read buffer.
        this.partial.push(Buffer.from(chunk.subarray(from)));
        this.partialBytes += chunk.length - from;
        break;
      }
      emit(chunk.subarray(from, nl), true);
      from = nl + 1;
    }
    return lines;
  }

  /** The bytes held back as a last line (the input ended or was replaced), or null if none. */
  flush(now = Date.now()): Line | null {
    if (this.partialBytes === 0) return null;
    const value = this.take(Buffer.alloc(0));
    this.consumed += value.length;
    return { value, timestamp: now, end: this.consumed };
  }

  /** Forget held-back bytes and continue from `position` (a truncated file read again from its start). */
  reset(position: number): void {
    this.partial = [];
    this.partialBytes = 0;
    this.consumed = position;
  }

  private take(tail: Buffer): Buffer {
    if (this.partialBytes === 0) return Buffer.from(tail);
    const value = Buffer.concat([...this.partial, tail]);
    this.partial = [];
    this.partialBytes = 0;
    return value;
  }
}
