import type { TextSession } from './text.js';
import { KEY_MAX_LENGTH } from './text.js';
import { STAT, M_FETCHED, M_STALE, M_WIN_SENT } from '../store/layout.js';
import { memcachedClassOf, memcachedItemSize } from '../store/layout.js';
import { Mode, StoreResult, storeItem, refuseTooLarge, addDelta, DeltaResult, lastDeltaValue, lastStoredCas, invalidateItem } from '../ops.js';
import { parseI32, parseU32, parseU64 } from '../../core/c-numbers.js';

/**
 * The meta protocol (mg ms md ma mn me) as memcached 1.6.18 implements it: single-letter flags,
 * return flags echoed in request order, `q` hiding only the nominal reply, and the lease flags
 * (N vivify, R recache, W win, Z win already sent, X stale, I invalidate).
 */

const MFLAG_MAX_OPT_LENGTH = 20;
const MFLAG_MAX_OPAQUE_LENGTH = 32;

interface MetaFlags {
  hasError: boolean;
  errstr: string;
  keyBinary: boolean;
  vivify: boolean;
  autovivExptime: number;
  newTtl: boolean;
  exptime: number;
  recacheTime: number;
  value: boolean;
  noUpdate: boolean;
  noReply: boolean;
  clientFlags: number;
  hasCas: boolean;
  reqCas: number;
  mode: number;
  initial: bigint;
  delta: bigint;
  setStale: boolean;
}

/** State of an `ms` waiting for its data block. */
export interface MetaSetState {
  mode: Mode;
  noReply: boolean;
  invalidate: boolean;
  /** Return flags in request order; "c" is filled with the CAS after storing. */
  returns: string[];
}

const isB64 = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;

/** Strict base64 decode as memcached's: returns null on any malformed input. */
function decodeBase64Key(buf: Buffer, from: number, to: number): Buffer | null {
  const n = to - from;
  if (n === 0 || n % 4 !== 0) return null;
  let pad = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c === 61) {
      if (i < to - 2) return null;
      pad++;
    } else if (pad > 0 || !isB64(c)) return null;
  }
  const out = Buffer.from(buf.toString('latin1', from, to), 'base64');
  return out.length === 0 ? null : out;
}

function cas64(b: bigint): number {
  return b > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(b);
}

function preparse(s: TextSession, first: number, key: { buf: Buffer; off: number; len: number }): MetaFlags {
  const t = s.tokens;
  const buf = t.buf;
  const store = s.store;
  const of: MetaFlags = {
    hasError: false, errstr: 'CLIENT_ERROR bad command line format', keyBinary: false, vivify: false,
    autovivExptime: 0, newTtl: false, exptime: 0, recacheTime: 0, value: false, noUpdate: false, noReply: false,
    clientFlags: 0, hasCas: false, reqCas: 0, mode: 0, initial: 0n, delta: 1n, setStale: false,
  };
  const seen = new Uint8Array(128);
  for (let i = first; i < t.count; i++) {
    const o = t.first(i);
    const vs = t.start[i] + 1;
    const ve = t.end[i];
    if (o >= 127 || seen[o]) {
      of.errstr = 'CLIENT_ERROR duplicate flag';
      of.hasError = true;
      return of;
    }
    seen[o] = 1;
    switch (o) {
      case 98: { // b
        const decoded = decodeBase64Key(key.buf, key.off, key.off + key.len);
        if (decoded === null) {
          of.errstr = 'CLIENT_ERROR error decoding key';
          of.hasError = true;
        } else {
          key.buf = decoded;
          key.off = 0;
          key.len = decoded.length;
        }
        of.keyBinary = true;
        break;
      }
      case 78: { // N
        of.vivify = true;
        const v = parseI32(buf, vs, ve);
        if (Number.isNaN(v)) {
          of.errstr = 'CLIENT_ERROR bad token in command line format';
          of.hasError = true;
        } else of.autovivExptime = store.realtime(v);
        break;
      }
      case 84: { // T
        const v = parseI32(buf, vs, ve);
        if (Number.isNaN(v)) {
          of.errstr = 'CLIENT_ERROR bad token in command line format';
          of.hasError = true;
        } else {
          of.exptime = store.realtime(v);
          of.newTtl = true;
        }
        break;
      }
      case 82: { // R
        const v = parseI32(buf, vs, ve);
        if (Number.isNaN(v)) {
          of.errstr = 'CLIENT_ERROR bad token in command line format';
          of.hasError = true;
        } else of.recacheTime = store.realtime(v);
        break;
      }
      case 108: case 79: case 80: case 76: case 107: case 115: case 116: case 99: case 102: case 104:
        break; // l O P L k s t c f h
      case 118: // v
        of.value = true;
        break;
      case 117: // u
        of.noUpdate = true;
        break;
      case 113: // q
        of.noReply = true;
        break;
      case 70: { // F
        const v = parseU32(buf, vs, ve);
        if (Number.isNaN(v)) of.hasError = true;
        else of.clientFlags = v;
        break;
      }
      case 67: { // C
        const v = parseU64(buf, vs, ve);
        if (v < 0n) {
          of.errstr = 'CLIENT_ERROR bad token in command line format';
          of.hasError = true;
        } else {
          of.hasCas = true;
          of.reqCas = cas64(v);
        }
        break;
      }
      case 77: // M
        if (ve - vs !== 1) {
          of.errstr = 'CLIENT_ERROR incorrect length for M token';
          of.hasError = true;
        } else of.mode = buf[vs];
        break;
      case 74: { // J
        const v = parseU64(buf, vs, ve);
        if (v < 0n) {
          of.errstr = 'CLIENT_ERROR invalid numeric initial value';
          of.hasError = true;
        } else of.initial = v;
        break;
      }
      case 68: { // D
        const v = parseU64(buf, vs, ve);
        if (v < 0n) {
          of.errstr = 'CLIENT_ERROR invalid numeric delta value';
          of.hasError = true;
        } else of.delta = v;
        break;
      }
      case 73: // I
        of.setStale = true;
        break;
      default:
        of.errstr = 'CLIENT_ERROR invalid flag';
        of.hasError = true;
        return of;
    }
  }
  return of;
}

/** " k<key>" and, for base64 keys, " b". */
function keyFlag(key: { buf: Buffer; off: number; len: number }, binary: boolean): string {
  if (!binary) return ' k' + key.buf.toString('latin1', key.off, key.off + key.len);
  return ' k' + key.buf.subarray(key.off, key.off + key.len).toString('base64') + ' b';
}

export function processMeta(s: TextSession, which: number): void {
  switch (which) {
    case 103: // mg
      return s.tokens.ntokens < 3 ? s.reply('ERROR') : metaGet(s);
    case 115: // ms
      return s.tokens.ntokens < 3 ? s.reply('ERROR') : metaSet(s);
    case 110: // mn
      s.store.count(STAT.cmd_meta);
      return s.error('MN');
    case 100: // md
      return s.tokens.ntokens < 3 ? s.reply('ERROR') : metaDelete(s);
    case 97: // ma
      return s.tokens.ntokens < 3 ? s.reply('ERROR') : metaArithmetic(s);
    case 101: // me
      return metaDebug(s);
    default:
      return s.reply('ERROR');
  }
}

function commonChecks(s: TextSession): boolean {
  const t = s.tokens;
  if (t.count < 2 || t.length(1) > KEY_MAX_LENGTH) {
    s.error('CLIENT_ERROR bad command line format');
    return false;
  }
  if (t.ntokens > MFLAG_MAX_OPT_LENGTH) {
    s.error('CLIENT_ERROR options flags are too long');
    return false;
  }
  return true;
}

function keyOf(s: TextSession) {
  const t = s.tokens;
  return { buf: t.buf, off: t.start[1], len: t.length(1) };
}

function metaGet(s: TextSession): void {
  if (!commonChecks(s)) return;
  const t = s.tokens;
  const key = keyOf(s);
  const of = preparse(s, 2, key);
  if (of.hasError) return s.error(of.errstr);
  const store = s.store;
  const out = s.out;
  store.count(STAT.cmd_meta);
  store.lock();
  try {
    const now = store.now();
    let ref = store.find(key.buf, key.off, key.len, now);
    let created = false;
    if (ref === 0 && of.vivify) {
      ref = store.alloc(key.buf, key.off, key.len, 0, 0, 0, now);
      if (ref !== 0) {
        store.link(ref, now);
        created = true;
      }
    }
    store.count(STAT.cmd_get);
    if (ref === 0) {
      s.countMiss(false);
      if (of.noReply) return;
      const mark = out.position;
      out.ascii('EN');
      for (let i = 2; i < t.count; i++) {
        const f = t.first(i);
        if (f === 79) {
          if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) {
            out.rewind(mark);
            return s.error('CLIENT_ERROR opaque token too long');
          }
          out.byte(32).bytes(t.buf, t.start[i], t.end[i]);
        } else if (f === 107) out.ascii(keyFlag(key, of.keyBinary));
      }
      out.crlf();
      return;
    }
    store.count(STAT.get_hits);
    const mark = out.position;
    const nbytes = store.nbytes(ref);
    if (of.value) out.ascii('VA ').decimal(nbytes);
    else out.ascii('HD');
    let won = false;
    for (let i = 2; i < t.count; i++) {
      switch (t.first(i)) {
        case 84: // T
          store.setExptime(ref, of.exptime);
          break;
        case 78: // N
          if (created) {
            store.setExptime(ref, of.autovivExptime);
            won = true;
          }
          break;
        case 82: { // R
          const exp = store.exptime(ref);
          if (!(store.meta(ref) & M_WIN_SENT) && !created && exp !== 0 && exp < of.recacheTime) won = true;
          break;
        }
        case 115: // s
          out.ascii(' s').decimal(nbytes);
          break;
        case 116: { // t
          const exp = store.exptime(ref);
          out.ascii(' t').ascii(exp === 0 ? '-1' : String((exp - now) >>> 0));
          break;
        }
        case 99: // c
          out.ascii(' c').decimal(store.cas(ref));
          break;
        case 102: // f
          out.ascii(' f').decimal(store.flags(ref));
          break;
        case 108: // l
          out.ascii(' l').decimal((now - store.lastAccess(ref)) >>> 0);
          break;
        case 104: // h
          out.ascii(store.meta(ref) & M_FETCHED ? ' h1' : ' h0');
          break;
        case 79: // O
          if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) {
            out.rewind(mark);
            return s.error('CLIENT_ERROR opaque token too long');
          }
          out.byte(32).bytes(t.buf, t.start[i], t.end[i]);
          break;
        case 107: // k
          out.ascii(keyFlag(key, of.keyBinary));
          break;
      }
    }
    const meta = store.meta(ref);
    if (meta & M_WIN_SENT) out.ascii(' Z');
    if (meta & M_STALE) {
      out.ascii(' X');
      if (!(meta & M_WIN_SENT)) won = true;
    }
    if (won) {
      out.ascii(' W');
      store.setMetaBits(ref, M_WIN_SENT);
    }
    out.crlf();
    if (of.value) {
      const v = store.valueOffset(ref);
      out.bytes(store.u8, v, v + nbytes).crlf();
    }
    if (!of.noUpdate) store.bump(ref, now);
  } finally {
    store.unlock();
  }
}

function metaSet(s: TextSession): void {
  const t = s.tokens;
  if (t.count < 2 || t.length(1) > KEY_MAX_LENGTH || t.ntokens === 3) {
    return s.error('CLIENT_ERROR bad command line format');
  }
  if (t.ntokens > MFLAG_MAX_OPT_LENGTH) return s.error('CLIENT_ERROR options flags too long');
  const vlen = parseI32(t.buf, t.start[2], t.end[2]);
  if (Number.isNaN(vlen) || vlen < 0 || vlen > 2147483647 - 2) return s.error('CLIENT_ERROR bad command line format');
  const key = keyOf(s);
  const of = preparse(s, 3, key);
  const fail = (errstr: string) => {
    s.swallowBytes(vlen + 2);
    s.error(errstr);
  };
  if (of.hasError) return fail(of.errstr);
  const returns: string[] = [];
  let errstr = '';
  for (let i = 3; i < t.count; i++) {
    switch (t.first(i)) {
      case 79:
        if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) errstr = 'CLIENT_ERROR opaque token too long';
        else returns.push(' ' + t.buf.toString('latin1', t.start[i], t.end[i]));
        break;
      case 107:
        returns.push(keyFlag(key, of.keyBinary));
        break;
      case 99:
        returns.push(' c');
        break;
    }
  }
  let mode: Mode;
  switch (of.mode) {
    case 0: case 83: mode = Mode.Set; break; // S
    case 69: mode = Mode.Add; break; // E
    case 65: mode = Mode.Append; break; // A
    case 80: mode = Mode.Prepend; break; // P
    case 82: mode = Mode.Replace; break; // R
    default:
      return fail('CLIENT_ERROR invalid mode for ms M token');
  }
  if (of.hasCas && (mode === Mode.Set || mode === Mode.Replace)) mode = Mode.Cas;
  if (errstr) return fail(errstr);
  const store = s.store;
  const ps = s.pendingStore;
  if (store.tooLarge(key.len, vlen)) {
    // memcached's ms removes the old value whatever the mode.
    store.locked(() => refuseTooLarge(store, key.buf, key.off, key.len, true));
    return fail('SERVER_ERROR object too large for cache');
  }
  key.buf.copy(ps.key, 0, key.off, key.off + key.len);
  ps.keyLen = key.len;
  ps.mode = mode;
  ps.flags = of.clientFlags;
  ps.exptime = mode === Mode.Append || mode === Mode.Prepend ? of.autovivExptime : of.exptime;
  ps.vlen = vlen;
  ps.cas = of.hasCas ? of.reqCas : 0;
  ps.noreply = false;
  ps.meta = { mode, noReply: of.noReply, invalidate: of.setStale, returns };
  if (of.newTtl) ps.exptime = of.exptime;
  s.expectValue(vlen);
}

export function finishMetaSet(s: TextSession, m: MetaSetState, src: Buffer, off: number, ok: boolean): void {
  if (!ok) return s.error('CLIENT_ERROR bad data chunk');
  const ps = s.pendingStore;
  const store = s.store;
  let result: StoreResult;
  let cas = 0;
  store.count(STAT.cmd_meta);
  store.lock();
  try {
    const now = store.now();
    // memcached 1.6.18 parses N on ms but does not vivify appends: a missing key is NS.
    const mode = m.mode;
    result = storeItem(
      store,
      {
        mode, key: ps.key, keyOff: 0, keyLen: ps.keyLen, flags: ps.flags, exptime: ps.exptime, value: src,
        valueOff: off, valueLen: ps.vlen, cas: ps.cas, invalidate: m.invalidate,
      },
      now,
    );
    cas = lastStoredCas;
  } finally {
    store.unlock();
  }
  let code: string;
  switch (result) {
    case StoreResult.Stored:
      if (m.noReply) return;
      code = 'HD';
      break;
    case StoreResult.Exists: code = 'EX'; break;
    case StoreResult.NotFound: code = 'NF'; break;
    case StoreResult.NotStored: code = 'NS'; break;
    case StoreResult.TooLarge: return s.error('SERVER_ERROR object too large for cache');
    default: return s.error('SERVER_ERROR out of memory storing object');
  }
  s.out.ascii(code);
  for (const r of m.returns) s.out.ascii(r === ' c' ? ' c' + (result === StoreResult.Stored ? cas : 0) : r);
  s.out.crlf();
}

function echoFlags(s: TextSession, key: { buf: Buffer; off: number; len: number }, binary: boolean, from: number): string | null {
  const t = s.tokens;
  let r = '';
  for (let i = from; i < t.count; i++) {
    const f = t.first(i);
    if (f === 79) {
      if (t.length(i) > MFLAG_MAX_OPAQUE_LENGTH) return null;
      r += ' ' + t.buf.toString('latin1', t.start[i], t.end[i]);
    } else if (f === 107) r += keyFlag(key, binary);
  }
  return r;
}

function metaDelete(s: TextSession): void {
  if (!commonChecks(s)) return;
  const key = keyOf(s);
  const of = preparse(s, 2, key);
  if (of.hasError) return s.error('CLIENT_ERROR invalid or duplicate flag');
  const flags = echoFlags(s, key, of.keyBinary, 2);
  if (flags === null) return s.error('CLIENT_ERROR opaque token too long');
  const store = s.store;
  let code: string;
  store.count(STAT.cmd_meta);
  store.lock();
  try {
    const ref = store.find(key.buf, key.off, key.len, store.now());
    if (ref === 0) {
      store.count(STAT.delete_misses);
      code = 'NF';
    } else if (of.hasCas && store.cas(ref) !== of.reqCas) {
      store.count(STAT.delete_misses);
      code = 'EX';
    } else {
      if (of.setStale) {
        if (of.newTtl) store.setExptime(ref, of.exptime);
        invalidateItem(store, ref);
      } else {
        store.count(STAT.delete_hits);
        store.unlink(ref);
      }
      if (of.noReply) return;
      code = 'HD';
    }
  } finally {
    store.unlock();
  }
  s.out.ascii(code).ascii(flags).crlf();
}

function metaArithmetic(s: TextSession): void {
  if (!commonChecks(s)) return;
  const t = s.tokens;
  const key = keyOf(s);
  const of = preparse(s, 2, key);
  if (of.hasError) return s.error('CLIENT_ERROR invalid or duplicate flag');
  let incr = true;
  switch (of.mode) {
    case 0: case 73: case 43: incr = true; break; // I +
    case 68: case 45: incr = false; break; // D -
    default: return s.error('CLIENT_ERROR invalid mode for ma M token');
  }
  const store = s.store;
  const out = s.out;
  store.count(STAT.cmd_meta);
  store.lock();
  try {
    const now = store.now();
    let ref = store.find(key.buf, key.off, key.len, now);
    let created = false;
    let text = '';
    if (ref !== 0) {
      const r = addDelta(store, ref, incr, of.delta, now, of.hasCas ? of.reqCas : 0);
      if (r === DeltaResult.NonNumeric) return s.error('CLIENT_ERROR cannot increment or decrement non-numeric value');
      if (r === DeltaResult.NoMemory) return s.error('SERVER_ERROR out of memory');
      if (r === DeltaResult.Exists) {
        const flags = echoFlags(s, key, of.keyBinary, 2);
        out.ascii('EX').ascii(flags ?? '').crlf();
        return;
      }
      store.count(incr ? STAT.incr_hits : STAT.decr_hits);
      text = lastDeltaValue.toString();
      ref = store.find(key.buf, key.off, key.len, now);
    } else if (of.vivify) {
      text = of.initial.toString();
      ref = store.alloc(key.buf, key.off, key.len, 0, 0, text.length, now);
      if (ref === 0) return s.error('SERVER_ERROR Out of memory allocating new item');
      store.u8.write(text, store.valueOffset(ref), 'latin1');
      store.link(ref, now);
      created = true;
    } else {
      store.count(incr ? STAT.incr_misses : STAT.decr_misses);
      const flags = echoFlags(s, key, of.keyBinary, 2);
      out.ascii('NF').ascii(flags ?? '').crlf();
      return;
    }
    // q hides the reply of a successful delta, but not of a vivified item (as memcached 1.6.18).
    const mark = out.position;
    const hide = of.noReply && !created;
    if (of.value) out.ascii('VA ').decimal(text.length);
    else out.ascii('HD');
    for (let i = 2; i < t.count; i++) {
      switch (t.first(i)) {
        case 99:
          out.ascii(' c').decimal(store.cas(ref));
          break;
        case 116: {
          const exp = store.exptime(ref);
          out.ascii(' t').ascii(exp === 0 ? '-1' : String((exp - now) >>> 0));
          break;
        }
        case 84:
          store.setExptime(ref, of.exptime);
          break;
        case 78:
          if (created) store.setExptime(ref, of.autovivExptime);
          break;
        case 79:
          out.byte(32).bytes(t.buf, t.start[i], t.end[i]);
          break;
        case 107:
          out.ascii(keyFlag(key, of.keyBinary));
          break;
      }
    }
    out.crlf();
    if (of.value) out.ascii(text).crlf();
    if (hide) out.rewind(mark);
  } finally {
    store.unlock();
  }
}

function metaDebug(s: TextSession): void {
  const t = s.tokens;
  if (t.count < 2 || t.length(1) > KEY_MAX_LENGTH) return s.error('CLIENT_ERROR bad command line format');
  const key = keyOf(s);
  let binary = false;
  if (t.count >= 3 && t.length(2) === 1 && t.first(2) === 98) {
    const decoded = decodeBase64Key(key.buf, key.off, key.off + key.len);
    if (decoded === null) return s.error('CLIENT_ERROR error decoding key');
    key.buf = decoded;
    key.off = 0;
    key.len = decoded.length;
    binary = true;
  }
  const store = s.store;
  store.count(STAT.cmd_meta);
  store.lock();
  try {
    const now = store.now();
    const ref = store.find(key.buf, key.off, key.len, now);
    if (ref === 0) return s.reply('EN');
    const exp = store.exptime(ref);
    const size = memcachedItemSize(key.len, store.nbytes(ref));
    const shownKey = binary ? key.buf.subarray(key.off, key.off + key.len).toString('base64') : key.buf.toString('latin1', key.off, key.off + key.len);
    s.out
      .ascii(`ME ${shownKey} exp=${exp === 0 ? -1 : exp - now} la=${now - store.lastAccess(ref)} cas=${store.cas(ref)}`)
      .ascii(` fetch=${store.meta(ref) & M_FETCHED ? 'yes' : 'no'} cls=${memcachedClassOf(size)} size=${size}`)
      .crlf();
  } finally {
    store.unlock();
  }
}
