import type { CacheStore } from './store/store.js';

/** Settings of the cache service (memcached's command-line options). */
export interface CacheSettings {
  host: string;
  port: number;
  memoryLimit: number;
  itemSizeMax: number;
  maxConnections: number;
  threads: number;
  /** Reported by `version` and `stats`. */
  version: string;
}

/** What a protocol session needs from the server it runs in. */
export interface CacheContext {
  store: CacheStore;
  settings: CacheSettings;
  /** Open connections across all threads (slot 0). */
  connectionCount: Int32Array;
  /** Process id and resource usage of the server, for `stats`. */
  pid: number;
}
