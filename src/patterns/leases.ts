import { CacheError } from '../router/client.js';
import { VALUE_FLAG, jsonCodec, type Codec } from './codec.js';
import { checkKey, seconds } from './keys.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import type { CacheOps, CommonOptions, Loader } from './types.js';

export interface LeaseOptions<T> extends CommonOptions<T> {
  /** Seconds the filled value lives (0 = no expiry). */
  ttl: number;
  /** Seconds a lease (and a stale value after `invalidate`) lives if nobody fills it. Default 10, as Facebook's. */
  leaseTtl?: number | undefined;
  /** Milliseconds between tries while another caller holds the lease. Default 50. */
  waitMs?: number | undefined;
  /** Tries before giving up waiting: then the loader is called and its value returned, not filled. Default 20. */
  maxWaits?: number | undefined;
  /** After an invalidation: 'serve' the stale value while one caller refills, or 'wait' for the new one (default). */
  stale?: 'serve' | 'wait' | undefined;
  scheduler?: Scheduler | undefined;
}

/**
 * Where the value came from:
 * - hit: a fresh cached value
 * - stale: a value marked stale by `invalidate`, served because `stale: 'serve'`
 * - filled: this caller held the lease, loaded and filled the cache
 * - refused: this caller held the lease and loaded, but the lease was voided (a delete or
 *   invalidate came between grant and fill), so the fill was refused: the loaded value may be old
 * - unfilled: loaded without filling (waited `maxWaits` times, or the cache failed)
 */
export type LeaseSource = 'hit' | 'stale' | 'filled' | 'refused' | 'unfilled';

export interface LeaseOutcome<T> {
  value: T;
  source: LeaseSource;
  /** How many times this caller waited for another lease holder. */
  waits: number;
}

/** `leasedGet`, also telling where the value came from. */
export async function leasedGetOutcome<T>(cache: CacheOps, key: string, loader: Loader<T>, opts: LeaseOptions<T>): Promise<LeaseOutcome<T>> {
  checkKey(key);
  const ttl = seconds('ttl', opts.ttl);
  const leaseTtl = leaseSeconds(opts.leaseTtl);
  const codec = opts.codec ?? (jsonCodec as Codec<T>);
  const { signal } = opts;
  const waitMs = opts.waitMs ?? 50;
  const maxWaits = opts.maxWaits ?? 20;
  const scheduler = opts.scheduler ?? realScheduler;

  for (let waits = 0; ; waits++) {
    let reply;
    try {
      reply = await cache.meta('mg', key, ['v', 'c', 'f', `N${leaseTtl}`], undefined, signal);
    } catch (err) {
      if (!(err instanceof CacheError)) throw err;
      opts.onCacheError?.(err);
      return { value: await loader(signal), source: 'unfilled', waits };
    }
    const won = reply.flags.has('W'); // we hold the lease
    const taken = reply.flags.has('Z'); // another caller holds it
    const stale = reply.flags.has('X'); // invalidated
    // A real value carries our flag; a lease placeholder is empty with flags 0.
    const real = reply.code === 'VA' && Number(reply.flags.get('f')) === VALUE_FLAG;
    if (won) return fill(cache, key, loader, codec, ttl, reply.flags.get('c')!, opts, waits);
    if (real && !stale && !taken) return { value: codec.decode(reply.value!), source: 'hit', waits };
    if (real && stale && opts.stale === 'serve') return { value: codec.decode(reply.value!), source: 'stale', waits };
    // Not ours to wait for (an item written by something else), or waited long enough: load, do not fill.
    if (!taken || waits >= maxWaits) return { value: await loader(signal), source: 'unfilled', waits };
    await scheduler.sleep(waitMs, signal);
  }
}

/** We hold the lease: load, then store only if the lease still stands (`ms ... C<lease cas>`). */
async function fill<T>(
  cache: CacheOps, key: string, loader: Loader<T>, codec: Codec<T>, ttl: number, cas: string, opts: LeaseOptions<T>, waits: number,
): Promise<LeaseOutcome<T>> {
  let value: T;
  try {
    value = await loader(opts.signal);
  } catch (err) {
    // Hand the lease back (delete only if it is still ours) so the next caller loads at once
    // instead of everyone waiting out leaseTtl; best effort.
    await cache.meta('md', key, [`C${cas}`]).catch(() => {});
    throw err;
  }
  try {
    const r = await cache.meta('ms', key, [`C${cas}`, `T${ttl}`, `F${VALUE_FLAG}`], codec.encode(value), opts.signal);
    // EX (CAS changed) or NF (deleted): the lease was voided; do not retry, the value may be old.
    return { value, source: r.code === 'HD' ? 'filled' : 'refused', waits };
  } catch (err) {
    if (!(err instanceof CacheError)) throw err;
    opts.onCacheError?.(err);
    return { value, source: 'unfilled', waits };
  }
}

/**
 * Read through the cache with a lease (Facebook memcache, NSDI'13 §3.2.1): on a miss exactly
 * one caller per key (per `leaseTtl`) loads and fills; the others wait and retry. A delete or
 * `invalidate` between the lease and the fill voids the lease, so an old value is never filled.
 */
export async function leasedGet<T>(cache: CacheOps, key: string, loader: Loader<T>, opts: LeaseOptions<T>): Promise<T> {
  return (await leasedGetOutcome(cache, key, loader, opts)).value;
}

export interface InvalidateOptions {
  /** Seconds the stale value stays servable (with `stale: 'serve'`) while a caller refills it. Default 10. */
  leaseTtl?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * After a database write commits: `md <key> I T<leaseTtl>` marks the cached value stale and voids
 * any outstanding lease. True if there was an item; false if the key was absent (memcached
 * answers NF and creates nothing, and then there is no lease to void either: a lease is an item).
 */
export async function invalidate(cache: CacheOps, key: string, opts: InvalidateOptions = {}): Promise<boolean> {
  checkKey(key);
  const r = await cache.meta('md', key, ['I', `T${leaseSeconds(opts.leaseTtl)}`], undefined, opts.signal);
  if (r.code === 'HD') return true;
  if (r.code === 'NF') return false;
  throw new CacheError(`md ${key} I: unexpected ${r.code}`);
}

function leaseSeconds(value = 10): number {
  if (value < 1) throw new RangeError('leaseTtl must be at least 1 second');
  return seconds('leaseTtl', value);
}
