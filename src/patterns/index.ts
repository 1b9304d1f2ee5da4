/** strata/cache: cache and consistency patterns for Node web apps, over Strata's CacheClient. */
export { CacheClient, CacheError, type CacheClientOptions, type Item, type MetaReply, type StoreOptions } from '../router/client.js';
export { StrataCache, type StrataCacheDefaults } from './cache.js';
export {
  leasedGet, leasedGetOutcome, invalidate, type LeaseOptions, type LeaseOutcome, type LeaseSource, type InvalidateOptions,
} from './leases.js';
export {
  cacheAside, cacheAsideOutcome, invalidateAfterSave, type CacheAsideOptions, type CacheAsideSource, type TombstoneOptions,
} from './cache-aside.js';
export type { CacheOps, Loader, CommonOptions } from './types.js';
export { jsonCodec, stringCodec, bufferCodec, VALUE_FLAG, TOMBSTONE_FLAG, type Codec } from './codec.js';
export { realScheduler, ManualScheduler, type Scheduler } from './scheduler.js';
export { ReadYourWrites, type ReadYourWritesOptions, type ReadTarget, type Replica, type Middleware } from './read-your-writes.js';
export type { RequestLike, ResponseLike, CookieAttributes } from './cookies.js';
export {
  IdGenerator, ClockBackwardsError, SNOWFLAKE, INSTAGRAM, encodeId, decodeId, shardOf, snowflake, instagramIds,
  type IdLayout, type IdParts, type IdGeneratorOptions,
} from './ids.js';
export { ManualClock, systemClock, type Clock } from '../core/clock.js';
