import { systemClock, type Clock } from '../../src/core/clock.js';
import { createLogger, type Logger } from '../../src/core/log.js';
import { startCacheService, type CacheService } from '../../src/cache/server.js';
import type { CacheSettings } from '../../src/cache/context.js';

/**
 * Start Strata's cache in this process on a free port (threads: 1 unless asked). `log` receives
 * what the service logs (errors only, on stderr, unless given); worker threads log on their own.
 */
export async function startStrataCache(
  overrides: Partial<CacheSettings> = {},
  clock: Clock = systemClock,
  log: Logger = createLogger('error'),
): Promise<CacheService> {
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
  return startCacheService({ settings, log, logLevel: 'error', clock });
}

/** A logger that keeps the lines it is given at `level` and above (e.g. to assert no handler failed). */
export function collectingLogger(level: 'warn' | 'error' = 'error'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger(level, {}, (line) => lines.push(line)), lines };
}
