/**
 * Minimal reply parser for the text protocol replies the load generator asks for: get/multiget
 * (VALUE blocks then END) and set (STORED). Any other line (SERVER_ERROR, ERROR, NOT_STORED…)
 * ends the current request as an error. Checks each value: length, and that it starts with its key
 * (the generator stores every value that way), so wrong data is counted, not just timed.
 */
const LF = 10;
const SP = 32;

export const REPLY_OK = 0;
export const REPLY_ERROR = 1;

/**
 * Called once per complete reply, in order. firstKey: numeric part of the first VALUE's key, or -1;
 * keySum: sum of the numeric parts of every VALUE's key (only with `sumKeys`, else 0).
 */
export type OnReply = (status: number, hits: number, firstKey: number, keySum: number) => void;

export class ReplyParser {
  private rest: Buffer | null = null;
  private hits = 0;
  private firstKey = -1;
  private keySum = 0;
  badValues = 0;
  errorLines: string[] = [];

  constructor(
    private readonly valueSize: number,
    private readonly onReply: OnReply,
    /** Also sum every VALUE's key number (checks a multiget answered the keys asked, in any order). */
    private readonly sumKeys = false,
  ) {}

  push(chunk: Buffer): void {
    const buf = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let pos = 0;
    while (pos < buf.length) {
      const eol = buf.indexOf(LF, pos);
      if (eol < 0) break;
      const c = buf[pos];
      if (c === 0x56 /* V */) {
        const end = this.value(buf, pos, eol);
        if (end < 0) break; // value not complete yet
        pos = end;
        continue;
      }
      if (c === 0x45 /* E */ && buf[pos + 1] === 0x4e /* N */) {
        this.complete(REPLY_OK);
      } else if (c === 0x53 /* S */ && buf[pos + 1] === 0x54 /* T */) {
        this.complete(REPLY_OK);
      } else {
        if (this.errorLines.length < 5) this.errorLines.push(buf.toString('latin1', pos, eol - 1));
        this.complete(REPLY_ERROR);
      }
      pos = eol + 1;
    }
    this.rest = pos < buf.length ? buf.subarray(pos) : null;
  }

  /** Parse "VALUE key flags bytes\r\n<data>\r\n"; returns the offset after it, or -1 if incomplete. */
  private value(buf: Buffer, pos: number, eol: number): number {
    let n = 0;
    let mul = 1;
    let i = eol - 2;
    while (i > pos && buf[i] !== SP) {
      n += (buf[i] - 48) * mul;
      mul *= 10;
      i--;
    }
    const dataStart = eol + 1;
    const end = dataStart + n + 2;
    if (end > buf.length) return -1;
    const keyStart = pos + 6;
    const keyEnd = buf.indexOf(SP, keyStart);
    const keyLen = keyEnd - keyStart;
    if (n !== this.valueSize || buf.compare(buf, keyStart, keyEnd, dataStart, dataStart + keyLen) !== 0) this.badValues++;
    if (this.hits === 0 || this.sumKeys) {
      let k = 0;
      for (let j = keyStart + 1; j < keyEnd; j++) k = k * 10 + (buf[j] - 48);
      if (this.hits === 0) this.firstKey = k;
      if (this.sumKeys) this.keySum += k;
    }
    this.hits++;
    return end;
  }

  private complete(status: number): void {
    const hits = this.hits;
    const firstKey = this.firstKey;
    const keySum = this.keySum;
    this.hits = 0;
    this.firstKey = -1;
    this.keySum = 0;
    this.onReply(status, hits, firstKey, keySum);
  }
}
