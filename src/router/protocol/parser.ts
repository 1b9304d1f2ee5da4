import type { Op, Request } from './request.js';
import { parseU32, parseI32, parseU64 } from '../../core/c-numbers.js';

/**
 * The router's reading of client input: memcached's text and meta requests, framed and checked
 * enough to route them (key, data length); the servers behind do the rest of the validation.
 */

export type Quiet = 'none' | 'noreply' | 'meta';

export type ClientCommand =
  /** get/gets/gat/gats with one or more keys; `exptime` for gat/gats. */
  | { kind: 'keys'; op: 'get' | 'gets' | 'gat' | 'gats'; exptime: string | null; keys: Buffer[] }
  | { kind: 'keyed'; req: Request; quiet: Quiet }
  /** Commands the router answers itself (or broadcasts). */
  | { kind: 'local'; op: 'version' | 'stats' | 'flush_all' | 'verbosity' | 'quit' | 'mn'; args: string[]; quiet: Quiet }
  /** `tooLarge`: a set refused as too large names its key, whose old value must go (as memcached). */
  | { kind: 'error'; reply: string; close: boolean; tooLarge?: string };

export const KEY_MAX_LENGTH = 250;
/** A line without a newline after this many bytes closes the connection (memcached: 2048, except get). */
const LINE_MAX = 2048;
/** Multi-key gets may be long; past this the connection closes. */
const GET_LINE_MAX = 1024 * 1024;

const ERROR = 'ERROR\r\n';
const BAD_FORMAT = 'CLIENT_ERROR bad command line format\r\n';

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend']);
const META_QUIET_OPS = new Set(['mg', 'ms', 'md', 'ma']);

// memcached's safe_strtoul / safe_strtol / safe_strtoull acceptance rules.
const u32 = (s: string) => !Number.isNaN(parseU32(Buffer.from(s, 'latin1'), 0, s.length));
const i32 = (s: string) => !Number.isNaN(parseI32(Buffer.from(s, 'latin1'), 0, s.length));
const u64 = (s: string) => parseU64(Buffer.from(s, 'latin1'), 0, s.length) >= 0n;
const INT_MAX = 2 ** 31 - 1;

export class RequestParser {
  /** Bytes of a refused data block still to skip. */
  private swallow = 0;

  constructor(private readonly itemSizeMax: number) {}

  /**
   * Parse complete commands from buf[pos, end), passing each to `emit`; returns the offset of
   * the first byte not consumed. Slices of `buf` are kept by the commands: the caller must own it.
   */
  parse(buf: Buffer, pos: number, end: number, emit: (cmd: ClientCommand) => boolean): number {
    while (pos < end) {
      if (this.swallow > 0) {
        const n = Math.min(this.swallow, end - pos);
        this.swallow -= n;
        pos += n;
        continue;
      }
      const nl = buf.indexOf(10, pos);
      if (nl === -1 || nl >= end) {
        const pending = end - pos;
        const isGet = startsWithGet(buf, pos, end);
        if (pending > (isGet ? GET_LINE_MAX : LINE_MAX)) {
          emit({ kind: 'error', reply: 'CLIENT_ERROR line too long\r\n', close: true });
          return end;
        }
        return pos;
      }
      const lineEnd = nl > pos && buf[nl - 1] === 13 ? nl - 1 : nl;
      const line = buf.subarray(pos, lineEnd);
      const cmd = plainGet(line, nl + 1) ?? this.command(buf, line, nl + 1, end);
      if (cmd === null) return pos; // data block not complete yet
      pos = cmd.next;
      if (!emit(cmd.cmd)) return pos;
    }
    return pos;
  }

  /** One command from its line; null when its data block has not fully arrived. */
  private command(buf: Buffer, line: Buffer, after: number, end: number): { cmd: ClientCommand; next: number } | null {
    const tokens = line.toString('latin1').split(' ').filter((t) => t.length > 0);
    const done = (cmd: ClientCommand, next = after) => ({ cmd, next });
    if (tokens.length === 0) return done({ kind: 'error', reply: ERROR, close: false });
    const name = tokens[0];
    // memcached closes a connection that talks HTTP (last token "HTTP/...").
    if (tokens[tokens.length - 1].startsWith('HTTP/')) return done({ kind: 'error', reply: '', close: true });
    if (name === 'get' || name === 'gets' || name === 'gat' || name === 'gats') {
      const first = name === 'gat' || name === 'gats' ? 2 : 1;
      if (tokens.length < 2) return done({ kind: 'error', reply: ERROR, close: false });
      if (first === 2 && !i32(tokens[1])) return done({ kind: 'error', reply: 'CLIENT_ERROR invalid exptime argument\r\n', close: false });
      const keys: Buffer[] = [];
      for (let i = first; i < tokens.length; i++) {
        if (tokens[i].length > KEY_MAX_LENGTH) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
        keys.push(Buffer.from(tokens[i], 'latin1'));
      }
      return done({ kind: 'keys', op: name, exptime: first === 2 ? tokens[1] : null, keys });
    }
    if (STORAGE.has(name) || name === 'cas') {
      const isCas = name === 'cas';
      const base = isCas ? 6 : 5;
      if (tokens.length !== base && tokens.length !== base + 1) return done({ kind: 'error', reply: ERROR, close: false });
      const noreply = tokens.length === base + 1 && tokens[base] === 'noreply';
      const [, key, flags, exptime, bytes] = tokens;
      // As memcached: a bad line is answered without reading its data block, which is then read as commands.
      if (key.length > KEY_MAX_LENGTH || !u32(flags) || !i32(exptime) || !i32(bytes) || (isCas && !u64(tokens[5]))) {
        return done({ kind: 'error', reply: BAD_FORMAT, close: false });
      }
      const size = parseI32(Buffer.from(bytes, 'latin1'), 0, bytes.length);
      if (size < 0 || size > INT_MAX - 2) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
      if (size > this.itemSizeMax) {
        this.swallow = size + 2;
        return done({ kind: 'error', reply: noreply ? '' : 'SERVER_ERROR object too large for cache\r\n', close: false, tooLarge: name === 'set' ? key : undefined });
      }
      if (end - after < size + 2) return null;
      if (buf[after + size] !== 13 || buf[after + size + 1] !== 10) {
        return done({ kind: 'error', reply: noreply ? '' : 'CLIENT_ERROR bad data chunk\r\n', close: false }, after + size + 2);
      }
      const sent = tokens.slice(0, base);
      return done(keyed(name as Op, key, sent, buf.subarray(after, after + size + 2), noreply ? 'noreply' : 'none'), after + size + 2);
    }
    if (name === 'delete') {
      // memcached's process_delete_command: `delete <key> [0] [noreply]`.
      if (tokens.length < 2 || tokens.length > 4) return done({ kind: 'error', reply: ERROR, close: false });
      if (tokens[1].length > KEY_MAX_LENGTH) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
      const noreply = tokens.length > 2 && tokens[tokens.length - 1] === 'noreply';
      if (tokens.length > 2) {
        const holdIsZero = tokens[2] === '0';
        const valid = (tokens.length === 3 && (holdIsZero || noreply)) || (tokens.length === 4 && holdIsZero && noreply);
        if (!valid) return done({ kind: 'error', reply: noreply ? '' : 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n', close: false });
      }
      return done(keyed('delete', tokens[1], ['delete', tokens[1]], null, noreply ? 'noreply' : 'none'));
    }
    if (name === 'incr' || name === 'decr' || name === 'touch') {
      const noreply = tokens.length === 4 && tokens[3] === 'noreply';
      if (tokens.length !== 3 && !noreply) return done({ kind: 'error', reply: ERROR, close: false });
      const quiet: Quiet = noreply ? 'noreply' : 'none';
      const hide = (reply: string) => done({ kind: 'error', reply: noreply ? '' : reply, close: false });
      if (tokens[1].length > KEY_MAX_LENGTH) return hide(BAD_FORMAT);
      if (name === 'touch' && !i32(tokens[2])) return hide('CLIENT_ERROR invalid exptime argument\r\n');
      if (name !== 'touch' && !u64(tokens[2])) return hide('CLIENT_ERROR invalid numeric delta argument\r\n');
      return done(keyed(name, tokens[1], tokens.slice(0, 3), null, quiet));
    }
    if (name === 'mg' || name === 'ms' || name === 'md' || name === 'ma' || name === 'me') return this.meta(name, tokens, buf, after, end);
    if (name === 'mn') return done({ kind: 'local', op: 'mn', args: [], quiet: 'none' });
    if (name === 'version' || name === 'stats' || name === 'quit') return done({ kind: 'local', op: name, args: tokens.slice(1), quiet: 'none' });
    if (name === 'flush_all') {
      if (tokens.length > 3) return done({ kind: 'error', reply: ERROR, close: false });
      const noreply = tokens.length > 1 && tokens[tokens.length - 1] === 'noreply';
      const args = tokens.slice(1, noreply ? -1 : undefined);
      if (args.length === 1 && !i32(args[0])) return done({ kind: 'error', reply: noreply ? '' : 'CLIENT_ERROR invalid exptime argument\r\n', close: false });
      return done({ kind: 'local', op: 'flush_all', args, quiet: noreply ? 'noreply' : 'none' });
    }
    if (name === 'verbosity') {
      if (tokens.length < 2 || tokens.length > 3) return done({ kind: 'error', reply: ERROR, close: false });
      const noreply = tokens[tokens.length - 1] === 'noreply';
      if (!u32(tokens[1])) return done({ kind: 'error', reply: noreply ? '' : BAD_FORMAT, close: false });
      return done({ kind: 'local', op: 'verbosity', args: [tokens[1]], quiet: noreply ? 'noreply' : 'none' });
    }
    if (name === 'shutdown') return done({ kind: 'error', reply: 'ERROR: shutdown not enabled\r\n', close: false });
    return done({ kind: 'error', reply: ERROR, close: false });
  }

  private meta(name: 'mg' | 'ms' | 'md' | 'ma' | 'me', tokens: string[], buf: Buffer, after: number, end: number): { cmd: ClientCommand; next: number } | null {
    const done = (cmd: ClientCommand, next = after) => ({ cmd, next });
    if (tokens.length < 2) return done({ kind: 'error', reply: name === 'me' ? BAD_FORMAT : ERROR, close: false });
    const flagsFrom = name === 'ms' ? 3 : 2;
    if (name === 'ms' && (tokens.length < 3 || !i32(tokens[2]) || Number(tokens[2]) < 0)) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
    const flags = tokens.slice(flagsFrom);
    const base64 = flags.includes('b');
    let key: Buffer;
    if (base64) {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(tokens[1]) || tokens[1].length % 4 !== 0) return done({ kind: 'error', reply: 'CLIENT_ERROR error decoding key\r\n', close: false });
      key = Buffer.from(tokens[1], 'base64');
    } else key = Buffer.from(tokens[1], 'latin1');
    if (key.length > KEY_MAX_LENGTH || key.length === 0) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
    const quiet = META_QUIET_OPS.has(name) && flags.includes('q');
    const sent = [...tokens.slice(0, flagsFrom), ...flags.filter((f) => f !== 'q')];
    if (name !== 'ms') return done({ kind: 'keyed', req: { op: name, key, line: Buffer.from(sent.join(' '), 'latin1'), data: null, shape: 'meta' }, quiet: quiet ? 'meta' : 'none' });
    const size = Number(tokens[2]);
    if (size > this.itemSizeMax) {
      this.swallow = size + 2;
      return done({ kind: 'error', reply: 'SERVER_ERROR object too large for cache\r\n', close: false });
    }
    if (end - after < size + 2) return null;
    if (buf[after + size] !== 13 || buf[after + size + 1] !== 10) {
      return done({ kind: 'error', reply: 'CLIENT_ERROR bad data chunk\r\n', close: false }, after + size + 2);
    }
    const req: Request = { op: 'ms', key, line: Buffer.from(sent.join(' '), 'latin1'), data: buf.subarray(after, after + size + 2), shape: 'meta' };
    return done({ kind: 'keyed', req, quiet: quiet ? 'meta' : 'none' }, after + size + 2);
  }
}

/**
 * The common case, `get <key>...` / `gets <key>...` with well-formed keys, read straight from the
 * bytes: keys are slices of the (owned) input. Anything unusual returns null and goes through
 * the general path.
 */
function plainGet(line: Buffer, next: number): { cmd: ClientCommand; next: number } | null {
  if (line.length < 5 || line[0] !== 103 || line[1] !== 101 || line[2] !== 116) return null;
  let i = 3;
  if (line[i] === 115) i++; // gets
  if (line[i] !== 32) return null;
  const op = i === 4 ? 'gets' : 'get';
  const keys: Buffer[] = [];
  while (i < line.length) {
    while (i < line.length && line[i] === 32) i++;
    const start = i;
    while (i < line.length && line[i] !== 32) {
      if (line[i] < 33 || line[i] === 127) return null;
      i++;
    }
    if (i > start) {
      if (i - start > KEY_MAX_LENGTH) return null;
      keys.push(line.subarray(start, i));
    }
  }
  if (keys.length === 0) return null;
  const last = keys[keys.length - 1];
  if (last.length >= 5 && last.toString('latin1', 0, 5) === 'HTTP/') return null; // closed, as memcached does
  return { cmd: { kind: 'keys', op, exptime: null, keys }, next };
}

function keyed(op: Op, key: string, sent: string[], data: Buffer | null, quiet: Quiet): ClientCommand {
  return { kind: 'keyed', req: { op, key: Buffer.from(key, 'latin1'), line: Buffer.from(sent.join(' '), 'latin1'), data, shape: 'line' }, quiet };
}

function startsWithGet(buf: Buffer, pos: number, end: number): boolean {
  while (pos < end && buf[pos] === 32) pos++;
  return end - pos >= 4 && buf[pos] === 103 && buf[pos + 1] === 101 && buf[pos + 2] === 116 && (buf[pos + 3] === 32 || (buf[pos + 3] === 115 && end - pos >= 5 && buf[pos + 4] === 32));
}
