import type { CacheClient } from '../router/client.js';
import type { Codec } from './codec.js';

/** The part of CacheClient the patterns use (so a test or an app can wrap the client). */
export type CacheOps = Pick<CacheClient, 'get' | 'add' | 'set' | 'meta'>;

/** Reads the source of truth (the database). Gets the caller's signal, if any. */
export type Loader<T> = (signal?: AbortSignal) => Promise<T>;

export interface CommonOptions<T> {
  /** How values are stored (default: JSON). */
  codec?: Codec<T> | undefined;
  /** Cancels cache calls, waits and (if the loader honours it) the load. */
  signal?: AbortSignal | undefined;
  /**
   * Called when the cache cannot be reached or answers with an error. Reads then go to the loader
   * without filling (a cache outage must not become a site outage); invalidations throw instead.
   */
  onCacheError?: ((err: Error) => void) | undefined;
}
