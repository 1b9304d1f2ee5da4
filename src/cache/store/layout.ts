/**
 * Layout of the cache's shared memory. Every thread maps the same SharedArrayBuffer and derives
 * the same offsets from the same options, so nothing but the buffer and the options crosses
 * threads. The on-memory format is documented in docs/cache.md ("Store layout").
 */

export interface StoreOptions {
  /** Bytes of item memory (memcached -m). Rounded down to whole pages, at least one page. */
  memoryLimit: number;
  /** Largest item (memcached -I), counted as memcached counts it: 59 + key + value bytes. */
  itemSizeMax: number;
  /** Ratio between successive slab chunk sizes (memcached -f). */
  growthFactor: number;
  /** Smallest chunk in bytes, header included. */
  minChunk: number;
  /** Number of per-thread statistics rows (one per thread that serves connections). */
  statRows: number;
}

export const DEFAULT_STORE_OPTIONS: StoreOptions = {
  memoryLimit: 64 * 1024 * 1024,
  itemSizeMax: 1024 * 1024,
  growthFactor: 1.25,
  minChunk: 64,
  statRows: 1,
};

/** Item header, in 32-bit words from the item's start (the item's byte offset is ref * 8). */
export const I_HNEXT = 0; // next item in the hash chain (ref)
export const I_PREV = 1; // LRU or free-list neighbours (refs)
export const I_NEXT = 2;
export const I_EXPTIME = 3; // relative seconds, 0 = never
export const I_TIME = 4; // last access, relative seconds
export const I_FLAGS = 5; // client flags
export const I_NBYTES = 6; // value length
export const I_META = 7; // bit fields below
/** The CAS value is a float64 (integers below 2^53) at byte 32; the key starts at byte 40. */
export const ITEM_HEADER = 40;

export const M_NKEY = 0xff;
export const M_CLS_SHIFT = 8;
export const M_SEG_SHIFT = 16; // 2 bits: 0 none, 1 HOT, 2 WARM, 3 COLD
export const M_LINKED = 1 << 18;
export const M_ACTIVE = 1 << 19; // hit again since it entered its segment
export const M_FETCHED = 1 << 20; // read at least once
export const M_STALE = 1 << 21; // invalidated by meta md I / ms I
export const M_WIN_SENT = 1 << 22; // a lease (W flag) was handed out for this item
export const M_FREE = 1 << 23; // on a free list

export const SEG_HOT = 1;
export const SEG_WARM = 2;
export const SEG_COLD = 3;

/** Control words (Int32 index). */
export const C_LOCK = 0;
export const C_PAGES_USED = 1;
export const C_CURR_ITEMS = 2;
export const C_LAST_STEAL = 3;
export const C_OLDEST_LIVE = 4; // flush_all horizon, relative seconds (0 = none)
export const C_HASH_BUCKETS = 5; // buckets in use (a power of two), doubled as items grow
export const C_HASH_EXPAND = 6; // while doubling: old buckets already split; -1 otherwise
/** Control float64 slots (Float64 index; the control block is 256 bytes). */
export const F_CAS = 8; // last CAS handed out
export const F_OLDEST_CAS = 9; // flush_all: items with a smaller CAS are dead
export const F_STARTED = 10; // Unix seconds that relative time counts from
export const F_BYTES = 11; // sum of memcached-style item sizes of linked items
export const F_TOTAL_ITEMS = 12;
export const F_EVICTIONS = 13;
export const F_RECLAIMED = 14;
export const F_EXPIRED_UNFETCHED = 15;
export const F_EVICTED_UNFETCHED = 16;
export const F_EVICTED_ACTIVE = 17;
export const F_SLABS_MOVED = 18;
export const CONTROL_BYTES = 256;

/** Per-class table (Int32 words, CLASS_WORDS per class, class 0 unused). */
export const K_SIZE = 0;
export const K_PER_PAGE = 1;
export const K_FREE_HEAD = 2;
export const K_FREE_COUNT = 3;
export const K_CARVE_REF = 4; // next never-used chunk of the class's newest page
export const K_CARVE_LEFT = 5;
export const K_PAGES = 6;
export const K_HEAD = 7; // + segment - 1
export const K_TAIL = 10; // + segment - 1
export const K_COUNT = 13; // + segment - 1
export const K_ITEMS = 16;
export const CLASS_WORDS = 32;
export const MAX_CLASSES = 64;

/** Command counters kept per thread (Float64 rows), summed when read. */
export const STAT_NAMES = [
  'cmd_get', 'cmd_set', 'cmd_flush', 'cmd_touch', 'cmd_meta', 'get_hits', 'get_misses', 'get_expired',
  'get_flushed', 'delete_misses', 'delete_hits', 'incr_misses', 'incr_hits', 'decr_misses', 'decr_hits',
  'cas_misses', 'cas_hits', 'cas_badval', 'touch_hits', 'touch_misses', 'store_too_large', 'store_no_memory',
  'bytes_read', 'bytes_written', 'total_connections', 'rejected_connections',
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export const STAT: { [K in StatName]: number } = Object.fromEntries(STAT_NAMES.map((n, i) => [n, i])) as never;
const STAT_ROW = 32;
if (STAT_NAMES.length > STAT_ROW) throw new Error('statistics row too small for STAT_NAMES');

export interface StoreLayout {
  options: StoreOptions;
  pageSize: number;
  pageCount: number;
  classSizes: number[]; // index = class id, [0] unused
  statsOffset: number;
  statRowWords: number;
  classesOffset: number;
  pageMapOffset: number;
  bucketsOffset: number;
  /** Buckets reserved (the most the table grows to); only the first C_HASH_BUCKETS are in use. */
  bucketCount: number;
  initialBuckets: number;
  arenaOffset: number;
  totalBytes: number;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export function computeLayout(options: StoreOptions): StoreLayout {
  const pageSize = align(Math.max(1024 * 1024, options.itemSizeMax), 8);
  const pageCount = Math.max(1, Math.floor(options.memoryLimit / pageSize));
  const classSizes = [0];
  let size = align(options.minChunk, 8);
  while (size < pageSize / 2 && classSizes.length < MAX_CLASSES - 1) {
    classSizes.push(size);
    size = align(Math.ceil(size * options.growthFactor), 8);
  }
  classSizes.push(pageSize);

  let off = CONTROL_BYTES;
  const statsOffset = off;
  off += options.statRows * STAT_ROW * 8;
  const classesOffset = off;
  off += MAX_CLASSES * CLASS_WORDS * 4;
  const pageMapOffset = off;
  off = align(off + pageCount, 8);
  const bucketsOffset = off;
  let bucketCount = 1024;
  while (bucketCount < options.memoryLimit / 64) bucketCount *= 2;
  off += bucketCount * 4;
  const arenaOffset = align(off, 4096);
  const totalBytes = arenaOffset + pageCount * pageSize;
  if (totalBytes / 8 >= 2 ** 32) throw new RangeError('cache memory limit too large (max 32 GiB)');
  return {
    options, pageSize, pageCount, classSizes, statsOffset, statRowWords: STAT_ROW, classesOffset,
    pageMapOffset, bucketsOffset, bucketCount, initialBuckets: Math.min(bucketCount, 1 << 16), arenaOffset, totalBytes,
  };
}

/**
 * memcached's item size for an item (48-byte header, 8-byte CAS, key + NUL, value + CRLF), used
 * for the "too large" decision and the `bytes` statistic so both match memcached's.
 */
export const memcachedItemSize = (nkey: number, nbytes: number) => 59 + nkey + nbytes;

/** memcached's slab class for an item size (default -n 48, -f 1.25), shown by `me` as cls=. */
export function memcachedClassOf(itemSize: number, factor = 1.25): number {
  let size = 96;
  let cls = 1;
  while (size < itemSize && size < 512 * 1024) {
    size = align(Math.floor(size * factor), 8);
    cls++;
  }
  return cls;
}
