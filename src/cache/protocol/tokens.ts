/**
 * memcached's tokenize_command over a Buffer, without allocating: tokens split on spaces only,
 * at most MAX_TOKENS - 1 real tokens (the rest of the line then is left over), and the line ends
 * at the first NUL byte as C's strlen would see it.
 */
export const MAX_TOKENS = 24;

export class Tokens {
  readonly start = new Int32Array(MAX_TOKENS);
  readonly end = new Int32Array(MAX_TOKENS);
  /** Number of real tokens. */
  count = 0;
  /** memcached's ntokens: real tokens plus the terminal token. */
  get ntokens(): number {
    return this.count + 1;
  }
  /** Offset of the unprocessed rest of the line when it had too many tokens, else -1. */
  rest = -1;
  lineEnd = 0;
  buf: Buffer = Buffer.alloc(0);

  tokenize(buf: Buffer, from: number, to: number): void {
    this.buf = buf;
    this.rest = -1;
    let n = 0;
    let s = from;
    for (let i = from; i < to; i++) {
      const c = buf[i];
      if (c === 0) {
        to = i;
        break;
      }
      if (c === 32) {
        if (i > s) {
          this.start[n] = s;
          this.end[n] = i;
          n++;
          if (n === MAX_TOKENS - 1) {
            s = i + 1;
            this.rest = s < to ? s : -1;
            this.lineEnd = to;
            this.count = n;
            return;
          }
        }
        s = i + 1;
      }
    }
    this.lineEnd = to;
    if (to > s) {
      this.start[n] = s;
      this.end[n] = to;
      n++;
    }
    this.count = n;
  }

  length(i: number): number {
    return this.end[i] - this.start[i];
  }

  /** Whether token i equals an ASCII word. */
  is(i: number, word: string): boolean {
    const s = this.start[i];
    if (this.end[i] - s !== word.length) return false;
    for (let j = 0; j < word.length; j++) if (this.buf[s + j] !== word.charCodeAt(j)) return false;
    return true;
  }

  /** First byte of token i. */
  first(i: number): number {
    return this.buf[this.start[i]];
  }

  /** memcached's set_noreply_maybe: the last real token is "noreply". */
  noreply(): boolean {
    return this.count > 0 && this.is(this.count - 1, 'noreply');
  }
}
