import os from 'node:os';
import type { SettingSpec, Settings } from '../core/config.js';
import type { CacheSettings } from '../cache/context.js';
import type { RouterSettings } from '../router/server.js';
import type { LogSettings } from '../log/service.js';
import type { RecordsSettings } from '../records/service.js';
import { ConfigError } from '../core/errors.js';
import { VERSION } from './version.js';
import path from 'node:path';
import { categoryProblem, type ShipSettings } from '../ship/shipper.js';
import { WHEN_FULL, type WhenFull } from '../ship/spool-room.js';

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
  { name: 'log.enabled', type: 'bool', default: true, help: 'run the log service (durable partitioned pub/sub)' },
  { name: 'log.host', type: 'string', default: '127.0.0.1', help: 'address the log service listens on (an IP address other nodes and clients can reach)' },
  { name: 'log.port', type: 'int', default: 7400, min: 0, max: 65535, help: 'log service TCP port, Strata RPC protocol (0 = any free port)' },
  { name: 'log.http-port', type: 'int', default: 7401, min: -1, max: 65535, help: 'log HTTP port: publish with POST, subscribe with server-sent events (-1 = off, 0 = any free port)' },
  { name: 'log.node-id', type: 'string', default: '', help: 'this node\'s id in the cluster (default: generated once, kept in <data-dir>/log/node-id)' },
  { name: 'log.etcd', type: 'string', default: '', help: 'etcd endpoints, comma-separated (e.g. http://10.0.0.1:2379); empty = one node with the embedded metadata store' },
  { name: 'log.etcd-prefix', type: 'string', default: '/strata/', help: 'prefix of the log\'s keys in etcd (regions sharing one etcd each use their own, e.g. /strata/west/)' },
  { name: 'log.partitions', type: 'int', default: 1, min: 1, max: 1024, help: 'partitions of a topic created without saying' },
  { name: 'log.replicas', type: 'int', default: 1, min: 1, max: 7, help: 'copies of each partition of a topic created without saying' },
  { name: 'log.retention-hours', type: 'int', default: 168, min: 0, max: 1_000_000, help: 'delete log segments older than this (0 = keep)' },
  { name: 'log.retention-bytes', type: 'size', default: 0, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'per partition, delete the oldest segments past this size (0 = no limit)' },
  { name: 'log.segment-bytes', type: 'size', default: 64 * 1024 * 1024, min: 4096, max: 2 ** 31, help: 'start a new segment file past this size' },
  { name: 'log.tombstone-retention-ms', type: 'int', default: 86_400_000, min: 0, max: Number.MAX_SAFE_INTEGER, help: 'compacted topics keep a tombstone this long' },
  { name: 'log.auto-create-topics', type: 'bool', default: true, help: 'create a topic with the defaults when something is first published to it' },
  { name: 'log.max-connections', type: 'int', default: 10_000, min: 1, max: 1_000_000, help: 'simultaneous client connections to the log service' },
  { name: 'log.offsets-partitions', type: 'int', default: 4, min: 1, max: 256, help: 'partitions of the internal committed-offsets topic (fixed when first created)' },
  { name: 'log.session-ttl-ms', type: 'int', default: 5000, min: 1000, max: 600_000, help: 'a node counts as gone this long after it stops renewing its membership' },
  { name: 'log.replica-lag-ms', type: 'int', default: 10_000, min: 100, max: 600_000, help: 'a follower not caught up for this long leaves the in-sync replicas' },
  { name: 'log.min-insync', type: 'int', default: 2, min: 1, max: 7, help: 'replicated writes need this many in-sync copies (at most the topic\'s replicas)' },
  { name: 'records.enabled', type: 'bool', default: true, help: 'run the records service (PNUTS-style tables)' },
  { name: 'records.host', type: 'string', default: '127.0.0.1', help: 'address the records service listens on (an IP address other nodes and clients can reach)' },
  { name: 'records.port', type: 'int', default: 7500, min: 0, max: 65535, help: 'records service TCP port, Strata RPC protocol (0 = any free port)' },
  { name: 'records.http-port', type: 'int', default: 7501, min: -1, max: 65535, help: 'records HTTP/JSON port (-1 = off, 0 = any free port)' },
  { name: 'records.region', type: 'string', default: 'local', help: 'the region this node belongs to' },
  { name: 'records.node-id', type: 'string', default: '', help: 'this node\'s id among records nodes (default: generated once, kept in <data-dir>/records/node-id)' },
  { name: 'records.etcd', type: 'string', default: '', help: 'etcd endpoints shared by all regions, comma-separated; empty = one node with the embedded metadata store' },
  { name: 'records.etcd-prefix', type: 'string', default: '/strata/records/', help: 'prefix of the records metadata in etcd' },
  { name: 'records.log', type: 'string', default: '', help: 'this region\'s log brokers, host:port comma-separated (default: this process\'s log service)' },
  { name: 'records.connect-via', type: 'string', default: '', help: 'reach other regions\' addresses through others: host:port=host:port, comma-separated (tunnels, NAT, test proxies)' },
  { name: 'records.tokens', type: 'string', default: '', help: 'tokens clients must show, comma-separated (RPC auth method, HTTP Authorization: Bearer); empty = no authentication' },
  { name: 'records.apply-trace', type: 'string', default: '', help: 'append every applied record to this file as a JSON line (for consistency tests; empty = off)' },
  { name: 'records.durability', type: 'enum', default: 'fsync', values: ['fsync', 'replicated'], help: 'a write commits once its change is fsynced by the log leader, or replicated to its in-sync replicas' },
  { name: 'records.partitions', type: 'int', default: 4, min: 1, max: 256, help: 'change-topic partitions of a table created without saying' },
  { name: 'records.tablets', type: 'int', default: 8, min: 1, max: 4096, help: 'tablets a hash table created without saying starts with' },
  { name: 'records.split-records', type: 'int', default: 1_000_000, min: 0, max: 1_000_000_000, help: 'a tablet splits once it holds more records than this (0 = only when asked)' },
  { name: 'records.split-check-ms', type: 'int', default: 10_000, min: 100, max: 3_600_000, help: 'how often a node checks its tablets\' sizes' },
  { name: 'records.expiry-sweep-ms', type: 'int', default: 10_000, min: 100, max: 3_600_000, help: 'how often expired records of tables with a TTL are deleted at their masters' },
  { name: 'records.session-ttl-ms', type: 'int', default: 5000, min: 1000, max: 600_000, help: 'a records node counts as gone this long after it stops renewing its membership' },
  { name: 'records.max-connections', type: 'int', default: 10_000, min: 1, max: 1_000_000, help: 'simultaneous client connections to the records service' },
];

export function logSettings(s: Settings): LogSettings {
  const etcd = String(s['log.etcd']).split(',').map((e) => e.trim()).filter(Boolean);
  return {
    host: s['log.host'] as string,
    port: s['log.port'] as number,
    httpPort: s['log.http-port'] as number,
    dataDir: s['data-dir'] as string,
    nodeId: s['log.node-id'] as string,
    etcd,
    etcdPrefix: s['log.etcd-prefix'] as string,
    autoCreateTopics: s['log.auto-create-topics'] as boolean,
    maxConnections: s['log.max-connections'] as number,
    offsetsPartitions: s['log.offsets-partitions'] as number,
    sessionTtlMs: s['log.session-ttl-ms'] as number,
    replicaLagMs: s['log.replica-lag-ms'] as number,
    minInsync: s['log.min-insync'] as number,
    defaults: {
      partitions: s['log.partitions'] as number,
      replicas: s['log.replicas'] as number,
      retentionMs: (s['log.retention-hours'] as number) * 3_600_000,
      retentionBytes: s['log.retention-bytes'] as number,
      segmentBytes: s['log.segment-bytes'] as number,
      tombstoneRetentionMs: s['log.tombstone-retention-ms'] as number,
    },
  };
}

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

/** Settings of `strata ship`. Flags drop the "ship." prefix (--file); env keeps it (STRATA_SHIP_FILE). */
export const SHIP_SETTINGS: readonly SettingSpec[] = [
  { name: 'ship.brokers', type: 'string', default: '127.0.0.1:7400', help: 'log brokers to forward to, host:port, comma-separated' },
  { name: 'ship.file', type: 'string', default: '', help: 'a file to follow as category=path (repeat the flag, or comma-separate, for several)' },
  { name: 'ship.stdin-category', type: 'string', default: '', help: 'read lines from stdin too, into this category (empty = do not read stdin)' },
  { name: 'ship.topic-prefix', type: 'string', default: '', help: 'put before a category to make its topic name (e.g. "logs.")' },
  { name: 'ship.key', type: 'string', default: '', help: 'key of every record, which also picks the partition (empty = no key, partition 0)' },
  { name: 'ship.spool-dir', type: 'string', default: '', help: 'directory of the disk spool (empty = <data-dir>/ship/spool)' },
  { name: 'ship.spool-max-bytes', type: 'size', default: 1024 ** 3, min: 64 * 1024, max: Number.MAX_SAFE_INTEGER, help: 'bound of the disk spool, all categories together' },
  { name: 'ship.when-full', type: 'enum', default: 'block', values: WHEN_FULL, help: 'when the spool is full: stop reading the inputs, or drop the oldest or the newest lines' },
  { name: 'ship.memory-bytes', type: 'size', default: 4 * 1024 * 1024, min: 64 * 1024, max: 1024 ** 3, help: 'lines held in memory, all categories together, before the inputs are paused' },
  { name: 'ship.broker-timeout-ms', type: 'int', default: 5000, min: 100, max: 600_000, help: 'how long a send keeps being retried before its lines go to the spool' },
  { name: 'ship.retry-max-ms', type: 'int', default: 5000, min: 100, max: 600_000, help: 'longest wait between attempts to reach a broker that is down' },
  { name: 'ship.poll-ms', type: 'int', default: 250, min: 10, max: 60_000, help: 'how often followed files are checked for new lines, rotation and truncation' },
  { name: 'ship.stats-interval-ms', type: 'int', default: 5000, min: 100, max: 3_600_000, help: 'how often the counters are logged (when they changed)' },
  { name: 'ship.max-line-bytes', type: 'size', default: 1024 * 1024, min: 1024, max: 16 * 1024 * 1024, help: 'a longer line is forwarded in pieces of this size' },
  { name: 'data-dir', type: 'string', default: './strata-data', help: 'directory for data files (spool and reading positions under <data-dir>/ship)' },
  { name: 'log-level', type: 'enum', default: 'info', values: ['debug', 'info', 'warn', 'error', 'silent'], help: 'log level' },
];

export function shipSettings(s: Settings): ShipSettings {
  const dataDir = s['data-dir'] as string;
  const topicPrefix = s['ship.topic-prefix'] as string;
  const list = (name: string) => String(s[name]).split(',').map((v) => v.trim()).filter(Boolean);
  const checkCategory = (category: string, setting: string) => {
    const problem = categoryProblem(category, topicPrefix);
    if (problem) throw new ConfigError(`invalid setting ${setting}: ${problem}`);
  };
  const brokers = list('ship.brokers').map((b) => {
    const m = /^(.+):(\d+)$/.exec(b);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(`invalid setting ship.brokers: "${b}" is not host:port`);
    return { host: m[1], port: Number(m[2]) };
  });
  if (brokers.length === 0) throw new ConfigError('missing setting ship.brokers: give at least one broker as host:port');
  const files = list('ship.file').map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0 || eq === f.length - 1) throw new ConfigError(`invalid setting ship.file: "${f}" is not category=path`);
    checkCategory(f.slice(0, eq), 'ship.file');
    return { category: f.slice(0, eq), path: f.slice(eq + 1) };
  });
  const stdinCategory = (s['ship.stdin-category'] as string) || null;
  if (stdinCategory) checkCategory(stdinCategory, 'ship.stdin-category');
  if (files.length === 0 && !stdinCategory) throw new ConfigError('nothing to ship: give --file category=path (one or more) and/or --stdin-category name');
  return {
    brokers,
    files,
    stdinCategory,
    topicPrefix,
    key: (s['ship.key'] as string) || null,
    spoolDir: (s['ship.spool-dir'] as string) || path.join(dataDir, 'ship', 'spool'),
    checkpointDir: path.join(dataDir, 'ship', 'inputs'),
    spoolMaxBytes: s['ship.spool-max-bytes'] as number,
    whenFull: s['ship.when-full'] as WhenFull,
    memoryBytes: s['ship.memory-bytes'] as number,
    brokerTimeoutMs: s['ship.broker-timeout-ms'] as number,
    retryMaxMs: s['ship.retry-max-ms'] as number,
    pollMs: s['ship.poll-ms'] as number,
    statsIntervalMs: s['ship.stats-interval-ms'] as number,
    maxLineBytes: s['ship.max-line-bytes'] as number,
  };
}

function hostPorts(text: string, what: string): Array<{ host: string; port: number }> {
  return text.split(',').map((e) => e.trim()).filter(Boolean).map((hp) => {
    const m = /^(.+):(\d{1,5})$/.exec(hp);
    if (!m || Number(m[2]) > 65535) throw new ConfigError(`invalid setting ${what}: ${JSON.stringify(hp)} is not host:port`);
    return { host: m[1], port: Number(m[2]) };
  });
}

/** The records service's settings; `localLog` is this process's log service, used when records.log is empty. */
export function recordsSettings(s: Settings, localLog: { host: string; port: number } | null): RecordsSettings {
  const region = s['records.region'] as string;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(region)) throw new ConfigError(`invalid setting records.region = ${JSON.stringify(region)}: 1 to 64 letters, digits, "_" or "-"`);
  const logBrokers = hostPorts(s['records.log'] as string, 'records.log');
  if (logBrokers.length === 0) {
    if (!localLog) throw new ConfigError('the records service needs a log: turn log.enabled on, or give records.log');
    logBrokers.push({ host: localLog.host === '0.0.0.0' ? '127.0.0.1' : localLog.host, port: localLog.port });
  }
  return {
    host: s['records.host'] as string,
    port: s['records.port'] as number,
    httpPort: s['records.http-port'] as number,
    dataDir: s['data-dir'] as string,
    nodeId: s['records.node-id'] as string,
    region,
    etcd: String(s['records.etcd']).split(',').map((e) => e.trim()).filter(Boolean),
    etcdPrefix: s['records.etcd-prefix'] as string,
    logBrokers,
    durability: s['records.durability'] as 'fsync' | 'replicated',
    partitions: s['records.partitions'] as number,
    tablets: s['records.tablets'] as number,
    sessionTtlMs: s['records.session-ttl-ms'] as number,
    maxConnections: s['records.max-connections'] as number,
    splitRecords: s['records.split-records'] as number,
    splitCheckMs: s['records.split-check-ms'] as number,
    expirySweepMs: s['records.expiry-sweep-ms'] as number,
    connectVia: connectVia(s['records.connect-via'] as string),
    applyTrace: s['records.apply-trace'] as string,
    tokens: String(s['records.tokens']).split(',').map((e) => e.trim()).filter(Boolean),
  };
}

function connectVia(text: string): Map<string, { host: string; port: number }> {
  const map = new Map<string, { host: string; port: number }>();
  for (const pair of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const [from, to] = pair.split('=');
    if (!from || !to) throw new ConfigError(`invalid setting records.connect-via: ${JSON.stringify(pair)} is not host:port=host:port`);
    const [a] = hostPorts(from, 'records.connect-via');
    map.set(`${a.host}:${a.port}`, hostPorts(to, 'records.connect-via')[0]);
  }
  return map;
}
