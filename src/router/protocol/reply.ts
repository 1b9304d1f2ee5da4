import type { ReplyShape } from './request.js';

/**
 * A server's answer to one request, as the routes see it.
 * - ok: a normal reply (for a get: its VALUE block)
 * - miss: a get without VALUE, or a meta `EN`
 * - error: the server answered SERVER_ERROR (a failover route tries elsewhere)
 * - failed: no answer: the server is down, timed out, or the connection broke
 */
export type ReplyStatus = 'ok' | 'miss' | 'error' | 'failed';

export interface Reply {
  status: ReplyStatus;
  /** What to send the client: the reply line(s) with CRLF; for a get, the VALUE block (empty on a miss). */
  bytes: Buffer;
  /** Why, for `failed`. */
  reason?: string;
}

const EMPTY = Buffer.alloc(0);
export const MISS: Reply = Object.freeze({ status: 'miss', bytes: EMPTY }) as Reply;

export function failed(reason: string): Reply {
  return { status: 'failed', bytes: EMPTY, reason };
}

export function lineReply(text: string): Reply {
  return { status: 'ok', bytes: Buffer.from(text + '\r\n', 'latin1') };
}

/** Classify one line/meta reply. */
export function classify(bytes: Buffer, shape: ReplyShape): Reply {
  if (startsWith(bytes, 'SERVER_ERROR')) return { status: 'error', bytes };
  if (shape === 'meta' && bytes[0] === 69 && bytes[1] === 78 && (bytes[2] === 13 || bytes[2] === 32)) return { status: 'miss', bytes };
  return { status: 'ok', bytes };
}

export const isFailure = (r: Reply): boolean => r.status === 'error' || r.status === 'failed';

export function startsWith(buf: Buffer, word: string, at = 0): boolean {
  if (buf.length - at < word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[at + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * The end of one reply of the given shape in buf[pos, end), or -1 if it has not fully arrived.
 * For 'values' the reply runs to END (or to one error line).
 */
export function replyEnd(buf: Buffer, pos: number, end: number, shape: ReplyShape): number {
  for (;;) {
    const nl = buf.indexOf(10, pos);
    if (nl === -1 || nl >= end) return -1;
    if (shape === 'line') return nl + 1;
    if (shape === 'meta') {
      if (!startsWith(buf, 'VA ', pos)) return nl + 1;
      const size = parseSize(buf, pos + 3, nl);
      const next = nl + 1 + size + 2;
      return next <= end ? next : -1;
    }
    if (!startsWith(buf, 'VALUE ', pos)) return nl + 1; // END, or an error line
    const size = valueSize(buf, pos, nl);
    const next = nl + 1 + size + 2;
    if (next > end) return -1;
    pos = next;
  }
}

/** Data length of a `VALUE <key> <flags> <bytes> [<cas>]` line (the fourth token). */
export function valueSize(buf: Buffer, pos: number, nl: number): number {
  let token = 0;
  let i = pos;
  while (i < nl) {
    while (i < nl && buf[i] === 32) i++;
    if (token === 3) return parseSize(buf, i, nl);
    while (i < nl && buf[i] !== 32) i++;
    token++;
  }
  return 0;
}

function parseSize(buf: Buffer, i: number, nl: number): number {
  let n = 0;
  while (i < nl && buf[i] >= 48 && buf[i] <= 57) n = n * 10 + (buf[i++] - 48);
  return n;
}

/** The key of a VALUE line starting at pos: [start, end). */
export function valueKey(buf: Buffer, pos: number): [number, number] {
  const start = pos + 6;
  let i = start;
  while (buf[i] !== 32 && buf[i] !== 13 && buf[i] !== 10) i++;
  return [start, i];
}
