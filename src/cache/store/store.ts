import type { Clock } from '../../core/clock.js';
import { SharedMutex } from '../../core/mutex.js';
import { assert } from '../../core/errors.js';
import { murmur3 } from './hash.js';
import {
  type StoreLayout, type StoreOptions, computeLayout, memcachedItemSize,
  I_HNEXT, I_PREV, I_NEXT, I_EXPTIME, I_TIME, I_FLAGS, I_NBYTES, I_META, ITEM_HEADER,
  M_NKEY, M_CLS_SHIFT, M_SEG_SHIFT, M_LINKED, M_ACTIVE, M_FETCHED, M_FREE, SEG_HOT, SEG_WARM, SEG_COLD,
  C_LOCK, C_PAGES_USED, C_CURR_ITEMS, C_HASH_BUCKETS, C_HASH_EXPAND, C_LAST_STEAL, C_OLDEST_LIVE, F_CAS, F_OLDEST_CAS, F_STARTED, F_BYTES,
  F_TOTAL_ITEMS, F_EVICTIONS, F_RECLAIMED, F_EXPIRED_UNFETCHED, F_EVICTED_UNFETCHED, F_EVICTED_ACTIVE,
  F_SLABS_MOVED, K_SIZE, K_PER_PAGE, K_FREE_HEAD, K_FREE_COUNT, K_CARVE_REF, K_CARVE_LEFT, K_PAGES, K_HEAD,
  K_TAIL, K_COUNT, K_ITEMS, CLASS_WORDS, STAT_NAMES, STAT, type StatName,
} from './layout.js';

/** memcached's REALTIME_MAXDELTA: exptimes above 30 days are absolute Unix times. */
const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;
const HOT_PCT = 0.2;
const WARM_PCT = 0.4;
const EVICT_TRIES = 5;

export function createStoreMemory(options: StoreOptions, clock: Clock): SharedArrayBuffer {
  const layout = computeLayout(options);
  const sab = new SharedArrayBuffer(layout.totalBytes);
  const i32 = new Int32Array(sab);
  const f64 = new Float64Array(sab);
  // Like memcached, relative time starts a little before the process so that "now" is never 0.
  f64[F_STARTED] = Math.floor(clock.nowMs() / 1000) - 62;
  i32[C_HASH_BUCKETS] = layout.initialBuckets;
  i32[C_HASH_EXPAND] = -1;
  for (let cls = 1; cls < layout.classSizes.length; cls++) {
    const base = (layout.classesOffset >> 2) + cls * CLASS_WORDS;
    i32[base + K_SIZE] = layout.classSizes[cls];
    i32[base + K_PER_PAGE] = Math.floor(layout.pageSize / layout.classSizes[cls]);
  }
  return sab;
}

/**
 * The item store: memcached's design in one SharedArrayBuffer. Item memory is cut into pages;
 * each page belongs to a slab class of fixed-size chunks; an item lives in one chunk with a
 * 40-byte header. Keys are found through a chained hash table of 32-bit refs; each class keeps
 * segmented HOT/WARM/COLD LRU lists and a free list, all as refs inside the buffer, so there is
 * no JS object per item and every thread sees the same store.
 *
 * Every method that reads or changes items must run between lock() and unlock(); the protocol
 * layer holds the lock for one command and copies values out before releasing it.
 */
export class CacheStore {
  readonly layout: StoreLayout;
  readonly u8: Buffer;
  private readonly u32: Uint32Array;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly mutex: SharedMutex;
  private readonly classBase: number;
  private readonly bucketBase: number;
  private readonly pageMapBase: number;
  private readonly arenaRef: number;
  private readonly pageRefs: number;
  private readonly statBase: number;
  /** Class id for each item size in 8-byte steps. */
  private readonly classBySize: Uint8Array;
  private readonly startedSec: number;

  constructor(
    readonly sab: SharedArrayBuffer,
    options: StoreOptions,
    private readonly clock: Clock,
    /** Which statistics row this thread adds to. */
    readonly statRow = 0,
  ) {
    this.layout = computeLayout(options);
    assert(sab.byteLength === this.layout.totalBytes, 'shared memory does not match store options');
    this.u8 = Buffer.from(sab);
    this.u32 = new Uint32Array(sab);
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab);
    this.mutex = new SharedMutex(this.i32, C_LOCK);
    this.classBase = this.layout.classesOffset >> 2;
    this.bucketBase = this.layout.bucketsOffset >> 2;
    this.pageMapBase = this.layout.pageMapOffset;
    this.arenaRef = this.layout.arenaOffset / 8;
    this.pageRefs = this.layout.pageSize / 8;
    this.statBase = (this.layout.statsOffset >> 3) + statRow * this.layout.statRowWords;
    this.startedSec = this.f64[F_STARTED];
    const sizes = this.layout.classSizes;
    this.classBySize = new Uint8Array(this.layout.pageSize / 8 + 1);
    let cls = 1;
    for (let s = 0; s < this.classBySize.length; s++) {
      while (cls < sizes.length - 1 && sizes[cls] < s * 8) cls++;
      this.classBySize[s] = cls;
    }
  }

  lock(): void {
    this.mutex.lock();
  }
  unlock(): void {
    this.mutex.unlock();
  }

  /** Run fn with the lock held (for cold paths; hot paths lock and unlock inline). */
  locked<T>(fn: () => T): T {
    this.mutex.lock();
    try {
      return fn();
    } finally {
      this.mutex.unlock();
    }
  }

  // ---- time -------------------------------------------------------------------------------

  /** Seconds since the store's epoch (memcached's current_time). */
  now(): number {
    return Math.floor(this.clock.nowMs() / 1000) - this.startedSec;
  }
  get startedUnix(): number {
    return this.startedSec;
  }

  /** memcached's realtime(): a client exptime to relative seconds (0 = never, 1 = already past). */
  realtime(exptime: number): number {
    if (exptime === 0) return 0;
    if (exptime < 0) return 1;
    if (exptime > REALTIME_MAXDELTA) {
      if (exptime <= this.startedSec) return 1;
      return exptime - this.startedSec;
    }
    return exptime + this.now();
  }

  // ---- statistics ---------------------------------------------------------------------------

  count(stat: number, by = 1): void {
    this.f64[this.statBase + stat] += by;
  }

  /** Sum of one statistic over all threads' rows (a racy read, as memcached's stats are). */
  statTotal(stat: number): number {
    const base = this.layout.statsOffset >> 3;
    let sum = 0;
    for (let r = 0; r < this.layout.options.statRows; r++) sum += this.f64[base + r * this.layout.statRowWords + stat];
    return sum;
  }

  /** One thread's value of a statistic. */
  statRowValue(row: number, name: StatName): number {
    return this.f64[(this.layout.statsOffset >> 3) + row * this.layout.statRowWords + STAT[name]];
  }

  resetStats(): void {
    const base = this.layout.statsOffset >> 3;
    for (let r = 0; r < this.layout.options.statRows; r++) {
      for (let s = 0; s < STAT_NAMES.length; s++) {
        const name = STAT_NAMES[s];
        if (name !== 'total_connections') this.f64[base + r * this.layout.statRowWords + s] = 0;
      }
    }
    this.f64[F_TOTAL_ITEMS] = 0;
    this.f64[F_EVICTIONS] = 0;
    this.f64[F_RECLAIMED] = 0;
    this.f64[F_EXPIRED_UNFETCHED] = 0;
    this.f64[F_EVICTED_UNFETCHED] = 0;
    this.f64[F_EVICTED_ACTIVE] = 0;
  }

  globals() {
    const f = this.f64;
    return {
      currItems: this.i32[C_CURR_ITEMS],
      bytes: f[F_BYTES],
      totalItems: f[F_TOTAL_ITEMS],
      evictions: f[F_EVICTIONS],
      reclaimed: f[F_RECLAIMED],
      expiredUnfetched: f[F_EXPIRED_UNFETCHED],
      evictedUnfetched: f[F_EVICTED_UNFETCHED],
      evictedActive: f[F_EVICTED_ACTIVE],
      slabsMoved: f[F_SLABS_MOVED],
      pagesUsed: this.i32[C_PAGES_USED],
      pageCount: this.layout.pageCount,
      pageSize: this.layout.pageSize,
      limitBytes: this.layout.pageCount * this.layout.pageSize,
      hashBuckets: this.i32[C_HASH_BUCKETS],
      hashExpanding: this.i32[C_HASH_EXPAND] >= 0,
    };
  }

  /** Per-class figures for `stats slabs` / `stats items`. */
  classStats(cls: number) {
    const k = this.classBase + cls * CLASS_WORDS;
    const i = this.i32;
    return {
      chunkSize: i[k + K_SIZE], perPage: i[k + K_PER_PAGE], pages: i[k + K_PAGES], items: i[k + K_ITEMS],
      free: i[k + K_FREE_COUNT] + i[k + K_CARVE_LEFT], hot: i[k + K_COUNT], warm: i[k + K_COUNT + 1],
      cold: i[k + K_COUNT + 2],
    };
  }

  // ---- CAS ----------------------------------------------------------------------------------

  nextCas(): number {
    return ++this.f64[F_CAS];
  }

  // ---- item fields ----------------------------------------------------------------------------

  nkey(ref: number): number {
    return this.u32[ref * 2 + I_META] & M_NKEY;
  }
  keyOffset(ref: number): number {
    return ref * 8 + ITEM_HEADER;
  }
  valueOffset(ref: number): number {
    return ref * 8 + ITEM_HEADER + (this.u32[ref * 2 + I_META] & M_NKEY);
  }
  nbytes(ref: number): number {
    return this.u32[ref * 2 + I_NBYTES];
  }
  flags(ref: number): number {
    return this.u32[ref * 2 + I_FLAGS];
  }
  exptime(ref: number): number {
    return this.u32[ref * 2 + I_EXPTIME];
  }
  setExptime(ref: number, rel: number): void {
    this.u32[ref * 2 + I_EXPTIME] = rel;
  }
  lastAccess(ref: number): number {
    return this.u32[ref * 2 + I_TIME];
  }
  cas(ref: number): number {
    return this.f64[ref + 4];
  }
  setCas(ref: number, cas: number): void {
    this.f64[ref + 4] = cas;
  }
  meta(ref: number): number {
    return this.u32[ref * 2 + I_META];
  }
  setMetaBits(ref: number, bits: number): void {
    this.u32[ref * 2 + I_META] |= bits;
  }
  clearMetaBits(ref: number, bits: number): void {
    this.u32[ref * 2 + I_META] &= ~bits;
  }

  // ---- lookup ---------------------------------------------------------------------------------

  private keyEquals(ref: number, key: Uint8Array, off: number, len: number): boolean {
    if ((this.u32[ref * 2 + I_META] & M_NKEY) !== len) return false;
    const u8 = this.u8;
    let p = ref * 8 + ITEM_HEADER;
    for (let i = 0; i < len; i++) if (u8[p++] !== key[off + i]) return false;
    return true;
  }

  /** Whether a linked item is past its exptime or behind a flush_all. */
  isDead(ref: number, now: number): boolean {
    const w = ref * 2;
    const exp = this.u32[w + I_EXPTIME];
    if (exp !== 0 && exp <= now) return true;
    const oldestLive = this.i32[C_OLDEST_LIVE];
    if (oldestLive === 0 || oldestLive > now) return false;
    if (this.u32[w + I_TIME] <= oldestLive) return true;
    const oldestCas = this.f64[F_OLDEST_CAS];
    const cas = this.f64[ref + 4];
    return oldestCas !== 0 && cas !== 0 && cas < oldestCas;
  }

  /**
   * Find a live item. An expired or flushed item found on the way is unlinked (memcached's lazy
   * expiry); `lastMissWasExpired` / `lastMissWasFlushed` tell the caller which kind of miss it was.
   */
  find(key: Uint8Array, off: number, len: number, now: number): number {
    const hv = murmur3(key, off, len);
    let ref = this.u32[this.bucketBase + this.bucketOf(hv)];
    while (ref !== 0) {
      if (this.keyEquals(ref, key, off, len)) {
        if (this.isDead(ref, now)) {
          this.lastMissWasExpired = this.u32[ref * 2 + I_EXPTIME] !== 0 && this.u32[ref * 2 + I_EXPTIME] <= now;
          this.lastMissWasFlushed = !this.lastMissWasExpired;
          if (this.lastMissWasExpired && !(this.u32[ref * 2 + I_META] & M_FETCHED)) this.f64[F_EXPIRED_UNFETCHED]++;
          this.unlink(ref);
          return 0;
        }
        return ref;
      }
      ref = this.u32[ref * 2 + I_HNEXT];
    }
    this.lastMissWasExpired = false;
    this.lastMissWasFlushed = false;
    return 0;
  }
  lastMissWasExpired = false;
  lastMissWasFlushed = false;

  /** Record a read: mark fetched, update access time, and let the segmented LRU see the hit. */
  bump(ref: number, now: number): void {
    const w = ref * 2;
    const meta = this.u32[w + I_META];
    this.u32[w + I_TIME] = now;
    if (meta & M_FETCHED) {
      const seg = (meta >>> M_SEG_SHIFT) & 3;
      if (seg === SEG_COLD) {
        // A second hit while cold: back to WARM, as memcached's maintainer would move it.
        const cls = (meta >>> M_CLS_SHIFT) & 0xff;
        this.lruRemove(ref, cls);
        this.lruPush(ref, cls, SEG_WARM);
      } else {
        this.u32[w + I_META] = meta | M_ACTIVE;
      }
    } else {
      this.u32[w + I_META] = meta | M_FETCHED;
    }
  }

  // ---- allocation -------------------------------------------------------------------------------

  /** Whether an item would exceed the item size limit, counted the way memcached counts it. */
  tooLarge(nkey: number, nbytes: number): boolean {
    return memcachedItemSize(nkey, nbytes) > this.layout.options.itemSizeMax;
  }

  /**
   * Allocate an unlinked item and fill its header and key; returns 0 when no memory can be had.
   * The caller must link() or free() it before unlocking.
   */
  alloc(key: Uint8Array, off: number, nkey: number, flags: number, exptime: number, nbytes: number, now: number): number {
    const size = ITEM_HEADER + nkey + nbytes;
    if (size > this.layout.pageSize) return 0;
    const cls = this.classBySize[(size + 7) >>> 3];
    const ref = this.takeChunk(cls, now);
    if (ref === 0) return 0;
    const w = ref * 2;
    this.u32[w + I_HNEXT] = 0;
    this.u32[w + I_PREV] = 0;
    this.u32[w + I_NEXT] = 0;
    this.u32[w + I_EXPTIME] = exptime;
    this.u32[w + I_TIME] = now;
    this.u32[w + I_FLAGS] = flags;
    this.u32[w + I_NBYTES] = nbytes;
    this.u32[w + I_META] = nkey | (cls << M_CLS_SHIFT);
    this.f64[ref + 4] = 0;
    const u8 = this.u8;
    let p = ref * 8 + ITEM_HEADER;
    for (let i = off; i < off + nkey; i++) u8[p++] = key[i];
    return ref;
  }

  private takeChunk(cls: number, now: number): number {
    const k = this.classBase + cls * CLASS_WORDS;
    const i = this.i32;
    this.lruBalance(cls);
    if (i[k + K_FREE_HEAD] !== 0) return this.popFree(cls);
    if (i[k + K_CARVE_LEFT] > 0) return this.carve(cls);
    if (i[C_PAGES_USED] < this.layout.pageCount) {
      const page = i[C_PAGES_USED]++;
      this.assignPage(page, cls);
      return this.carve(cls);
    }
    if (this.shouldSteal(cls, now)) {
      if (this.stealPage(cls, now)) return this.takeChunk(cls, now);
    }
    if (this.evictOne(cls, now)) return this.popFree(cls);
    return 0;
  }

  private assignPage(page: number, cls: number): void {
    const k = this.classBase + cls * CLASS_WORDS;
    this.u8[this.pageMapBase + page] = cls;
    this.i32[k + K_PAGES]++;
    this.i32[k + K_CARVE_REF] = this.arenaRef + page * this.pageRefs;
    this.i32[k + K_CARVE_LEFT] = this.i32[k + K_PER_PAGE];
  }

  private carve(cls: number): number {
    const k = this.classBase + cls * CLASS_WORDS;
    const ref = this.i32[k + K_CARVE_REF];
    this.i32[k + K_CARVE_REF] = ref + this.i32[k + K_SIZE] / 8;
    this.i32[k + K_CARVE_LEFT]--;
    return ref;
  }

  private popFree(cls: number): number {
    const k = this.classBase + cls * CLASS_WORDS;
    const ref = this.i32[k + K_FREE_HEAD];
    this.freeListRemove(ref, cls);
    return ref;
  }

  private freeListRemove(ref: number, cls: number): void {
    const k = this.classBase + cls * CLASS_WORDS;
    const w = ref * 2;
    const prev = this.u32[w + I_PREV];
    const next = this.u32[w + I_NEXT];
    if (prev !== 0) this.u32[prev * 2 + I_NEXT] = next;
    else this.i32[k + K_FREE_HEAD] = next;
    if (next !== 0) this.u32[next * 2 + I_PREV] = prev;
    this.u32[w + I_META] &= ~M_FREE;
    this.i32[k + K_FREE_COUNT]--;
  }

  /** Return an unlinked item's chunk to its class's free list. */
  free(ref: number): void {
    const w = ref * 2;
    const cls = (this.u32[w + I_META] >>> M_CLS_SHIFT) & 0xff;
    const k = this.classBase + cls * CLASS_WORDS;
    const head = this.i32[k + K_FREE_HEAD];
    this.u32[w + I_META] = (cls << M_CLS_SHIFT) | M_FREE;
    this.u32[w + I_PREV] = 0;
    this.u32[w + I_NEXT] = head;
    if (head !== 0) this.u32[head * 2 + I_PREV] = ref;
    this.i32[k + K_FREE_HEAD] = ref;
    this.i32[k + K_FREE_COUNT]++;
  }

  // ---- linking --------------------------------------------------------------------------------

  /** Put an allocated item into the hash table and the HOT LRU, giving it a fresh CAS. */
  link(ref: number, now: number): void {
    const w = ref * 2;
    const nkey = this.u32[w + I_META] & M_NKEY;
    const hv = murmur3(this.u8, ref * 8 + ITEM_HEADER, nkey);
    const b = this.bucketBase + this.bucketOf(hv);
    this.u32[w + I_HNEXT] = this.u32[b];
    this.u32[b] = ref;
    this.u32[w + I_META] |= M_LINKED;
    this.u32[w + I_TIME] = now;
    if (this.f64[ref + 4] === 0) this.f64[ref + 4] = this.nextCas();
    this.lruPush(ref, (this.u32[w + I_META] >>> M_CLS_SHIFT) & 0xff, SEG_HOT);
    this.i32[C_CURR_ITEMS]++;
    this.f64[F_TOTAL_ITEMS]++;
    this.growHash();
    this.f64[F_BYTES] += memcachedItemSize(nkey, this.u32[w + I_NBYTES]);
  }

  /** Take a linked item out of the hash table and LRU, and free its chunk. */
  unlink(ref: number): void {
    this.detach(ref);
    this.free(ref);
  }

  /** Replace a linked item by a newly allocated one for the same key. */
  replace(oldRef: number, newRef: number, now: number): void {
    this.unlink(oldRef);
    this.link(newRef, now);
  }

  private detach(ref: number): void {
    const w = ref * 2;
    const meta = this.u32[w + I_META];
    assert(meta & M_LINKED, 'detach of an unlinked item');
    const nkey = meta & M_NKEY;
    const hv = murmur3(this.u8, ref * 8 + ITEM_HEADER, nkey);
    const b = this.bucketBase + this.bucketOf(hv);
    let cur = this.u32[b];
    if (cur === ref) {
      this.u32[b] = this.u32[w + I_HNEXT];
    } else {
      while (cur !== 0 && this.u32[cur * 2 + I_HNEXT] !== ref) cur = this.u32[cur * 2 + I_HNEXT];
      assert(cur !== 0, 'linked item missing from its hash chain');
      this.u32[cur * 2 + I_HNEXT] = this.u32[w + I_HNEXT];
    }
    this.lruRemove(ref, (meta >>> M_CLS_SHIFT) & 0xff);
    this.u32[w + I_META] &= ~M_LINKED;
    this.i32[C_CURR_ITEMS]--;
    this.f64[F_BYTES] -= memcachedItemSize(nkey, this.u32[w + I_NBYTES]);
  }

  // ---- hash table ---------------------------------------------------------------------------

  /**
   * The bucket of a hash. The table doubles in place, as memcached's does, but a few buckets at
   * a time: while doubling, old buckets below the cursor have been split into b and b + n.
   */
  private bucketOf(hv: number): number {
    const n = this.i32[C_HASH_BUCKETS];
    const b = hv & (n - 1);
    const cursor = this.i32[C_HASH_EXPAND];
    return cursor >= 0 && b < cursor ? hv & (2 * n - 1) : b;
  }

  /** Start doubling when items pass 1.5 per bucket; each link then splits a few more buckets. */
  private growHash(): void {
    const i = this.i32;
    const n = i[C_HASH_BUCKETS];
    if (i[C_HASH_EXPAND] < 0) {
      if (i[C_CURR_ITEMS] <= n * 1.5 || 2 * n > this.layout.bucketCount) return;
      i[C_HASH_EXPAND] = 0;
    }
    const u32 = this.u32;
    const base = this.bucketBase;
    const end = Math.min(n, i[C_HASH_EXPAND] + 16);
    for (let b = i[C_HASH_EXPAND]; b < end; b++) {
      // Split bucket b: items whose next hash bit is set move to bucket b + n (empty until now).
      let keep = 0;
      let move = 0;
      let ref = u32[base + b];
      while (ref !== 0) {
        const next = u32[ref * 2 + I_HNEXT];
        const hv = murmur3(this.u8, ref * 8 + ITEM_HEADER, u32[ref * 2 + I_META] & M_NKEY);
        if (hv & n) {
          u32[ref * 2 + I_HNEXT] = move;
          move = ref;
        } else {
          u32[ref * 2 + I_HNEXT] = keep;
          keep = ref;
        }
        ref = next;
      }
      u32[base + b] = keep;
      u32[base + b + n] = move;
    }
    if (end === n) {
      i[C_HASH_BUCKETS] = 2 * n;
      i[C_HASH_EXPAND] = -1;
    } else {
      i[C_HASH_EXPAND] = end;
    }
  }

  // ---- segmented LRU --------------------------------------------------------------------------

  private lruPush(ref: number, cls: number, seg: number): void {
    const k = this.classBase + cls * CLASS_WORDS;
    const w = ref * 2;
    const head = this.i32[k + K_HEAD + seg - 1];
    this.u32[w + I_PREV] = 0;
    this.u32[w + I_NEXT] = head;
    if (head !== 0) this.u32[head * 2 + I_PREV] = ref;
    else this.i32[k + K_TAIL + seg - 1] = ref;
    this.i32[k + K_HEAD + seg - 1] = ref;
    this.i32[k + K_COUNT + seg - 1]++;
    this.i32[k + K_ITEMS]++;
    this.u32[w + I_META] = (this.u32[w + I_META] & ~((3 << M_SEG_SHIFT) | M_ACTIVE)) | (seg << M_SEG_SHIFT);
  }

  private lruRemove(ref: number, cls: number): void {
    const k = this.classBase + cls * CLASS_WORDS;
    const w = ref * 2;
    const seg = (this.u32[w + I_META] >>> M_SEG_SHIFT) & 3;
    const prev = this.u32[w + I_PREV];
    const next = this.u32[w + I_NEXT];
    if (prev !== 0) this.u32[prev * 2 + I_NEXT] = next;
    else this.i32[k + K_HEAD + seg - 1] = next;
    if (next !== 0) this.u32[next * 2 + I_PREV] = prev;
    else this.i32[k + K_TAIL + seg - 1] = prev;
    this.i32[k + K_COUNT + seg - 1]--;
    this.i32[k + K_ITEMS]--;
    this.u32[w + I_META] &= ~(3 << M_SEG_SHIFT);
  }

  /**
   * Keep HOT within 20% and WARM within 40% of the class's items, moving a few tails per call:
   * HOT tails go to COLD (or WARM if hit again), WARM tails that were hit stay WARM, others go COLD.
   */
  private lruBalance(cls: number): void {
    const k = this.classBase + cls * CLASS_WORDS;
    const i = this.i32;
    const items = i[k + K_ITEMS];
    for (let n = 0; n < 4 && i[k + K_COUNT] > items * HOT_PCT; n++) {
      const tail = i[k + K_TAIL];
      const active = this.u32[tail * 2 + I_META] & M_ACTIVE;
      this.lruRemove(tail, cls);
      this.lruPush(tail, cls, active ? SEG_WARM : SEG_COLD);
    }
    for (let n = 0; n < 4 && i[k + K_COUNT + 1] > items * WARM_PCT; n++) {
      const tail = i[k + K_TAIL + 1];
      const active = this.u32[tail * 2 + I_META] & M_ACTIVE;
      this.lruRemove(tail, cls);
      this.lruPush(tail, cls, active ? SEG_WARM : SEG_COLD);
    }
  }

  /** The oldest item of a class: COLD's tail, else WARM's, else HOT's. */
  private oldest(cls: number): number {
    const k = this.classBase + cls * CLASS_WORDS;
    return this.i32[k + K_TAIL + 2] || this.i32[k + K_TAIL + 1] || this.i32[k + K_TAIL];
  }

  /** Free one chunk of a class: reclaim an expired tail item, or evict the least recently used. */
  private evictOne(cls: number, now: number): boolean {
    for (let tries = 0; tries < EVICT_TRIES; tries++) {
      const ref = this.oldest(cls);
      if (ref === 0) return false;
      const meta = this.u32[ref * 2 + I_META];
      if (this.isDead(ref, now)) {
        this.f64[F_RECLAIMED]++;
        this.unlink(ref);
        return true;
      }
      const seg = (meta >>> M_SEG_SHIFT) & 3;
      if (seg === SEG_COLD && meta & M_ACTIVE && tries < EVICT_TRIES - 1) {
        this.lruRemove(ref, cls);
        this.lruPush(ref, cls, SEG_WARM);
        continue;
      }
      this.f64[F_EVICTIONS]++;
      if (!(meta & M_FETCHED)) this.f64[F_EVICTED_UNFETCHED]++;
      if (meta & M_ACTIVE) this.f64[F_EVICTED_ACTIVE]++;
      this.unlink(ref);
      return true;
    }
    return false;
  }

  // ---- page rebalancing ---------------------------------------------------------------------

  /** Class holding the most pages other than `cls`, or 0. */
  private richestClass(cls: number): number {
    let best = 0;
    let bestPages = 0;
    for (let c = 1; c < this.layout.classSizes.length; c++) {
      const pages = this.i32[this.classBase + c * CLASS_WORDS + K_PAGES];
      if (c !== cls && pages > bestPages) {
        best = c;
        bestPages = pages;
      }
    }
    return best;
  }

  /**
   * Move a page to a starved class when it has nothing to evict, or (at most once a second) when
   * its oldest item is younger than the oldest item of the class with most pages: memory goes
   * where items are evicted soonest, which is what memcached's slab automover aims at.
   */
  private shouldSteal(cls: number, now: number): boolean {
    const victim = this.richestClass(cls);
    if (victim === 0) return false;
    const victimPages = this.i32[this.classBase + victim * CLASS_WORDS + K_PAGES];
    const myPages = this.i32[this.classBase + cls * CLASS_WORDS + K_PAGES];
    const mine = this.oldest(cls);
    if (mine === 0) return victimPages > 0;
    if (victimPages <= myPages + 1 || this.i32[C_LAST_STEAL] === now) return false;
    const theirs = this.oldest(victim);
    return theirs !== 0 && this.u32[theirs * 2 + I_TIME] + 1 < this.u32[mine * 2 + I_TIME];
  }

  private stealPage(cls: number, now: number): boolean {
    const victim = this.richestClass(cls);
    if (victim === 0) return false;
    const vk = this.classBase + victim * CLASS_WORDS;
    // Take the page holding the victim's oldest item, or failing that the carve page.
    const oldest = this.oldest(victim);
    const pageOf = (ref: number) => Math.floor((ref - this.arenaRef) / this.pageRefs);
    const page = oldest !== 0 ? pageOf(oldest) : pageOf(this.i32[vk + K_CARVE_REF] - 1);
    if (page < 0 || page >= this.layout.pageCount || this.u8[this.pageMapBase + page] !== victim) return false;
    const first = this.arenaRef + page * this.pageRefs;
    const stride = this.i32[vk + K_SIZE] / 8;
    let end = first + this.i32[vk + K_PER_PAGE] * stride;
    const carve = this.i32[vk + K_CARVE_REF];
    if (this.i32[vk + K_CARVE_LEFT] > 0 && carve >= first && carve < first + this.pageRefs) {
      end = carve;
      this.i32[vk + K_CARVE_LEFT] = 0;
    }
    for (let ref = first; ref < end; ref += stride) {
      const meta = this.u32[ref * 2 + I_META];
      if (meta & M_LINKED) {
        if (!this.isDead(ref, now)) {
          this.f64[F_EVICTIONS]++;
          if (!(meta & M_FETCHED)) this.f64[F_EVICTED_UNFETCHED]++;
        }
        this.detach(ref);
      } else if (meta & M_FREE) {
        this.freeListRemove(ref, victim);
      }
    }
    this.i32[vk + K_PAGES]--;
    this.i32[C_LAST_STEAL] = now;
    this.f64[F_SLABS_MOVED]++;
    // The stolen page becomes the starved class's carve page; any carve it had left is dropped
    // onto its free list first so no chunk is lost.
    const k = this.classBase + cls * CLASS_WORDS;
    while (this.i32[k + K_CARVE_LEFT] > 0) {
      const ref = this.carve(cls);
      this.u32[ref * 2 + I_META] = cls << M_CLS_SHIFT;
      this.free(ref);
    }
    this.assignPage(page, cls);
    return true;
  }

  // ---- invariants ---------------------------------------------------------------------------

  /**
   * Walk every list and the hash table and check that they agree with each other and with the
   * counters. For tests and debugging; call with the lock held. Throws on the first violation.
   */
  verify(): void {
    const u32 = this.u32;
    const i32 = this.i32;
    let linked = 0;
    for (let cls = 1; cls < this.layout.classSizes.length; cls++) {
      const k = this.classBase + cls * CLASS_WORDS;
      let items = 0;
      for (let seg = SEG_HOT; seg <= SEG_COLD; seg++) {
        let prev = 0;
        let n = 0;
        for (let ref = i32[k + K_HEAD + seg - 1]; ref !== 0; ref = u32[ref * 2 + I_NEXT]) {
          const meta = u32[ref * 2 + I_META];
          assert(meta & M_LINKED, `class ${cls} segment ${seg}: unlinked item in LRU`);
          assert(((meta >>> M_SEG_SHIFT) & 3) === seg, `class ${cls}: item in wrong segment`);
          assert(((meta >>> M_CLS_SHIFT) & 0xff) === cls, `class ${cls}: item of another class`);
          assert(u32[ref * 2 + I_PREV] === prev, `class ${cls} segment ${seg}: broken prev link`);
          prev = ref;
          assert(++n <= this.layout.pageCount * this.pageRefs, 'LRU cycle');
        }
        assert(i32[k + K_TAIL + seg - 1] === prev, `class ${cls} segment ${seg}: wrong tail`);
        assert(i32[k + K_COUNT + seg - 1] === n, `class ${cls} segment ${seg}: count ${i32[k + K_COUNT + seg - 1]} != ${n}`);
        items += n;
      }
      assert(i32[k + K_ITEMS] === items, `class ${cls}: items counter`);
      linked += items;
      let free = 0;
      for (let ref = i32[k + K_FREE_HEAD]; ref !== 0; ref = u32[ref * 2 + I_NEXT]) {
        assert(u32[ref * 2 + I_META] & M_FREE, `class ${cls}: free list holds a used chunk`);
        assert(++free <= this.layout.pageCount * this.pageRefs, 'free list cycle');
      }
      assert(i32[k + K_FREE_COUNT] === free, `class ${cls}: free count`);
    }
    assert(i32[C_CURR_ITEMS] === linked, `curr_items ${i32[C_CURR_ITEMS]} != items in LRUs ${linked}`);
    let hashed = 0;
    for (let b = 0; b < this.layout.bucketCount; b++) {
      for (let ref = u32[this.bucketBase + b]; ref !== 0; ref = u32[ref * 2 + I_HNEXT]) {
        assert(u32[ref * 2 + I_META] & M_LINKED, 'hash chain holds an unlinked item');
        const nkey = u32[ref * 2 + I_META] & M_NKEY;
        assert(this.bucketOf(murmur3(this.u8, ref * 8 + ITEM_HEADER, nkey)) === b, 'item in the wrong bucket');
        assert(++hashed <= linked, 'hash chain cycle or extra item');
      }
    }
    assert(hashed === linked, `hash table holds ${hashed} items, LRUs ${linked}`);
  }

  // ---- flush --------------------------------------------------------------------------------

  /** memcached's flush_all: items last written before the horizon (or with older CAS) are dead. */
  flushAll(delaySeconds: number): void {
    const now = this.now();
    const newOldest = delaySeconds > 0 ? this.realtime(delaySeconds) : now;
    this.i32[C_OLDEST_LIVE] = newOldest - 1;
    if (newOldest - 1 <= now) this.f64[F_OLDEST_CAS] = this.f64[F_CAS] + 1;
  }
}
