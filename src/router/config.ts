import { ConfigError } from '../core/errors.js';
import { ketamaServerName } from './ketama.js';
import { DEFAULT_DESTINATION_OPTIONS, type DestinationOptions } from './destination.js';

/**
 * The route configuration file (JSON), modelled on mcrouter's: named pools of servers and one
 * route tree. Reference and examples: docs/router.md.
 */
export interface ServerSpec {
  host: string;
  port: number;
  weight: number;
  /** The string ketama hashes to place this server's points ("host:port", or "host" on port 11211, as libmemcached). */
  name: string;
}

export interface PoolSpec {
  servers: ServerSpec[];
  options: DestinationOptions;
}

export type RouteSpec =
  | { type: 'pool'; pool: string; choice: number }
  | { type: 'failover'; children: RouteSpec[]; exptime: number }
  | { type: 'replicated'; children: RouteSpec[]; writes: 'sync' | 'async'; reads: 'first' | 'random' }
  | { type: 'warmup'; cold: RouteSpec; warm: RouteSpec; exptime: number }
  | { type: 'prefix'; routes: Array<[string, RouteSpec]>; default: RouteSpec }
  | { type: 'shadow'; main: RouteSpec; shadow: RouteSpec; fraction: number; readsOnly: boolean };

export interface RouterConfig {
  pools: Map<string, PoolSpec>;
  route: RouteSpec;
}

type Json = unknown;

function fail(where: string, message: string): never {
  throw new ConfigError(`route config: ${where}: ${message}`);
}

function obj(v: Json, where: string): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'expected an object');
  return v as Record<string, Json>;
}

function num(v: Json, where: string, min: number, max: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(where, `expected a number from ${min} to ${max}`);
  return v;
}

function int(v: Json, where: string, min: number, max: number, dflt?: number): number {
  const n = num(v, where, min, max, dflt);
  if (!Number.isInteger(n)) fail(where, 'expected an integer');
  return n;
}

function onlyKeys(o: Record<string, Json>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(where, `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
}

/** "host:port" or "host:port:weight" (twemproxy's form), or { "address": "host:port", "weight": n }. */
function parseServer(v: Json, where: string): ServerSpec {
  let address: string;
  let weight = 1;
  if (typeof v === 'string') address = v;
  else {
    const o = obj(v, where);
    onlyKeys(o, ['address', 'weight'], where);
    if (typeof o.address !== 'string') fail(where + '.address', 'expected "host:port"');
    address = o.address;
    weight = int(o.weight, where + '.weight', 1, 1_000_000, 1);
  }
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})(?::(\d+))?$/.exec(address);
  if (!m) fail(where, `expected "host:port" or "host:port:weight", got ${JSON.stringify(address)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) fail(where, `port out of range: ${port}`);
  if (m[3] !== undefined) weight = Number(m[3]);
  if (weight < 1) fail(where, 'weight must be at least 1');
  const host = m[1].replace(/^\[|\]$/g, '');
  return { host, port, weight, name: ketamaServerName(host, port) };
}

function parsePool(v: Json, where: string): PoolSpec {
  const o = obj(v, where);
  onlyKeys(o, ['servers', 'connections', 'timeoutMs', 'failureLimit', 'retryMs', 'maxPending'], where);
  if (!Array.isArray(o.servers) || o.servers.length === 0) fail(where + '.servers', 'expected a non-empty list of servers');
  if (o.servers.length > 65535) fail(where + '.servers', 'too many servers');
  const servers = o.servers.map((s: Json, i: number) => parseServer(s, `${where}.servers[${i}]`));
  const d = DEFAULT_DESTINATION_OPTIONS;
  const options: DestinationOptions = {
    connections: int(o.connections, where + '.connections', 1, 64, d.connections),
    timeoutMs: int(o.timeoutMs, where + '.timeoutMs', 1, 600_000, d.timeoutMs),
    failureLimit: int(o.failureLimit, where + '.failureLimit', 1, 1000, d.failureLimit),
    retryMs: int(o.retryMs, where + '.retryMs', 1, 3_600_000, d.retryMs),
    maxPending: int(o.maxPending, where + '.maxPending', 1, 10_000_000, d.maxPending),
    maxBatchKeys: d.maxBatchKeys,
  };
  return { servers, options };
}

function parseRoute(v: Json, where: string, pools: Map<string, PoolSpec>): RouteSpec {
  if (typeof v === 'string') {
    if (!pools.has(v)) fail(where, `no pool named ${JSON.stringify(v)}`);
    return { type: 'pool', pool: v, choice: 0 };
  }
  const o = obj(v, where);
  const children = (key: string): RouteSpec[] => {
    const list = o[key];
    if (!Array.isArray(list) || list.length === 0) fail(`${where}.${key}`, 'expected a non-empty list of routes');
    return list.map((c: Json, i: number) => parseRoute(c, `${where}.${key}[${i}]`, pools));
  };
  switch (o.type) {
    case 'pool': {
      onlyKeys(o, ['type', 'pool', 'choice'], where);
      if (typeof o.pool !== 'string' || !pools.has(o.pool)) fail(where + '.pool', `no pool named ${JSON.stringify(o.pool)}`);
      const choice = int(o.choice, where + '.choice', 0, 64, 0);
      if (choice >= pools.get(o.pool)!.servers.length) fail(where + '.choice', `pool ${o.pool} has only ${pools.get(o.pool)!.servers.length} servers`);
      return { type: 'pool', pool: o.pool, choice };
    }
    case 'failover':
      onlyKeys(o, ['type', 'children', 'exptime'], where);
      return { type: 'failover', children: children('children'), exptime: int(o.exptime, where + '.exptime', 1, 2_592_000, 10) };
    case 'replicated': {
      onlyKeys(o, ['type', 'children', 'writes', 'reads'], where);
      const writes = o.writes ?? 'sync';
      const reads = o.reads ?? 'first';
      if (writes !== 'sync' && writes !== 'async') fail(where + '.writes', 'expected "sync" or "async"');
      if (reads !== 'first' && reads !== 'random') fail(where + '.reads', 'expected "first" or "random"');
      return { type: 'replicated', children: children('children'), writes, reads };
    }
    case 'warmup':
      onlyKeys(o, ['type', 'cold', 'warm', 'exptime'], where);
      return { type: 'warmup', cold: parseRoute(o.cold, where + '.cold', pools), warm: parseRoute(o.warm, where + '.warm', pools), exptime: int(o.exptime, where + '.exptime', 1, 2_592_000, 3600) };
    case 'prefix': {
      onlyKeys(o, ['type', 'routes', 'default'], where);
      const routes = obj(o.routes, where + '.routes');
      return {
        type: 'prefix',
        routes: Object.entries(routes).map(([p, r]) => [p, parseRoute(r, `${where}.routes[${JSON.stringify(p)}]`, pools)]),
        default: parseRoute(o.default, where + '.default', pools),
      };
    }
    case 'shadow':
      onlyKeys(o, ['type', 'main', 'shadow', 'fraction', 'readsOnly'], where);
      if (o.readsOnly !== undefined && typeof o.readsOnly !== 'boolean') fail(where + '.readsOnly', 'expected true or false');
      return {
        type: 'shadow',
        main: parseRoute(o.main, where + '.main', pools),
        shadow: parseRoute(o.shadow, where + '.shadow', pools),
        fraction: num(o.fraction, where + '.fraction', 0, 1, 1),
        readsOnly: (o.readsOnly as boolean | undefined) ?? false,
      };
    default:
      fail(where + '.type', `unknown route type ${JSON.stringify(o.type)} (pool, failover, replicated, warmup, prefix, shadow)`);
  }
}

/** Parse and check a route configuration; every error names where in the file it is. */
export function parseRouterConfig(text: string): RouterConfig {
  let doc: Json;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`route config: not valid JSON: ${(err as Error).message}`);
  }
  const o = obj(doc, '(top)');
  onlyKeys(o, ['pools', 'route'], '(top)');
  const poolsJson = obj(o.pools, 'pools');
  const pools = new Map<string, PoolSpec>();
  for (const [name, p] of Object.entries(poolsJson)) pools.set(name, parsePool(p, `pools.${name}`));
  if (pools.size === 0) fail('pools', 'at least one pool is needed');
  if (o.route === undefined) fail('route', 'missing (e.g. "route": "<pool name>")');
  return { pools, route: parseRoute(o.route, 'route', pools) };
}
