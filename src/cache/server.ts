import { Worker } from 'node:worker_threads';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Logger, LogLevel } from '../core/log.js';
import { registerCounterFn, registerGaugeFn } from '../core/metrics.js';
import { TcpService, openSharedListener } from '../net/tcp-server.js';
import { CacheStore, createStoreMemory } from './store/store.js';
import { DEFAULT_STORE_OPTIONS, STAT, STAT_NAMES, type StoreOptions } from './store/layout.js';
import type { CacheContext, CacheSettings } from './context.js';
import { CacheConnection } from './protocol/connection.js';
import type { CacheWorkerData } from './worker.js';

export interface CacheService {
  port: number;
  store: CacheStore;
  context: CacheContext;
  close(): Promise<void>;
}

export interface CacheServiceOptions {
  settings: CacheSettings;
  log: Logger;
  logLevel?: LogLevel;
  clock: Clock;
  registry?: Registry;
}

/**
 * Start the cache: one store in shared memory, served by `threads` event loops. With one
 * thread it runs in the calling thread; with more, each worker thread listens on one shared
 * socket and the kernel spreads connections over them.
 */
export async function startCacheService(opts: CacheServiceOptions): Promise<CacheService> {
  const { settings, log } = opts;
  const threads = Math.max(1, settings.threads);
  const storeOptions: StoreOptions = {
    ...DEFAULT_STORE_OPTIONS,
    memoryLimit: settings.memoryLimit,
    itemSizeMax: settings.itemSizeMax,
    statRows: threads,
  };
  const sab = createStoreMemory(storeOptions, opts.clock);
  const connections = new SharedArrayBuffer(4);
  const store = new CacheStore(sab, storeOptions, opts.clock, 0);
  const context: CacheContext = { store, settings, connectionCount: new Int32Array(connections), pid: process.pid };
  if (opts.registry) registerCacheMetrics(opts.registry, context);

  if (threads === 1) {
    const service = new TcpService({
      name: 'cache', log, host: settings.host, port: settings.port, connectionCount: context.connectionCount,
      maxConnections: settings.maxConnections, overLimitReply: Buffer.from('ERROR Too many open connections\r\n'),
      createHandler: (conn) => new CacheConnection(conn, context),
    });
    const port = await service.listen();
    log.info('cache listening', { host: settings.host, port, threads });
    return { port, store, context, close: () => service.close() };
  }

  const listener = openSharedListener(settings.host, settings.port);
  const workers: Worker[] = [];
  try {
    for (let i = 0; i < threads; i++) {
      const data: CacheWorkerData = {
        sab, storeOptions, connections, fd: listener.fd, statRow: i, settings: { ...settings, port: listener.port },
        logLevel: opts.logLevel ?? 'info',
      };
      const worker = spawnWorker(data);
      workers.push(worker);
      await new Promise<void>((resolve, reject) => {
        worker.once('error', reject);
        worker.once('message', (m: { type: string; message?: string }) =>
          m.type === 'listening' ? resolve() : reject(new Error(m.message)),
        );
      });
      worker.on('error', (err) => log.error('cache worker failed', { err: String(err) }));
    }
  } catch (err) {
    await Promise.all(workers.map((w) => w.terminate()));
    listener.close();
    throw err;
  }
  log.info('cache listening', { host: settings.host, port: listener.port, threads });
  return {
    port: listener.port,
    store,
    context: { ...context, settings: { ...settings, port: listener.port } },
    async close() {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.postMessage({ type: 'close' });
            }),
        ),
      );
      listener.close();
    },
  };
}

/**
 * Start a cache worker thread. From compiled output that is worker.js; when Strata runs from its
 * TypeScript sources (tests, through tsx), a worker does not inherit tsx's loader in Node 20, so
 * the worker loads worker.ts through tsx's API instead.
 */
function spawnWorker(data: CacheWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url), { workerData: data });
  const source = new URL('./worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${JSON.stringify(source)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(boot, { eval: true, workerData: data });
}

function registerCacheMetrics(registry: Registry, ctx: CacheContext): void {
  const store = ctx.store;
  for (const name of STAT_NAMES) {
    registerCounterFn(registry, `strata_cache_${name}_total`, `cache: memcached stat ${name}`, () => store.statTotal(STAT[name]));
  }
  registerGaugeFn(registry, 'strata_cache_curr_items', 'cache: items stored', () => store.globals().currItems);
  registerGaugeFn(registry, 'strata_cache_bytes', 'cache: bytes of items stored (memcached accounting)', () => store.globals().bytes);
  registerGaugeFn(registry, 'strata_cache_limit_bytes', 'cache: item memory limit', () => store.globals().limitBytes);
  registerGaugeFn(registry, 'strata_cache_curr_connections', 'cache: open connections', () => Atomics.load(ctx.connectionCount, 0));
  registerCounterFn(registry, 'strata_cache_evictions_total', 'cache: items evicted to make room', () => store.globals().evictions);
  registerCounterFn(registry, 'strata_cache_reclaimed_total', 'cache: expired items reused', () => store.globals().reclaimed);
  registerCounterFn(registry, 'strata_cache_total_items_total', 'cache: items ever stored', () => store.globals().totalItems);
}
