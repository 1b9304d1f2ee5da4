import type { CacheStore } from './store/store.js';
import { STAT } from './store/layout.js';
import { M_STALE, M_WIN_SENT } from './store/layout.js';
import { parseU64 } from '../core/c-numbers.js';

/**
 * Cache operations with memcached's semantics, shared by the text, meta and binary protocols.
 * Every function here runs with the store locked.
 */

export const enum Mode {
  Set = 1,
  Add = 2,
  Replace = 3,
  Append = 4,
  Prepend = 5,
  Cas = 6,
}

export const enum StoreResult {
  Stored = 0,
  NotStored = 1,
  Exists = 2,
  NotFound = 3,
  TooLarge = 4,
  NoMemory = 5,
}

export interface StoreRequest {
  mode: Mode;
  key: Uint8Array;
  keyOff: number;
  keyLen: number;
  flags: number;
  /** Already converted with store.realtime(). */
  exptime: number;
  value: Buffer;
  valueOff: number;
  valueLen: number;
  /** CAS the client supplied (0 = none). */
  cas: number;
  /** Meta `I` (invalidate): a CAS older than the item's stores the value marked stale. */
  invalidate?: boolean;
}

/** The CAS of the item the last successful store wrote. */
export let lastStoredCas = 0;

/**
 * Refuse a value over the item size limit. Like memcached, a refused set also removes the key's
 * old value, so a stale value cannot outlive a failed update.
 */
export function refuseTooLarge(store: CacheStore, key: Uint8Array, keyOff: number, keyLen: number, removeOld: boolean): void {
  store.count(STAT.cmd_set);
  store.count(STAT.store_too_large);
  if (removeOld) {
    const old = store.find(key, keyOff, keyLen, store.now());
    if (old) store.unlink(old);
  }
}

/** memcached's do_store_item. */
export function storeItem(store: CacheStore, req: StoreRequest, now: number): StoreResult {
  const { key, keyOff, keyLen } = req;
  if (store.tooLarge(keyLen, req.valueLen)) {
    refuseTooLarge(store, key, keyOff, keyLen, req.mode === Mode.Set);
    return StoreResult.TooLarge;
  }
  store.count(STAT.cmd_set);
  const old = store.find(key, keyOff, keyLen, now);
  let stale = false;
  switch (req.mode) {
    case Mode.Add:
      if (old) {
        store.bump(old, now);
        return StoreResult.NotStored;
      }
      break;
    case Mode.Replace:
    case Mode.Append:
    case Mode.Prepend:
      if (!old) return StoreResult.NotStored;
      if (req.cas !== 0 && store.cas(old) !== req.cas) return StoreResult.Exists;
      break;
    case Mode.Cas:
      if (!old) {
        store.count(STAT.cas_misses);
        return StoreResult.NotFound;
      }
      if (store.cas(old) !== req.cas) {
        if (req.invalidate && req.cas < store.cas(old)) {
          stale = true;
        } else {
          store.count(STAT.cas_badval);
          return StoreResult.Exists;
        }
      }
      store.count(STAT.cas_hits);
      break;
    default:
      if (req.cas !== 0 && old && store.cas(old) !== req.cas) return StoreResult.Exists;
  }

  let ref: number;
  if (req.mode === Mode.Append || req.mode === Mode.Prepend) {
    const oldLen = store.nbytes(old);
    const total = oldLen + req.valueLen;
    if (store.tooLarge(keyLen, total)) return StoreResult.TooLarge;
    ref = store.alloc(key, keyOff, keyLen, store.flags(old), store.exptime(old), total, now);
    if (ref === 0) {
      store.count(STAT.store_no_memory);
      return StoreResult.NoMemory;
    }
    // The old item may have been evicted to make room; it is still intact until reused, but
    // look it up again to be safe.
    const still = store.find(key, keyOff, keyLen, now);
    if (still !== old) {
      store.free(ref);
      return StoreResult.NotStored;
    }
    const dst = store.valueOffset(ref);
    const src = store.valueOffset(old);
    if (req.mode === Mode.Append) {
      store.u8.copyWithin(dst, src, src + oldLen);
      req.value.copy(store.u8, dst + oldLen, req.valueOff, req.valueOff + req.valueLen);
    } else {
      req.value.copy(store.u8, dst, req.valueOff, req.valueOff + req.valueLen);
      store.u8.copyWithin(dst + req.valueLen, src, src + oldLen);
    }
  } else {
    ref = store.alloc(key, keyOff, keyLen, req.flags, req.exptime, req.valueLen, now);
    if (ref === 0) {
      store.count(STAT.store_no_memory);
      if (req.mode === Mode.Set) {
        const again = store.find(key, keyOff, keyLen, now);
        if (again) store.unlink(again);
      }
      return StoreResult.NoMemory;
    }
    req.value.copy(store.u8, store.valueOffset(ref), req.valueOff, req.valueOff + req.valueLen);
  }
  // Allocation may have evicted the old item; link replaces whatever is there now.
  const current = store.find(key, keyOff, keyLen, now);
  if (stale && current) {
    // A stale write keeps the TTL and lease state of the item it replaces (memcached's CAS_STALE).
    store.setExptime(ref, store.exptime(current));
    store.setMetaBits(ref, M_STALE | (store.meta(current) & M_WIN_SENT));
  }
  if (current) store.unlink(current);
  store.link(ref, now);
  lastStoredCas = store.cas(ref);
  return StoreResult.Stored;
}

/** Result of incr/decr: the new value, or a failure code. */
export const enum DeltaResult {
  Ok = 0,
  NotFound = 1,
  NonNumeric = 2,
  NoMemory = 3,
  Exists = 4,
}

export let lastDeltaValue = 0n;

const U64 = (1n << 64n) - 1n;
const keyScratch = Buffer.alloc(256);

/** memcached's do_add_delta: incr wraps at 2^64, decr stops at 0, shorter results are space padded. */
export function addDelta(
  store: CacheStore,
  ref: number,
  incr: boolean,
  delta: bigint,
  now: number,
  casIn = 0,
): DeltaResult {
  const nbytes = store.nbytes(ref);
  if (nbytes === 0) return DeltaResult.NonNumeric;
  if (casIn !== 0 && store.cas(ref) !== casIn) return DeltaResult.Exists;
  const off = store.valueOffset(ref);
  // The stored data is followed by CRLF in memcached; strtoull stops at end or whitespace.
  let value = parseU64(store.u8, off, off + nbytes);
  if (value < 0n) return DeltaResult.NonNumeric;
  if (incr) value = (value + delta) & U64;
  else value = delta > value ? 0n : value - delta;
  lastDeltaValue = value;
  const text = value.toString();
  if (text.length <= nbytes) {
    store.u8.write(text, off, 'latin1');
    store.u8.fill(32, off + text.length, off + nbytes);
    store.setCas(ref, store.nextCas());
    store.bump(ref, now);
    return DeltaResult.Ok;
  }
  // Copy the key out first: allocation may evict this very item and reuse its chunk.
  const nkey = store.nkey(ref);
  store.u8.copy(keyScratch, 0, store.keyOffset(ref), store.keyOffset(ref) + nkey);
  const fresh = store.alloc(keyScratch, 0, nkey, store.flags(ref), store.exptime(ref), text.length, now);
  if (fresh === 0) return DeltaResult.NoMemory;
  store.u8.write(text, store.valueOffset(fresh), 'latin1');
  const current = store.find(store.u8, store.keyOffset(fresh), store.nkey(fresh), now);
  if (current) store.unlink(current);
  store.link(fresh, now);
  return DeltaResult.Ok;
}

/** Mark an item invalidated (meta `I`): stale, a fresh CAS, and a new lease may be won. */
export function invalidateItem(store: CacheStore, ref: number): void {
  store.setMetaBits(ref, M_STALE);
  store.clearMetaBits(ref, M_WIN_SENT);
  store.setCas(ref, store.nextCas());
}
