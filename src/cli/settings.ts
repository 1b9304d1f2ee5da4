import os from 'node:os';
import type { SettingSpec, Settings } from '../core/config.js';
import type { CacheSettings } from '../cache/context.js';
import type { RouterSettings } from '../router/server.js';
import { ConfigError } from '../core/errors.js';
import { VERSION } from './version.js';

/** Every setting of `strata server`. Flag --a-b, env STRATA_A_B, config file {"a": {"b": ...}}. */
export const SERVER_SETTINGS: readonly SettingSpec[] = [
  { name: 'data-dir', type: 'string', default: './strata-data', help: 'directory for data files' },
  { name: 'log-level', type: 'enum', default: 'info', values: ['debug', 'info', 'warn', 'error', 'silent'], help: 'log level' },
  { name: 'admin.host', type: 'string', default: '127.0.0.1', help: 'address of the HTTP admin port (/metrics, /healthz)' },
  { name: 'admin.port', type: 'int', default: 11280, min: 0, max: 65535, help: 'HTTP admin port (0 = any free port)' },
  { name: 'cache.enabled', type: 'bool', default: true, help: 'run the memcached-compatible cache' },
  { name: 'cache.host', type: 'string', default: '127.0.0.1', help: 'address the cache listens on (an IP address)' },
  { name: 'cache.port', type: 'int', default: 11211, min: 0, max: 65535, help: 'cache TCP port (0 = any free port)' },
  { name: 'cache.memory', type: 'size', default: 64 * 1024 * 1024, min: 1024 * 1024, max: 32 * 1024 ** 3, help: 'item memory limit, like memcached -m (e.g. 64m, 1g)' },
  { name: 'cache.item-size-max', type: 'size', default: 1024 * 1024, min: 1024, max: 1024 ** 3, help: 'largest item, like memcached -I' },
  { name: 'cache.max-connections', type: 'int', default: 1024, min: 1, max: 1_000_000, help: 'simultaneous connections, like memcached -c' },
  { name: 'cache.threads', type: 'int', default: Math.min(4, os.availableParallelism()), min: 1, max: 64, help: 'event-loop threads serving the cache, like memcached -t' },
];

export function cacheSettings(s: Settings): CacheSettings {
  const memoryLimit = s['cache.memory'] as number;
  const itemSizeMax = s['cache.item-size-max'] as number;
  return {
    host: s['cache.host'] as string,
    port: s['cache.port'] as number,
    memoryLimit,
    itemSizeMax,
    maxConnections: s['cache.max-connections'] as number,
    threads: s['cache.threads'] as number,
    version: `1.6.18-strata-${VERSION}`,
  };
}

/** Settings of `strata router`. Flags drop the "router." prefix (--port); env keeps it (STRATA_ROUTER_PORT). */
export const ROUTER_SETTINGS: readonly SettingSpec[] = [
  { name: 'router.routes', type: 'string', default: '', help: 'route configuration file (JSON, see docs/router.md); reloaded when it changes' },
  { name: 'router.host', type: 'string', default: '127.0.0.1', help: 'address the router listens on (an IP address)' },
  { name: 'router.port', type: 'int', default: 5000, min: 0, max: 65535, help: 'router TCP port, memcached text and meta protocols (0 = any free port)' },
  { name: 'router.max-connections', type: 'int', default: 1024, min: 1, max: 1_000_000, help: 'simultaneous client connections' },
  { name: 'router.item-size-max', type: 'size', default: 1024 * 1024, min: 1024, max: 1024 ** 3, help: 'largest value passed through' },
  { name: 'router.admin-host', type: 'string', default: '127.0.0.1', help: 'address of the router\'s HTTP admin port (/metrics, /healthz)' },
  { name: 'router.admin-port', type: 'int', default: 11281, min: 0, max: 65535, help: 'the router\'s HTTP admin port (0 = any free port)' },
  { name: 'router.watch-ms', type: 'int', default: 1000, min: 0, max: 3_600_000, help: 'how often the route file is checked for changes (0 = only on SIGHUP)' },
  { name: 'data-dir', type: 'string', default: './strata-data', help: 'directory for data files (the delete spool: <data-dir>/router/deletes)' },
  { name: 'log-level', type: 'enum', default: 'info', values: ['debug', 'info', 'warn', 'error', 'silent'], help: 'log level' },
];

export function routerSettings(s: Settings): RouterSettings {
  const routes = s['router.routes'] as string;
  if (!routes) throw new ConfigError('missing setting router.routes: give the route configuration file with --routes <file> (or STRATA_ROUTER_ROUTES)');
  return {
    routeConfig: routes,
    host: s['router.host'] as string,
    port: s['router.port'] as number,
    maxConnections: s['router.max-connections'] as number,
    itemSizeMax: s['router.item-size-max'] as number,
    dataDir: s['data-dir'] as string,
    version: `1.6.18-strata-${VERSION}`,
    watchIntervalMs: s['router.watch-ms'] as number,
  };
}
