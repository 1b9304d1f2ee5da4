import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { ShutdownSteps } from '../core/shutdown.js';
import { registerGaugeFn } from '../core/metrics.js';
import { joinAndStay, openMetadataStore, type LastingMembership, type MetadataStore } from '../cluster/index.js';
import { LogClient } from '../log/client.js';
import type { ProduceDurability } from '../log/protocol.js';
import { PeerPool } from '../net/peer-pool.js';
import { RpcServer } from '../net/rpc-server.js';
import type { RpcClient } from '../net/rpc-client.js';
import { RecordsMethod } from './protocol.js';
import { Catalog } from './catalog.js';
import { LocalStore } from './local-store.js';
import { NodeRouter } from './node-router.js';
import { recordsMethods } from './rpc-methods.js';
import { Access } from './access.js';
import { startRecordsHttp } from './http.js';
import { RecordsClient, type RecordsTransport } from './client.js';
import type { RpcMethod, RpcConnection } from '../net/rpc-server.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { StorageUnit, type ApplyTrace } from './storage-unit.js';
import { TableReplication } from './table-replication.js';
import { TabletController } from './tablet-controller.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { stableNodeId } from '../cluster/node-id.js';

export interface RecordsSettings {
  host: string;
  port: number;
  httpPort: number;
  dataDir: string;
  /** Stable node id; empty: generated once and kept in <dataDir>/records/node-id. */
  nodeId: string;
  region: string;
  /** etcd endpoints; empty: the embedded metadata store (one node, one region). */
  etcd: string[];
  etcdPrefix: string;
  /** This region's log brokers. */
  logBrokers: Array<{ host: string; port: number }>;
  /** What a write's commit waits for in the log: fsync on the log leader, or replicated to its in-sync replicas. */
  durability: ProduceDurability;
  /** Defaults for new tables. */
  partitions: number;
  tablets: number;
  sessionTtlMs: number;
  maxConnections: number;
  /** A tablet in the table's home region splits past this many records (0: never by itself). */
  splitRecords: number;
  splitCheckMs: number;
  /** How often expired records (tables with a TTL) are deleted at their masters. */
  expirySweepMs: number;
  /** host:port → host:port: where to connect to reach another region's advertised address (tunnels, NAT, test proxies). */
  connectVia: Map<string, { host: string; port: number }>;
  /** Tokens a client must show (RPC: the auth method; HTTP: Authorization: Bearer); empty: no authentication. */
  tokens: string[];
  /** A file to append every applied record to, one JSON line each (for consistency tests); empty: off. */
  applyTrace: string;
}

export interface NodeInfo {
  region: string;
  host: string;
  port: number;
}

export interface RecordsService {
  port: number;
  /** -1: HTTP off. */
  httpPort: number;
  nodeId: string;
  region: string;
  close(): Promise<void>;
}

/**
 * This start's incarnation: one more than any before, counted in the metadata store as well as
 * locally, so a node id started again on a fresh data directory does not reuse an incarnation the
 * other regions have already fenced.
 */
async function nextIncarnation(store: MetadataStore, nodeId: string, local: number): Promise<number> {
  const key = `incarnations/${nodeId}`;
  for (;;) {
    const kv = await store.get(key);
    const next = Math.max(local, kv ? Number(kv.value.toString('utf8')) || 0 : 0) + 1;
    if (await store.putIf(key, String(next), kv ? kv.modRevision : 0)) return next;
  }
}

/** The node's own methods as a client transport (for its HTTP API: no network hop, no token). */
function inProcess(methods: Map<number, RpcMethod>): RecordsTransport {
  const conn: RpcConnection = { id: -1, remote: 'in-process', event: () => {}, onClose: () => {}, closed: false };
  return {
    async call(method, payload, timeoutMs) {
      const fn = methods.get(method);
      if (!fn) throw new RpcError(RpcCode.unknownMethod, `no method ${method}`);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RpcError(RpcCode.timeout, `no answer within ${timeoutMs} ms (a write's outcome is unknown)`)), timeoutMs);
      });
      try {
        const out = await Promise.race([Promise.resolve(fn(payload, conn)), late]);
        return Array.isArray(out) ? Buffer.concat(out) : (out ?? Buffer.alloc(0));
      } finally {
        clearTimeout(timer);
      }
    },
    close() {},
  };
}

/** JSON lines: table, key, gen, ver, deleted, master, fields (the JSON text). */
function openApplyTrace(file: string): { write: ApplyTrace; close: () => Promise<void> } {
  const out = createWriteStream(file, { flags: 'a' });
  let closed = false;
  return {
    write: (table, key, r) => {
      // Acks of the log can still arrive while the node stops, after the trace closed.
      if (closed) return;
      out.write(JSON.stringify({ table, key, gen: r.gen, ver: r.ver, deleted: r.deleted, master: r.master, fields: r.fieldsJson.toString('utf8') }) + '\n');
    },
    close: () => {
      closed = true;
      return new Promise<void>((resolve) => out.end(() => resolve()));
    },
  };
}

export async function startRecordsService(settings: RecordsSettings, log: Logger, clock: Clock, registry?: Registry): Promise<RecordsService> {
  const dir = path.join(settings.dataDir, 'records');
  mkdirSync(dir, { recursive: true });
  const nodeId = settings.nodeId || stableNodeId(dir);
  const closers = new ShutdownSteps(log);
  const close = () => closers.run();
  try {
    const store: MetadataStore = await openMetadataStore(
      settings.etcd.length > 0
        ? { kind: 'etcd', endpoints: settings.etcd, prefix: settings.etcdPrefix }
        : { kind: 'embedded', dir: path.join(dir, 'metadata'), clock },
    );
    closers.push(() => store.close());
    const local = LocalStore.open(path.join(dir, 'data'));
    closers.push(() => local.close());
    const incarnation = await nextIncarnation(store, nodeId, local.getMeta<number>('incarnation') ?? 0);
    await local.putMeta('incarnation', incarnation);

    const methods = new Map();
    const rpc = new RpcServer({ name: 'records', log, host: settings.host, port: settings.port, maxConnections: settings.maxConnections, methods });
    const port = await rpc.listen();
    closers.push(() => rpc.close());

    const catalog = await Catalog.open(store, log);
    closers.push(() => catalog.close());
    await catalog.putRegion(settings.region, { logBrokers: settings.logBrokers });

    const info: NodeInfo = { region: settings.region, host: settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host, port };
    const membership: LastingMembership<NodeInfo> = await joinAndStay(store, { nodeId, info, ttlMs: settings.sessionTtlMs }, log);
    closers.push(() => membership.leave());
    const route = (a: { host: string; port: number }) => settings.connectVia.get(`${a.host}:${a.port}`) ?? a;
    const peers = new PeerPool((id) => {
      const m = membership.current.members().get(id);
      return m && route(m);
    });
    closers.push(() => peers.close());
    const secret = await Access.clusterSecret(store);
    const access = new Access(settings.tokens, secret);
    const authed = new WeakMap<RpcClient, Promise<unknown>>();
    const callNode = async (id: string, method: number, payload: Buffer, timeoutMs: number): Promise<Buffer> => {
      const rpc = await peers.get(id);
      let auth = authed.get(rpc);
      if (!auth) {
        auth = rpc.call(RecordsMethod.nodeAuth, Buffer.from(secret, 'utf8'), timeoutMs);
        authed.set(rpc, auth);
        auth.catch(() => authed.delete(rpc));
      }
      await auth;
      return rpc.call(method, payload, timeoutMs);
    };

    const ownLog = await LogClient.connect({ brokers: settings.logBrokers, retryTimeoutMs: 10_000 });
    closers.push(() => ownLog.close());
    // One request in flight per partition: a retried batch cannot land after a later one.
    const producer = ownLog.producer({ durability: settings.durability, lingerMs: 0, maxInFlight: 1 });

    const replication = new TableReplication({ region: settings.region, nodeId, incarnation, catalog, local, ownLog, producer, route, clock, log });
    const trace = settings.applyTrace ? openApplyTrace(settings.applyTrace) : null;
    if (trace) closers.push(trace.close);
    const su = new StorageUnit(settings.region, local, (def, key, record) => replication.publish(def, key, record), clock, log, trace?.write ?? null);
    replication.attach(su);
    closers.push(async () => {
      su.close();
      await replication.close();
    });
    await replication.start();

    const router = new NodeRouter({
      region: settings.region,
      nodeId,
      catalog,
      su,
      store: local,
      callNode,
      ready: (table) => replication.ready(table),
      log,
      now: () => clock.nowMs(),
    });
    const defaults = { region: settings.region, partitions: settings.partitions, tablets: settings.tablets };
    const tablets = new TabletController({
      region: settings.region,
      nodeId,
      catalog,
      store: local,
      su,
      replication,
      callNode,
      members: () => membership.current.members(),
      splitRecords: settings.splitRecords,
      checkIntervalMs: settings.splitCheckMs,
      log,
    });
    tablets.start();
    closers.push(() => tablets.close());
    const sweeper = new ExpirySweeper({ region: settings.region, nodeId, catalog, store: local, su, ready: (table) => replication.ready(table), clock, log, intervalMs: settings.expirySweepMs });
    sweeper.start();
    closers.push(() => sweeper.close());
    const open = recordsMethods(router, catalog, defaults, (table) => replication.ensure(table), tablets, (table) => replication.positions(table), access);
    for (const [k, v] of access.guard(open)) methods.set(k, v);
    let httpPort = -1;
    if (settings.httpPort >= 0) {
      const http = await startRecordsHttp({ host: settings.host, port: settings.httpPort, client: new RecordsClient(inProcess(open)), tokens: settings.tokens, log });
      closers.push(() => http.close());
      httpPort = http.port;
    }

    log.info('records listening', { host: settings.host, port, httpPort, region: settings.region, node: nodeId, incarnation });
    if (registry) {
      registerGaugeFn(registry, 'strata_records_tables', 'tables known to this node', () => catalog.tables.size);
      registerGaugeFn(registry, 'strata_records_applied_total', 'changes applied from the change logs', () => replication.appliedCount());
    }
    return { port, httpPort, nodeId, region: settings.region, close };
  } catch (err) {
    await close();
    throw err;
  }
}
