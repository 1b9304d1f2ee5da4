import { mkdirSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { systemClock } from '../core/clock.js';
import { createLogger, type LogLevel } from '../core/log.js';
import { createRegistry } from '../core/metrics.js';
import type { Settings } from '../core/config.js';
import { startCacheService, type CacheService } from '../cache/server.js';
import { startAdminServer } from '../console/admin-server.js';
import type { LogService } from '../log/service.js';
import type { RecordsService } from '../records/service.js';
import { cacheSettings, logSettings, recordsSettings } from './settings.js';

export interface RunningServer {
  cache?: CacheService;
  log?: LogService;
  records?: RecordsService;
  adminPort: number;
  close(): Promise<void>;
}

/** `strata server`: every built service in one process tree, sharing one metrics registry. */
export async function startServer(settings: Settings): Promise<RunningServer> {
  const logLevel = settings['log-level'] as LogLevel;
  const log = createLogger(logLevel, { node: 'strata' });
  const dataDir = settings['data-dir'] as string;
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`invalid setting data-dir = ${JSON.stringify(dataDir)}: ${(err as Error).message}`);
  }
  const registry = createRegistry();
  const closers: Array<() => Promise<void>> = [];
  let cache: CacheService | undefined;
  try {
    if (settings['cache.enabled']) {
      cache = await startCacheService({ settings: cacheSettings(settings), log: log.child({ service: 'cache' }), logLevel, clock: systemClock, registry });
      closers.push(() => cache!.close());
    }
    let logService: LogService | undefined;
    if (settings['log.enabled']) {
      const { startLogService } = await import('../log/service.js');
      logService = await startLogService(logSettings(settings), log.child({ service: 'log' }), systemClock, registry);
      closers.push(() => logService!.close());
    }
    let records: RecordsService | undefined;
    if (settings['records.enabled'] && !logService && !settings['records.log']) {
      log.info('records service off: it needs a log (log.enabled, or records.log naming one)');
    } else if (settings['records.enabled']) {
      const localLog = logService ? { host: settings['log.host'] as string, port: logService.port } : null;
      // Loaded only when on: it brings lmdb's native module (memory a cache-only node need not pay).
      const { startRecordsService } = await import('../records/service.js');
      records = await startRecordsService(recordsSettings(settings, localLog), log.child({ service: 'records' }), systemClock, registry);
      closers.push(() => records!.close());
    }
    const admin = await startAdminServer({
      host: settings['admin.host'] as string, port: settings['admin.port'] as number, registry, log,
    });
    closers.push(() => admin.close());
    return {
      cache,
      log: logService,
      records,
      adminPort: admin.port,
      async close() {
        for (const close of closers.reverse()) await close();
        log.info('stopped');
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close();
    throw err;
  }
}
