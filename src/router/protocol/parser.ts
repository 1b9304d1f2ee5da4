import type { Op, Request } from './request.js';

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
  | { kind: 'error'; reply: string; close: boolean };

export const KEY_MAX_LENGTH = 250;
/** A line without a newline after this many bytes closes the connection (memcached: 2048, except get). */
const LINE_MAX = 2048;
/** Multi-key gets may be long; past this the connection closes. */
const GET_LINE_MAX = 1024 * 1024;

const ERROR = 'ERROR\r\n';
const BAD_FORMAT = 'CLIENT_ERROR bad command line format\r\n';

const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend']);
const META_QUIET_OPS = new Set(['mg', 'ms', 'md', 'ma']);

const isDigits = (s: string) => /^[0-9]+$/.test(s);
const isSignedDigits = (s: string) => /^-?[0-9]+$/.test(s);

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
      const cmd = this.command(buf, line, nl + 1, end);
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
    if (name === 'get' || name === 'gets' || name === 'gat' || name === 'gats') {
      const first = name === 'gat' || name === 'gats' ? 2 : 1;
      if (tokens.length <= first) return done({ kind: 'error', reply: ERROR, close: false });
      if (first === 2 && !isSignedDigits(tokens[1])) return done({ kind: 'error', reply: 'CLIENT_ERROR invalid exptime argument\r\n', close: false });
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
      if (key.length > KEY_MAX_LENGTH || !isDigits(flags) || !isSignedDigits(exptime) || !isDigits(bytes) || (isCas && !isDigits(tokens[5]))) {
        return done({ kind: 'error', reply: BAD_FORMAT, close: false });
      }
      const size = Number(bytes);
      if (size > this.itemSizeMax) {
        this.swallow = size + 2;
        return done({ kind: 'error', reply: 'SERVER_ERROR object too large for cache\r\n', close: false });
      }
      if (end - after < size + 2) return null;
      if (buf[after + size] !== 13 || buf[after + size + 1] !== 10) {
        this.swallow = 0;
        return done({ kind: 'error', reply: 'CLIENT_ERROR bad data chunk\r\n', close: false }, after + size + 2);
      }
      const sent = tokens.slice(0, base);
      return done(keyed(name as Op, key, sent, buf.subarray(after, after + size + 2), noreply ? 'noreply' : 'none'), after + size + 2);
    }
    if (name === 'delete' || name === 'incr' || name === 'decr' || name === 'touch') {
      const noreply = tokens[tokens.length - 1] === 'noreply';
      const args = noreply ? tokens.slice(0, -1) : tokens;
      if (args.length < 2) return done({ kind: 'error', reply: ERROR, close: false });
      if (args[1].length > KEY_MAX_LENGTH) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
      if (name === 'delete') {
        if (args.length > 3 || (args.length === 3 && args[2] !== '0')) {
          return done({ kind: 'error', reply: 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n', close: false });
        }
        return done(keyed('delete', args[1], ['delete', args[1]], null, noreply ? 'noreply' : 'none'));
      }
      if (args.length !== 3) return done({ kind: 'error', reply: ERROR, close: false });
      if (name === 'touch' && !isSignedDigits(args[2])) return done({ kind: 'error', reply: 'CLIENT_ERROR invalid exptime argument\r\n', close: false });
      if (name !== 'touch' && !isDigits(args[2])) return done({ kind: 'error', reply: 'CLIENT_ERROR invalid numeric delta argument\r\n', close: false });
      return done(keyed(name, args[1], args, null, noreply ? 'noreply' : 'none'));
    }
    if (name === 'mg' || name === 'ms' || name === 'md' || name === 'ma' || name === 'me') return this.meta(name, tokens, buf, after, end);
    if (name === 'mn') return done({ kind: 'local', op: 'mn', args: [], quiet: 'none' });
    if (name === 'version' || name === 'stats' || name === 'flush_all' || name === 'verbosity' || name === 'quit') {
      const noreply = (name === 'flush_all' || name === 'verbosity') && tokens.length > 1 && tokens[tokens.length - 1] === 'noreply';
      return done({ kind: 'local', op: name, args: tokens.slice(1, noreply ? -1 : undefined), quiet: noreply ? 'noreply' : 'none' });
    }
    return done({ kind: 'error', reply: ERROR, close: false });
  }

  private meta(name: 'mg' | 'ms' | 'md' | 'ma' | 'me', tokens: string[], buf: Buffer, after: number, end: number): { cmd: ClientCommand; next: number } | null {
    const done = (cmd: ClientCommand, next = after) => ({ cmd, next });
    if (tokens.length < 2) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
    const flagsFrom = name === 'ms' ? 3 : 2;
    if (name === 'ms' && (tokens.length < 3 || !isDigits(tokens[2]))) return done({ kind: 'error', reply: BAD_FORMAT, close: false });
    const flags = tokens.slice(flagsFrom);
    const base64 = flags.includes('b');
    let key: Buffer;
    if (base64) {
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(tokens[1])) return done({ kind: 'error', reply: 'CLIENT_ERROR key encoding error\r\n', close: false });
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

function keyed(op: Op, key: string, sent: string[], data: Buffer | null, quiet: Quiet): ClientCommand {
  return { kind: 'keyed', req: { op, key: Buffer.from(key, 'latin1'), line: Buffer.from(sent.join(' '), 'latin1'), data, shape: 'line' }, quiet };
}

function startsWithGet(buf: Buffer, pos: number, end: number): boolean {
  while (pos < end && buf[pos] === 32) pos++;
  return end - pos >= 4 && buf[pos] === 103 && buf[pos + 1] === 101 && buf[pos + 2] === 116 && (buf[pos + 3] === 32 || (buf[pos + 3] === 115 && end - pos >= 5 && buf[pos + 4] === 32));
}
