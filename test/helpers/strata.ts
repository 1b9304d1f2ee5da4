import { systemClock, type Clock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';
import { startCacheService, type CacheService } from '../../src/cache/server.js';
import type { CacheSettings } from '../../src/cache/context.js';

/** Start Strata's cache in this process on a free port (threads: 1 unless asked). */
export async function startStrataCache(overrides: Partial<CacheSettings> = {}, clock: Clock = systemClock): Promise<CacheService> {
  const settings: CacheSettings = {
    host: '127.0.0.1',
    port: 0,
    memoryLimit: 64 * 1024 * 1024,
    itemSizeMax: 1024 * 1024,
    maxConnections: 1024,
    threads: 1,
    version: '1.6.18',
    ...overrides,
  };
  return startCacheService({ settings, log: createLogger('error'), logLevel: 'error', clock });
}
