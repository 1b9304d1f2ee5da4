import { readFileSync, watchFile, unwatchFile } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { TcpService } from '../net/tcp-server.js';
import { parseRouterConfig } from './config.js';
import { DeleteSpool } from './delete-spool.js';
import { Router } from './router.js';
import { RouterConnection, type ProxyStats } from './proxy.js';
import { registerRouterMetrics } from './metrics.js';
import type { Registry } from 'prom-client';

export interface RouterSettings {
  /** The route configuration file (JSON, docs/router.md). */
  routeConfig: string;
  host: string;
  port: number;
  maxConnections: number;
  itemSizeMax: number;
  /** Where the delete spool lives (`<dataDir>/router/deletes`); null keeps no spool. */
  dataDir: string | null;
  version: string;
  /** How often the route file is checked for changes (ms); 0 = only on reload(). */
  watchIntervalMs: number;
}

export interface RouterService {
  port: number;
  router: Router;
  stats: ProxyStats;
  /** Read the route file again; a bad file is logged and the running configuration kept. Returns whether it was applied. */
  reload(): boolean;
  close(): Promise<void>;
}

/** `strata router`: a memcached text/meta front end that routes every key through the route tree. */
export async function startRouterService(settings: RouterSettings, log: Logger, clock: Clock, registry?: Registry): Promise<RouterService> {
  const config = parseRouterConfig(readFileSync(settings.routeConfig, 'utf8'));
  const spool = settings.dataDir === null ? null : new DeleteSpool(path.join(settings.dataDir, 'router', 'deletes'), log);
  const router = new Router(clock, log, spool);
  router.configure(config);
  const stats: ProxyStats = {
    startedMs: Date.now(), totalConnections: 0, currConnections: 0, cmdGet: 0, getHits: 0, getMisses: 0, cmdOther: 0, failedRequests: 0,
  };
  const ctx = {
    router,
    itemSizeMax: settings.itemSizeMax,
    version: settings.version,
    stats,
    statLines: () =>
      router.servers().flatMap((d): Array<[string, string | number]> => [
        [`server:${d.name}:state`, d.state],
        [`server:${d.name}:pending`, d.pending],
        [`server:${d.name}:failures`, d.stats.failures],
        [`server:${d.name}:spooled_deletes`, spool?.pending(d.name) ?? 0],
      ]),
  };
  if (registry) registerRouterMetrics(registry, stats, router);
  const tcp = new TcpService({
    name: 'router',
    log,
    host: settings.host,
    port: settings.port,
    connectionCount: new Int32Array(new SharedArrayBuffer(4)),
    maxConnections: settings.maxConnections,
    overLimitReply: Buffer.from('ERROR Too many open connections\r\n'),
    createHandler: (conn) => new RouterConnection(conn, ctx),
  });
  const port = await tcp.listen();
  log.info('router listening', { host: settings.host, port, servers: router.servers().length });

  const reload = (): boolean => {
    try {
      router.configure(parseRouterConfig(readFileSync(settings.routeConfig, 'utf8')));
      log.info('route config reloaded', { file: settings.routeConfig, servers: router.servers().length });
      return true;
    } catch (err) {
      log.error('route config not reloaded; keeping the running one', { file: settings.routeConfig, err: (err as Error).message });
      return false;
    }
  };
  const onChange = () => reload();
  if (settings.watchIntervalMs > 0) watchFile(settings.routeConfig, { interval: settings.watchIntervalMs, persistent: false }, onChange);

  return {
    port,
    router,
    stats,
    reload,
    async close() {
      if (settings.watchIntervalMs > 0) unwatchFile(settings.routeConfig, onChange);
      await tcp.close();
      router.close();
      await spool?.close();
    },
  };
}
