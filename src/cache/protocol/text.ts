import type { ReplyWriter } from '../../net/reply-writer.js';
import { StagingBuffer } from '../../net/staging-buffer.js';
import type { CacheContext } from '../context.js';
import type { CacheStore } from '../store/store.js';
import { STAT } from '../store/layout.js';
import { Mode, StoreResult, storeItem, refuseTooLarge, addDelta, DeltaResult, lastDeltaValue } from '../ops.js';
import { parseI32, parseU32, parseU64 } from '../../core/c-numbers.js';
import { Tokens } from './tokens.js';
import type { Closing, ProtocolSession } from './connection.js';
import { processMeta, finishMetaSet, type MetaSetState } from './meta.js';
import { writeStats } from './stats.js';

export const KEY_MAX_LENGTH = 250;
/** memcached closes a connection whose partial line passes this without being a get. */
const LINE_MAX = 2048;
/** Our bound on a multi-key get line (memcached grows its buffer; we stop somewhere). */
const GET_LINE_MAX = 1024 * 1024;

/** A storage command waiting for its data block. */
interface PendingStore {
  mode: Mode;
  key: Buffer;
  keyLen: number;
  flags: number;
  exptime: number;
  vlen: number;
  cas: number;
  noreply: boolean;
  meta: MetaSetState | null;
}

/**
 * The text protocol (classic and meta commands) of one connection, with memcached 1.6.18's
 * replies, errors and quirks. Parsing stays apart from item storage (ops.ts, store/).
 */
export class TextSession implements ProtocolSession {
  closing: Closing = 'none';
  readonly tokens = new Tokens();
  readonly store: CacheStore;
  /** Bytes still to read for the pending data block (value + CRLF), 0 when reading lines. */
  private want = 0;
  private stage: StagingBuffer | null = null;
  private swallow = 0;
  readonly pendingStore: PendingStore = {
    mode: Mode.Set, key: Buffer.alloc(KEY_MAX_LENGTH + 8), keyLen: 0, flags: 0, exptime: 0, vlen: 0, cas: 0,
    noreply: false, meta: null,
  };
  /** Whether replies of the current command are suppressed (classic noreply). */
  noreply = false;

  constructor(
    readonly ctx: CacheContext,
    readonly out: ReplyWriter,
  ) {
    this.store = ctx.store;
  }

  process(buf: Buffer, pos: number, end: number): number {
    while (pos < end && this.closing === 'none' && !this.out.full) {
      if (this.want > 0) {
        const avail = end - pos;
        if (this.stage === null && avail >= this.want) {
          const n = this.want;
          this.want = 0;
          this.completeValue(buf, pos);
          pos += n;
          continue;
        }
        if (this.stage === null) this.stage = new StagingBuffer(this.want);
        pos += this.stage.fill(buf, pos, end);
        if (this.stage.complete) {
          const block = this.stage.block;
          this.stage = null;
          this.want = 0;
          this.completeValue(block, 0);
        }
        continue;
      }
      if (this.swallow > 0) {
        const n = Math.min(end - pos, this.swallow);
        this.swallow -= n;
        pos += n;
        continue;
      }
      const nl = buf.indexOf(10, pos);
      if (nl < 0) {
        if (end - pos > LINE_MAX && !this.mayGrowLine(buf, pos, end)) this.closing = 'now';
        return pos;
      }
      let lineEnd = nl;
      if (nl - pos > 1 && buf[nl - 1] === 13) lineEnd = nl - 1;
      this.command(buf, pos, lineEnd);
      pos = nl + 1;
    }
    return pos;
  }

  /** memcached keeps reading a long line only if it is a get/gets (a big multiget). */
  private mayGrowLine(buf: Buffer, pos: number, end: number): boolean {
    if (end - pos > GET_LINE_MAX) return false;
    let p = pos;
    while (p < end && p - pos <= 100 && buf[p] === 32) p++;
    if (p - pos > 100) return false;
    const isGet = buf[p] === 103 && buf[p + 1] === 101 && buf[p + 2] === 116;
    return isGet && (buf[p + 3] === 32 || (buf[p + 3] === 115 && buf[p + 4] === 32));
  }

  // ---- output helpers -----------------------------------------------------------------------

  reply(line: string): void {
    if (this.noreply) return;
    this.out.ascii(line).crlf();
  }

  /** Meta errors are never suppressed. */
  error(line: string): void {
    this.out.ascii(line).crlf();
  }

  /** Start reading a data block of vlen bytes (plus CRLF) for a storage command. */
  expectValue(vlen: number): void {
    this.want = vlen + 2;
  }

  /** Discard the next n bytes (a data block after an error). */
  swallowBytes(n: number): void {
    this.swallow = n;
  }

  // ---- dispatch ---------------------------------------------------------------------------

  private command(buf: Buffer, from: number, to: number): void {
    const t = this.tokens;
    t.tokenize(buf, from, to);
    this.noreply = false;
    const nt = t.ntokens;
    if (t.count === 0 || t.length(0) < 2) return this.reply('ERROR');
    const c0 = t.first(0);
    const len0 = t.length(0);
    if (c0 === 109 && len0 === 2) return processMeta(this, buf[t.start[0] + 1]);
    switch (c0) {
      case 103: // g
        if (t.is(0, 'get')) return nt < 3 ? this.reply('ERROR') : this.get(false, false);
        if (t.is(0, 'gets')) return nt < 3 ? this.reply('ERROR') : this.get(true, false);
        if (t.is(0, 'gat')) return nt < 3 ? this.reply('ERROR') : this.get(false, true);
        if (t.is(0, 'gats')) return nt < 3 ? this.reply('ERROR') : this.get(true, true);
        break;
      case 115: // s
        if (t.is(0, 'set')) return nt === 6 || nt === 7 ? this.update(Mode.Set) : this.reply('ERROR');
        if (t.is(0, 'stats')) return writeStats(this);
        // Remote shutdown needs memcached's -A; Strata has no such setting, so it is never enabled.
        if (t.is(0, 'shutdown')) return this.reply('ERROR: shutdown not enabled');
        break;
      case 97: // a
        if (t.is(0, 'add')) return nt === 6 || nt === 7 ? this.update(Mode.Add) : this.reply('ERROR');
        if (t.is(0, 'append')) return nt === 6 || nt === 7 ? this.update(Mode.Append) : this.reply('ERROR');
        break;
      case 99: // c
        if (t.is(0, 'cas')) return nt === 7 || nt === 8 ? this.update(Mode.Cas) : this.reply('ERROR');
        break;
      case 105: // i
        if (t.is(0, 'incr')) return nt === 4 || nt === 5 ? this.arithmetic(true) : this.reply('ERROR');
        break;
      case 100: // d
        if (t.is(0, 'delete')) return nt >= 3 && nt <= 5 ? this.delete() : this.reply('ERROR');
        if (t.is(0, 'decr')) return nt === 4 || nt === 5 ? this.arithmetic(false) : this.reply('ERROR');
        break;
      case 116: // t
        if (t.is(0, 'touch')) return nt === 4 || nt === 5 ? this.touch() : this.reply('ERROR');
        break;
    }
    if (t.is(0, 'prepend')) return nt === 6 || nt === 7 ? this.update(Mode.Prepend) : this.reply('ERROR');
    if (t.is(0, 'replace')) return nt === 6 || nt === 7 ? this.update(Mode.Replace) : this.reply('ERROR');
    if (t.is(0, 'bget')) return nt < 3 ? this.reply('ERROR') : this.get(false, false);
    if (t.is(0, 'flush_all')) return nt >= 2 && nt <= 4 ? this.flushAll() : this.reply('ERROR');
    if (t.is(0, 'version')) return this.reply('VERSION ' + this.ctx.settings.version);
    if (t.is(0, 'quit')) {
      this.closing = 'after-flush';
      return;
    }
    if (t.is(0, 'verbosity')) return nt === 3 || nt === 4 ? this.verbosity() : this.reply('ERROR');
    const last = t.count - 1;
    if (t.length(last) >= 5 && buf.toString('latin1', t.start[last], t.start[last] + 5) === 'HTTP/') {
      this.closing = 'now';
      return;
    }
    this.reply('ERROR');
  }

  // ---- retrieval ----------------------------------------------------------------------------

  private get(withCas: boolean, touch: boolean): void {
    const t = this.tokens;
    const buf = t.buf;
    const store = this.store;
    const out = this.out;
    let exptime = 0;
    let p = t.start[1];
    if (touch) {
      const e = parseI32(buf, t.start[1], t.end[1]);
      if (Number.isNaN(e)) return this.reply('CLIENT_ERROR invalid exptime argument');
      exptime = store.realtime(e);
      p = t.end[1];
    }
    const lineEnd = t.lineEnd;
    store.lock();
    try {
      const now = store.now();
      while (p < lineEnd) {
        while (p < lineEnd && buf[p] === 32) p++;
        if (p >= lineEnd) break;
        let e = p;
        while (e < lineEnd && buf[e] !== 32) e++;
        const klen = e - p;
        if (klen > KEY_MAX_LENGTH) {
          // memcached 1.6.18 drops every reply still queued on the connection here, not just
          // this command's VALUE lines.
          out.discardUnflushed();
          out.ascii('CLIENT_ERROR bad command line format').crlf();
          return;
        }
        store.count(STAT.cmd_get);
        if (touch) store.count(STAT.cmd_touch);
        const ref = store.find(buf, p, klen, now);
        if (ref !== 0) {
          if (touch) {
            store.setExptime(ref, exptime);
            store.count(STAT.touch_hits);
          } else store.count(STAT.get_hits);
          store.bump(ref, now);
          const nbytes = store.nbytes(ref);
          out.ascii('VALUE ').bytes(buf, p, e).byte(32).decimal(store.flags(ref)).byte(32).decimal(nbytes);
          if (withCas) out.byte(32).decimal(store.cas(ref));
          out.crlf();
          const v = store.valueOffset(ref);
          out.bytes(store.u8, v, v + nbytes).crlf();
        } else {
          this.countMiss(touch);
        }
        p = e;
      }
    } finally {
      store.unlock();
    }
    out.ascii('END').crlf();
  }

  countMiss(touch: boolean): void {
    const store = this.store;
    store.count(touch ? STAT.touch_misses : STAT.get_misses);
    if (store.lastMissWasExpired) store.count(STAT.get_expired);
    else if (store.lastMissWasFlushed) store.count(STAT.get_flushed);
  }

  // ---- storage ------------------------------------------------------------------------------

  private update(mode: Mode): void {
    const t = this.tokens;
    const buf = t.buf;
    this.noreply = t.noreply();
    if (t.length(1) > KEY_MAX_LENGTH) return this.reply('CLIENT_ERROR bad command line format');
    const flags = parseU32(buf, t.start[2], t.end[2]);
    const exptime = parseI32(buf, t.start[3], t.end[3]);
    const vlen = parseI32(buf, t.start[4], t.end[4]);
    if (Number.isNaN(flags) || Number.isNaN(exptime) || Number.isNaN(vlen)) {
      return this.reply('CLIENT_ERROR bad command line format');
    }
    let cas = 0;
    if (mode === Mode.Cas) {
      const c = parseU64(buf, t.start[5], t.end[5]);
      if (c < 0n) return this.reply('CLIENT_ERROR bad command line format');
      cas = c > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(c);
    }
    if (vlen < 0 || vlen > 2147483647 - 2) return this.reply('CLIENT_ERROR bad command line format');
    const store = this.store;
    const klen = t.length(1);
    if (store.tooLarge(klen, vlen)) {
      store.locked(() => refuseTooLarge(store, buf, t.start[1], klen, mode === Mode.Set));
      this.reply('SERVER_ERROR object too large for cache');
      this.swallowBytes(vlen + 2);
      return;
    }
    const ps = this.pendingStore;
    ps.mode = mode;
    buf.copy(ps.key, 0, t.start[1], t.end[1]);
    ps.keyLen = klen;
    ps.flags = flags;
    ps.exptime = store.realtime(exptime);
    ps.vlen = vlen;
    ps.cas = cas;
    ps.noreply = this.noreply;
    ps.meta = null;
    this.expectValue(vlen);
  }

  /** The data block of a storage command arrived: src[off, off + vlen + 2). */
  private completeValue(src: Buffer, off: number): void {
    const ps = this.pendingStore;
    this.noreply = ps.noreply;
    const ok = src[off + ps.vlen] === 13 && src[off + ps.vlen + 1] === 10;
    if (ps.meta !== null) return finishMetaSet(this, ps.meta, src, off, ok);
    if (!ok) return this.reply('CLIENT_ERROR bad data chunk');
    const store = this.store;
    let result: StoreResult;
    store.lock();
    try {
      result = storeItem(
        store,
        {
          mode: ps.mode, key: ps.key, keyOff: 0, keyLen: ps.keyLen, flags: ps.flags, exptime: ps.exptime,
          value: src, valueOff: off, valueLen: ps.vlen, cas: ps.cas,
        },
        store.now(),
      );
    } finally {
      store.unlock();
    }
    this.reply(STORE_REPLIES[result]);
  }

  // ---- other commands -------------------------------------------------------------------------

  private delete(): void {
    const t = this.tokens;
    const nt = t.ntokens;
    if (nt > 3) {
      const holdIsZero = t.is(2, '0');
      const setsNoreply = t.noreply();
      this.noreply = setsNoreply;
      const valid = (nt === 4 && (holdIsZero || setsNoreply)) || (nt === 5 && holdIsZero && setsNoreply);
      if (!valid) return this.reply('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]');
    }
    if (t.length(1) > KEY_MAX_LENGTH) return this.reply('CLIENT_ERROR bad command line format');
    const store = this.store;
    let hit: boolean;
    store.lock();
    try {
      const ref = store.find(t.buf, t.start[1], t.length(1), store.now());
      hit = ref !== 0;
      if (hit) store.unlink(ref);
      store.count(hit ? STAT.delete_hits : STAT.delete_misses);
    } finally {
      store.unlock();
    }
    this.reply(hit ? 'DELETED' : 'NOT_FOUND');
  }

  private arithmetic(incr: boolean): void {
    const t = this.tokens;
    this.noreply = t.noreply();
    if (t.length(1) > KEY_MAX_LENGTH) return this.reply('CLIENT_ERROR bad command line format');
    const delta = parseU64(t.buf, t.start[2], t.end[2]);
    if (delta < 0n) return this.reply('CLIENT_ERROR invalid numeric delta argument');
    const store = this.store;
    let result: DeltaResult;
    store.lock();
    try {
      const now = store.now();
      const ref = store.find(t.buf, t.start[1], t.length(1), now);
      if (ref === 0) {
        result = DeltaResult.NotFound;
        store.count(incr ? STAT.incr_misses : STAT.decr_misses);
      } else {
        result = addDelta(store, ref, incr, delta, now);
        if (result === DeltaResult.Ok) store.count(incr ? STAT.incr_hits : STAT.decr_hits);
      }
    } finally {
      store.unlock();
    }
    switch (result) {
      case DeltaResult.Ok:
        return this.reply(lastDeltaValue.toString());
      case DeltaResult.NonNumeric:
        return this.reply('CLIENT_ERROR cannot increment or decrement non-numeric value');
      case DeltaResult.NoMemory:
        return this.reply('SERVER_ERROR out of memory');
      default:
        return this.reply('NOT_FOUND');
    }
  }

  private touch(): void {
    const t = this.tokens;
    this.noreply = t.noreply();
    if (t.length(1) > KEY_MAX_LENGTH) return this.reply('CLIENT_ERROR bad command line format');
    const e = parseI32(t.buf, t.start[2], t.end[2]);
    if (Number.isNaN(e)) return this.reply('CLIENT_ERROR invalid exptime argument');
    const store = this.store;
    let hit: boolean;
    store.lock();
    try {
      const now = store.now();
      const ref = store.find(t.buf, t.start[1], t.length(1), now);
      hit = ref !== 0;
      store.count(STAT.cmd_touch);
      if (hit) {
        store.setExptime(ref, store.realtime(e));
        store.bump(ref, now);
        store.count(STAT.touch_hits);
      } else store.count(STAT.touch_misses);
    } finally {
      store.unlock();
    }
    this.reply(hit ? 'TOUCHED' : 'NOT_FOUND');
  }

  private flushAll(): void {
    const t = this.tokens;
    this.noreply = t.noreply();
    let delay = 0;
    if (t.ntokens !== (this.noreply ? 3 : 2)) {
      delay = parseI32(t.buf, t.start[1], t.end[1]);
      if (Number.isNaN(delay)) return this.reply('CLIENT_ERROR invalid exptime argument');
    }
    const store = this.store;
    store.lock();
    try {
      store.count(STAT.cmd_flush);
      store.flushAll(delay);
    } finally {
      store.unlock();
    }
    this.reply('OK');
  }

  private verbosity(): void {
    const t = this.tokens;
    this.noreply = t.noreply();
    const level = parseU32(t.buf, t.start[1], t.end[1]);
    if (Number.isNaN(level)) return this.reply('CLIENT_ERROR bad command line format');
    this.reply('OK');
  }
}

const STORE_REPLIES: Record<StoreResult, string> = {
  [StoreResult.Stored]: 'STORED',
  [StoreResult.NotStored]: 'NOT_STORED',
  [StoreResult.Exists]: 'EXISTS',
  [StoreResult.NotFound]: 'NOT_FOUND',
  [StoreResult.TooLarge]: 'SERVER_ERROR object too large for cache',
  [StoreResult.NoMemory]: 'SERVER_ERROR out of memory storing object',
};
