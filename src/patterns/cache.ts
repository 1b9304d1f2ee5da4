import { cacheAside, cacheAsideOutcome, invalidateAfterSave, type CacheAsideOptions, type TombstoneOptions } from './cache-aside.js';
import { invalidate, leasedGet, leasedGetOutcome, type InvalidateOptions, type LeaseOptions } from './leases.js';
import type { CacheOps, Loader } from './types.js';

export interface StrataCacheDefaults {
  /** Default lease TTL in seconds for leasedGet and invalidate (10). */
  leaseTtl?: number | undefined;
  /** Default tombstone TTL in seconds for invalidateAfterSave (5). */
  tombstoneTtl?: number | undefined;
  onCacheError?: ((err: Error) => void) | undefined;
}

/**
 * The cache patterns bound to one client, e.g.
 * `new StrataCache(CacheClient.create({ servers: ['127.0.0.1:11211'] }))`. Use one pattern per key family: leases
 * (`leasedGet` + `invalidate`) or tombstones (`cacheAside` + `invalidateAfterSave`), not both.
 */
export class StrataCache {
  constructor(
    readonly client: CacheOps,
    private readonly defaults: StrataCacheDefaults = {},
  ) {}

  leasedGet<T>(key: string, loader: Loader<T>, opts: LeaseOptions<T>): Promise<T> {
    return leasedGet(this.client, key, loader, this.lease(opts));
  }

  leasedGetOutcome<T>(key: string, loader: Loader<T>, opts: LeaseOptions<T>) {
    return leasedGetOutcome(this.client, key, loader, this.lease(opts));
  }

  invalidate(key: string, opts: InvalidateOptions = {}): Promise<boolean> {
    return invalidate(this.client, key, { leaseTtl: this.defaults.leaseTtl, ...opts });
  }

  cacheAside<T>(key: string, loader: Loader<T>, opts: CacheAsideOptions<T>): Promise<T> {
    return cacheAside(this.client, key, loader, { onCacheError: this.defaults.onCacheError, ...opts });
  }

  cacheAsideOutcome<T>(key: string, loader: Loader<T>, opts: CacheAsideOptions<T>) {
    return cacheAsideOutcome(this.client, key, loader, { onCacheError: this.defaults.onCacheError, ...opts });
  }

  invalidateAfterSave(key: string, opts: TombstoneOptions = {}): Promise<void> {
    return invalidateAfterSave(this.client, key, { tombstoneTtl: this.defaults.tombstoneTtl, ...opts });
  }

  private lease<T>(opts: LeaseOptions<T>): LeaseOptions<T> {
    return { leaseTtl: this.defaults.leaseTtl, onCacheError: this.defaults.onCacheError, ...opts };
  }
}
