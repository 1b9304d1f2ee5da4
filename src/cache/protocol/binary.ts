import type { ReplyWriter } from '../../net/reply-writer.js';
import { StagingBuffer } from '../../net/staging-buffer.js';
import type { CacheContext } from '../context.js';
import type { CacheStore } from '../store/store.js';
import { STAT } from '../store/layout.js';
import { Mode, StoreResult, storeItem, refuseTooLarge, addDelta, DeltaResult, lastDeltaValue, lastStoredCas } from '../ops.js';
import type { Closing, ProtocolSession } from './connection.js';
import { KEY_MAX_LENGTH } from './text.js';
import { generalStats } from './stats.js';

/**
 * memcached's binary protocol (deprecated upstream, still what memjs speaks): 24-byte headers,
 * quiet variants that suppress success replies (and misses for GETQ/GETKQ), errors with
 * memcached's texts, and memcached's argument checks (a malformed request gets "Invalid
 * arguments" and the connection is closed).
 */

const HEADER = 24;
const REQ_MAGIC = 0x80;
const RES_MAGIC = 0x81;

const enum Op {
  Get = 0x00, Set = 0x01, Add = 0x02, Replace = 0x03, Delete = 0x04, Increment = 0x05, Decrement = 0x06,
  Quit = 0x07, Flush = 0x08, GetQ = 0x09, Noop = 0x0a, Version = 0x0b, GetK = 0x0c, GetKQ = 0x0d, Append = 0x0e,
  Prepend = 0x0f, Stat = 0x10, SetQ = 0x11, AddQ = 0x12, ReplaceQ = 0x13, DeleteQ = 0x14, IncrementQ = 0x15,
  DecrementQ = 0x16, QuitQ = 0x17, FlushQ = 0x18, AppendQ = 0x19, PrependQ = 0x1a, Verbosity = 0x1b, Touch = 0x1c,
  Gat = 0x1d, GatQ = 0x1e, GatK = 0x23, GatKQ = 0x24,
}

const enum Status {
  Ok = 0x00, KeyNotFound = 0x01, KeyExists = 0x02, TooLarge = 0x03, Invalid = 0x04, NotStored = 0x05,
  DeltaBadValue = 0x06, UnknownCommand = 0x81, NoMemory = 0x82,
}

const ERROR_TEXT: Partial<Record<Status, string>> = {
  [Status.NoMemory]: 'Out of memory',
  [Status.UnknownCommand]: 'Unknown command',
  [Status.KeyNotFound]: 'Not found',
  [Status.Invalid]: 'Invalid arguments',
  [Status.KeyExists]: 'Data exists for key.',
  [Status.TooLarge]: 'Too large.',
  [Status.DeltaBadValue]: 'Non-numeric server-side value for incr or decr',
  [Status.NotStored]: 'Not stored.',
};

/** The base command of a quiet opcode, or -1 if the opcode is not quiet. */
function quietBase(op: number): number {
  switch (op) {
    case Op.SetQ: return Op.Set;
    case Op.AddQ: return Op.Add;
    case Op.ReplaceQ: return Op.Replace;
    case Op.DeleteQ: return Op.Delete;
    case Op.IncrementQ: return Op.Increment;
    case Op.DecrementQ: return Op.Decrement;
    case Op.QuitQ: return Op.Quit;
    case Op.FlushQ: return Op.Flush;
    case Op.AppendQ: return Op.Append;
    case Op.PrependQ: return Op.Prepend;
    case Op.GetQ: return Op.Get;
    case Op.GetKQ: return Op.GetK;
    case Op.GatQ: return Op.Gat;
    case Op.GatKQ: return Op.GatK;
    default: return -1;
  }
}

export class BinarySession implements ProtocolSession {
  closing: Closing = 'none';
  private readonly store: CacheStore;
  private stage: StagingBuffer | null = null;
  private swallow = 0;
  // The request being answered.
  private opcode = 0;
  private opaque = 0;
  private quiet = false;

  constructor(
    private readonly ctx: CacheContext,
    private readonly out: ReplyWriter,
  ) {
    this.store = ctx.store;
  }

  process(buf: Buffer, pos: number, end: number): number {
    while (pos < end && this.closing === 'none' && !this.out.full) {
      if (this.swallow > 0) {
        const n = Math.min(end - pos, this.swallow);
        this.swallow -= n;
        pos += n;
        continue;
      }
      if (this.stage !== null) {
        pos += this.stage.fill(buf, pos, end);
        if (this.stage.complete) {
          const block = this.stage.block;
          this.stage = null;
          this.request(block, 0);
        }
        continue;
      }
      if (end - pos < HEADER) return pos;
      if (buf[pos] !== REQ_MAGIC) {
        // memcached closes at once here, and the replies it had not yet sent go with it.
        this.closing = 'drop';
        return pos;
      }
      const bodyLen = buf.readUInt32BE(pos + 8);
      if (!this.admissible(buf, pos, end, bodyLen)) {
        pos += HEADER;
        continue;
      }
      const total = HEADER + bodyLen;
      if (end - pos >= total) {
        this.request(buf, pos);
        pos += total;
        continue;
      }
      this.stage = new StagingBuffer(total);
    }
    return pos;
  }

  /**
   * Decide from the header alone whether the body may be buffered. A body too big to be a valid
   * request is answered now and swallowed (or the connection closed), so memory stays bounded.
   */
  private admissible(buf: Buffer, pos: number, end: number, bodyLen: number): boolean {
    const limit = this.store.layout.options.itemSizeMax + 1024;
    if (bodyLen <= limit) return true;
    this.begin(buf, pos);
    const keyLen = buf.readUInt16BE(pos + 2);
    const extLen = buf[pos + 4];
    const base = this.quiet ? quietBase(this.opcode) : this.opcode;
    const isStore = base === Op.Set || base === Op.Add || base === Op.Replace || base === Op.Append || base === Op.Prepend;
    if (isStore && keyLen > 0 && keyLen <= KEY_MAX_LENGTH && bodyLen >= keyLen + extLen) {
      // A refused set removes the old value, when its key has arrived already.
      const key = pos + HEADER + extLen;
      this.store.locked(() => refuseTooLarge(this.store, buf, key, keyLen, base === Op.Set && end >= key + keyLen));
      this.error(Status.TooLarge);
      this.swallow = bodyLen;
      return false;
    }
    if (this.isKnown(base)) {
      this.protocolError();
    } else {
      this.unknownCommand(keyLen, extLen, bodyLen);
    }
    return false;
  }

  private isKnown(op: number): boolean {
    return op !== Op.Verbosity && (op <= Op.Touch || op === Op.Gat || op === Op.GatK);
  }

  /**
   * memcached 1.6.18 answers an unknown opcode and then swallows `bodyLen` bytes counted after
   * the key and extras it has already consumed, so it eats into the next request; we do the same
   * so the bytes that follow are read identically.
   */
  private unknownCommand(keyLen: number, extLen: number, bodyLen: number): void {
    this.error(Status.UnknownCommand);
    this.swallow += bodyLen + keyLen + extLen;
  }

  private begin(buf: Buffer, pos: number): void {
    const op = buf[pos + 1];
    this.opcode = op;
    this.opaque = buf.readUInt32BE(pos + 12);
    this.quiet = quietBase(op) >= 0;
  }

  // ---- replies ----------------------------------------------------------------------------

  private header(status: number, extLen: number, keyLen: number, bodyLen: number, cas: number): void {
    const offset = this.out.claim(HEADER);
    const buf = this.out.target;
    buf[offset] = RES_MAGIC;
    buf[offset + 1] = this.opcode;
    buf.writeUInt16BE(keyLen, offset + 2);
    buf[offset + 4] = extLen;
    buf[offset + 5] = 0;
    buf.writeUInt16BE(status, offset + 6);
    buf.writeUInt32BE(bodyLen, offset + 8);
    buf.writeUInt32BE(this.opaque, offset + 12);
    buf.writeUInt32BE(Math.floor(cas / 0x100000000), offset + 16);
    buf.writeUInt32BE(cas >>> 0, offset + 20);
  }

  /** A success reply with no body, suppressed for quiet commands. */
  private ok(cas = 0): void {
    if (this.quiet) return;
    this.header(Status.Ok, 0, 0, 0, cas);
  }

  /** Errors are sent even for quiet commands, as memcached does. */
  private error(status: Status): void {
    const text = ERROR_TEXT[status] ?? '';
    this.header(status, 0, 0, text.length, 0);
    this.out.ascii(text);
  }

  private protocolError(): void {
    this.error(Status.Invalid);
    this.closing = 'after-flush';
  }

  // ---- requests -------------------------------------------------------------------------------

  private request(buf: Buffer, pos: number): void {
    this.begin(buf, pos);
    const keyLen = buf.readUInt16BE(pos + 2);
    const extLen = buf[pos + 4];
    const bodyLen = buf.readUInt32BE(pos + 8);
    const cas = buf.readUInt32BE(pos + 16) * 0x100000000 + buf.readUInt32BE(pos + 20);
    const ext = pos + HEADER;
    const key = ext + extLen;
    const value = key + keyLen;
    const valueLen = bodyLen - extLen - keyLen;
    const base = this.quiet ? quietBase(this.opcode) : this.opcode;
    if (keyLen > KEY_MAX_LENGTH) return this.protocolError();
    switch (base) {
      case Op.Version:
        if (extLen !== 0 || keyLen !== 0 || bodyLen !== 0) return this.protocolError();
        this.header(Status.Ok, 0, 0, this.ctx.settings.version.length, 0);
        this.out.ascii(this.ctx.settings.version);
        return;
      case Op.Noop:
        if (extLen !== 0 || keyLen !== 0 || bodyLen !== 0) return this.protocolError();
        return this.ok();
      case Op.Quit:
        if (extLen !== 0 || keyLen !== 0 || bodyLen !== 0) return this.protocolError();
        this.ok();
        this.closing = 'after-flush';
        return;
      case Op.Flush:
        if (keyLen !== 0 || bodyLen !== extLen || (extLen !== 0 && extLen !== 4)) return this.protocolError();
        return this.flush(extLen === 4 ? buf.readUInt32BE(ext) : 0);
      case Op.Set:
      case Op.Add:
      case Op.Replace:
        if (extLen !== 8 || keyLen === 0 || bodyLen < keyLen + 8) return this.protocolError();
        return this.update(base, buf, key, keyLen, buf.readUInt32BE(ext), buf.readUInt32BE(ext + 4), value, valueLen, cas);
      case Op.Append:
      case Op.Prepend:
        if (keyLen === 0 || extLen !== 0) return this.protocolError();
        return this.update(base, buf, key, keyLen, 0, 0, value, valueLen, cas);
      case Op.Get:
      case Op.GetK:
        if (extLen !== 0 || bodyLen !== keyLen || keyLen === 0) return this.protocolError();
        return this.get(base === Op.GetK, buf, key, keyLen, false, 0);
      case Op.Touch:
      case Op.Gat:
      case Op.GatK:
        if (extLen !== 4 || keyLen === 0) return this.protocolError();
        return this.get(base === Op.GatK, buf, key, keyLen, true, buf.readUInt32BE(ext), base === Op.Touch);
      case Op.Delete:
        if (keyLen === 0 || extLen !== 0 || bodyLen !== keyLen) return this.protocolError();
        return this.delete(buf, key, keyLen, cas);
      case Op.Increment:
      case Op.Decrement:
        if (keyLen === 0 || extLen !== 20 || bodyLen !== keyLen + extLen) return this.protocolError();
        return this.arithmetic(base === Op.Increment, buf, ext, key, keyLen, cas);
      case Op.Stat:
        if (extLen !== 0) return this.protocolError();
        return this.stat(buf, key, keyLen);
      default:
        // The whole packet is consumed already; memcached swallows key + extras more.
        this.unknownCommand(keyLen, extLen, 0);
    }
  }

  private update(op: number, buf: Buffer, key: number, keyLen: number, flags: number, exptime: number, value: number, valueLen: number, cas: number): void {
    const store = this.store;
    let mode = op === Op.Set ? Mode.Set : op === Op.Add ? Mode.Add : op === Op.Replace ? Mode.Replace : op === Op.Append ? Mode.Append : Mode.Prepend;
    if (cas !== 0 && (mode === Mode.Set || mode === Mode.Add || mode === Mode.Replace)) mode = Mode.Cas;
    let result: StoreResult;
    let newCas = 0;
    store.lock();
    try {
      result = storeItem(
        store,
        {
          mode, key: buf, keyOff: key, keyLen, flags, exptime: store.realtime(exptime), value: buf, valueOff: value,
          valueLen, cas,
        },
        store.now(),
      );
      newCas = lastStoredCas;
    } finally {
      store.unlock();
    }
    switch (result) {
      case StoreResult.Stored:
        return this.ok(newCas);
      case StoreResult.Exists:
        return this.error(Status.KeyExists);
      case StoreResult.NotFound:
        return this.error(Status.KeyNotFound);
      case StoreResult.TooLarge:
        return this.error(Status.TooLarge);
      case StoreResult.NoMemory:
        return this.error(Status.NoMemory);
      default:
        return this.error(op === Op.Add ? Status.KeyExists : op === Op.Replace ? Status.KeyNotFound : Status.NotStored);
    }
  }

  private get(withKey: boolean, buf: Buffer, key: number, keyLen: number, touch: boolean, exptime: number, touchOnly = false): void {
    const store = this.store;
    const out = this.out;
    store.lock();
    try {
      const now = store.now();
      const ref = store.find(buf, key, keyLen, now);
      store.count(STAT.cmd_get);
      if (touch) store.count(STAT.cmd_touch);
      if (ref === 0) {
        store.count(touch ? STAT.touch_misses : STAT.get_misses);
        if (this.quiet) return;
        if (withKey) {
          this.header(Status.KeyNotFound, 0, keyLen, keyLen, 0);
          out.bytes(buf, key, key + keyLen);
        } else this.error(Status.KeyNotFound);
        return;
      }
      store.count(touch ? STAT.touch_hits : STAT.get_hits);
      if (touch) store.setExptime(ref, store.realtime(exptime));
      store.bump(ref, now);
      const nbytes = touchOnly ? 0 : store.nbytes(ref);
      const kl = withKey ? keyLen : 0;
      this.header(Status.Ok, 4, kl, 4 + kl + nbytes, store.cas(ref));
      const offset = out.claim(4);
      out.target.writeUInt32BE(store.flags(ref), offset);
      if (withKey) out.bytes(buf, key, key + keyLen);
      if (nbytes > 0) {
        const v = store.valueOffset(ref);
        out.bytes(store.u8, v, v + nbytes);
      }
    } finally {
      store.unlock();
    }
  }

  private delete(buf: Buffer, key: number, keyLen: number, cas: number): void {
    const store = this.store;
    let status = Status.Ok;
    store.lock();
    try {
      const ref = store.find(buf, key, keyLen, store.now());
      if (ref === 0) {
        status = Status.KeyNotFound;
        store.count(STAT.delete_misses);
      } else if (cas !== 0 && cas !== store.cas(ref)) {
        status = Status.KeyExists;
      } else {
        store.unlink(ref);
        store.count(STAT.delete_hits);
      }
    } finally {
      store.unlock();
    }
    if (status === Status.Ok) this.ok();
    else this.error(status);
  }

  private arithmetic(incr: boolean, buf: Buffer, ext: number, key: number, keyLen: number, cas: number): void {
    const delta = buf.readBigUInt64BE(ext);
    const initial = buf.readBigUInt64BE(ext + 8);
    const exptime = buf.readUInt32BE(ext + 16);
    const store = this.store;
    let status = Status.Ok;
    let value = 0n;
    let newCas = 0;
    store.lock();
    try {
      const now = store.now();
      let ref = store.find(buf, key, keyLen, now);
      if (ref !== 0) {
        const r = addDelta(store, ref, incr, delta, now, cas);
        if (r === DeltaResult.Ok) {
          store.count(incr ? STAT.incr_hits : STAT.decr_hits);
          value = lastDeltaValue;
          newCas = store.cas(store.find(buf, key, keyLen, now));
        } else if (r === DeltaResult.NonNumeric) status = Status.DeltaBadValue;
        else if (r === DeltaResult.Exists) status = Status.KeyExists;
        else status = Status.NoMemory;
      } else if (exptime !== 0xffffffff) {
        const text = initial.toString();
        ref = store.alloc(buf, key, keyLen, 0, store.realtime(exptime), text.length, now);
        if (ref === 0) status = Status.NoMemory;
        else {
          store.u8.write(text, store.valueOffset(ref), 'latin1');
          store.link(ref, now);
          value = initial;
          newCas = store.cas(ref);
        }
      } else {
        store.count(incr ? STAT.incr_misses : STAT.decr_misses);
        status = Status.KeyNotFound;
      }
    } finally {
      store.unlock();
    }
    if (status !== Status.Ok) return this.error(status);
    if (this.quiet) return;
    this.header(Status.Ok, 0, 0, 8, newCas);
    const offset = this.out.claim(8);
    this.out.target.writeBigUInt64BE(value, offset);
  }

  private flush(delay: number): void {
    const store = this.store;
    store.lock();
    try {
      store.count(STAT.cmd_flush);
      store.flushAll(delay);
    } finally {
      store.unlock();
    }
    this.ok();
  }

  private stat(buf: Buffer, key: number, keyLen: number): void {
    const sub = buf.toString('latin1', key, key + keyLen);
    if (sub === 'reset') {
      this.store.lock();
      try {
        this.store.resetStats();
      } finally {
        this.store.unlock();
      }
    } else if (sub === '') {
      for (const [name, value] of generalStats(this.ctx)) {
        const v = String(value);
        this.header(Status.Ok, 0, name.length, name.length + v.length, 0);
        this.out.ascii(name).ascii(v);
      }
    } else {
      return this.error(Status.KeyNotFound);
    }
    this.header(Status.Ok, 0, 0, 0, 0);
  }
}
