import { CacheError } from '../router/client.js';
import { TOMBSTONE_FLAG, VALUE_FLAG, jsonCodec, type Codec } from './codec.js';
import { checkKey, seconds } from './keys.js';
import type { CacheOps, CommonOptions, Loader } from './types.js';

export interface CacheAsideOptions<T> extends CommonOptions<T> {
  /** Seconds the filled value lives (0 = no expiry). */
  ttl: number;
}

/**
 * Where the value came from: a cached `hit`; `filled` (loaded, then stored with `add`);
 * `not-filled` (loaded; `add` found something there, e.g. a writer's tombstone); `tombstone`
 * (a write happened within the tombstone TTL: loaded, not filled); `unfilled` (the cache failed).
 */
export type CacheAsideSource = 'hit' | 'filled' | 'not-filled' | 'tombstone' | 'unfilled';

/** `cacheAside`, also telling where the value came from. */
export async function cacheAsideOutcome<T>(
  cache: CacheOps, key: string, loader: Loader<T>, opts: CacheAsideOptions<T>,
): Promise<{ value: T; source: CacheAsideSource }> {
  checkKey(key);
  const ttl = seconds('ttl', opts.ttl);
  const codec = opts.codec ?? (jsonCodec as Codec<T>);
  const { signal } = opts;
  let item;
  try {
    item = await cache.get(key, { signal });
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    opts.onCacheError?.(err);
    return { value: await loader(signal), source: 'unfilled' };
  }
  if (item?.flags === VALUE_FLAG) return { value: codec.decode(item.value), source: 'hit' };
  const value = await loader(signal);
  // A tombstone (or anything not ours): a write committed moments ago; read the DB, do not fill.
  if (item) return { value, source: 'tombstone' };
  try {
    // add, never set: a tombstone written since our miss must win over what we loaded.
    const stored = await cache.add(key, codec.encode(value), { ttl, flags: VALUE_FLAG, signal });
    return { value, source: stored ? 'filled' : 'not-filled' };
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    opts.onCacheError?.(err);
    return { value, source: 'unfilled' };
  }
}

/**
 * Look-aside read (Pownce/Malone, fixed): a hit is returned; on a miss the loader runs and the
 * value is stored with `add`, so it cannot overwrite a tombstone that `invalidateAfterSave`
 * wrote meanwhile. A reader that finds a tombstone loads and does not fill.
 */
export async function cacheAside<T>(cache: CacheOps, key: string, loader: Loader<T>, opts: CacheAsideOptions<T>): Promise<T> {
  return (await cacheAsideOutcome(cache, key, loader, opts)).value;
}

export interface TombstoneOptions {
  /** Seconds the tombstone lives; readers skip the cache meanwhile. Default 5. See docs/cache-patterns.md for the bound. */
  tombstoneTtl?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Call after the database write commits (post_save, never pre_save): replaces the cached value
 * with a short-lived tombstone instead of deleting it, so a reader that loaded the old row before
 * the commit cannot put it back. Throws if the cache cannot be told.
 */
export async function invalidateAfterSave(cache: CacheOps, key: string, opts: TombstoneOptions = {}): Promise<void> {
  checkKey(key);
  const ttl = seconds('tombstoneTtl', opts.tombstoneTtl ?? 5);
  if (ttl < 1) throw new RangeError('tombstoneTtl must be at least 1 second');
  const stored = await cache.set(key, '', { ttl, flags: TOMBSTONE_FLAG, signal: opts.signal });
  if (!stored) throw new CacheError(`could not write the tombstone for ${key}`);
}
