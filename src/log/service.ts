import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { ShutdownSteps } from '../core/shutdown.js';
import { registerGaugeFn } from '../core/metrics.js';
import { stableNodeId } from '../cluster/node-id.js';
import { joinAndStay, openMetadataStore, type LastingMembership, type MetadataStore } from '../cluster/index.js';
import { RpcServer } from '../net/rpc-server.js';
import { Broker, type NodeAddress } from './broker.js';
import { GroupCoordinator } from './group-coordinator.js';
import { Replication } from './replication.js';
import { logMethods } from './rpc-methods.js';
import { startLogHttp, type LogHttp } from './http.js';
import type { TopicDefaults } from './topic-config.js';

export interface LogSettings {
  host: string;
  port: number;
  /** HTTP publish / server-sent-events subscribe; -1: off. */
  httpPort: number;
  dataDir: string;
  /** Stable node id; empty: generated once and kept in <dataDir>/log/node-id. */
  nodeId: string;
  /** etcd endpoints; empty: the embedded metadata store (one node). */
  etcd: string[];
  /** Prefix of the log's keys in etcd. */
  etcdPrefix?: string;
  defaults: TopicDefaults;
  autoCreateTopics: boolean;
  maxConnections: number;
  /** Partitions of the internal committed-offsets topic (fixed once created). */
  offsetsPartitions: number;
  /** A node counts as gone this long after it stops renewing its membership. */
  sessionTtlMs: number;
  /** A follower not caught up for this long leaves the in-sync replicas. */
  replicaLagMs: number;
  /** Replicated writes need this many in-sync copies (at most the topic's replicas). */
  minInsync: number;
}

export interface LogService {
  port: number;
  httpPort: number;
  broker: Broker;
  nodeId: string;
  close(): Promise<void>;
}

export async function startLogService(settings: LogSettings, log: Logger, clock: Clock, registry?: Registry): Promise<LogService> {
  const dir = path.join(settings.dataDir, 'log');
  mkdirSync(dir, { recursive: true });
  const nodeId = settings.nodeId || stableNodeId(dir);
  const closers = new ShutdownSteps(log);
  const close = () => closers.run();
  try {
    const store: MetadataStore = await openMetadataStore(
      settings.etcd.length > 0 ? { kind: 'etcd', endpoints: settings.etcd, prefix: settings.etcdPrefix } : { kind: 'embedded', dir: path.join(dir, 'metadata'), clock },
    );
    closers.push(() => store.close());

    // The RPC server listens first so the node can advertise its real port.
    let broker: Broker | null = null;
    let groups: GroupCoordinator | null = null;
    const methods = new Map();
    const rpc = new RpcServer({ name: 'log', log, host: settings.host, port: settings.port, maxConnections: settings.maxConnections, methods });
    const port = await rpc.listen();
    closers.push(() => rpc.close());

    // HTTP listens before the node joins, so its port is part of what the node advertises;
    // requests before the broker is up are refused with 503.
    let http: LogHttp | null = null;
    const deps: { broker: Broker | null; groups: GroupCoordinator | null } = { broker: null, groups: null };
    if (settings.httpPort >= 0) {
      http = await startLogHttp({ host: settings.host, port: settings.httpPort, deps, log });
      closers.push(() => http!.close());
    }
    const self: NodeAddress = { id: nodeId, host: settings.host, port, ...(http ? { httpPort: http.port } : {}) };
    const membership: LastingMembership<NodeAddress> = await joinAndStay(store, { nodeId: self.id, info: self, ttlMs: settings.sessionTtlMs }, log);
    closers.push(() => membership.leave());
    const liveNodes = () => [...membership.current.members().values()];

    broker = await Broker.open({ node: self, dataDir: dir, store, clock, log, defaults: settings.defaults, autoCreateTopics: settings.autoCreateTopics, liveNodes });
    closers.push(() => broker!.close());
    const replication = new Replication(broker, store, membership.current.lease, () => membership.current.members(), clock, log, {
      lagTimeMs: settings.replicaLagMs,
      minInsync: settings.minInsync,
    });
    const onMembers = () => replication.membersChanged();
    membership.current.on('change', onMembers);
    // A node whose lease ran out is gone for the others: it has stepped down everywhere; under its
    // new lease it takes part anew.
    membership.onRejoin((now, lost) => {
      lost.off('change', onMembers);
      now.on('change', onMembers);
      replication.setLease(now.lease);
    });
    await replication.start();
    closers.push(() => replication.close());
    groups = new GroupCoordinator(broker, clock, log, settings.offsetsPartitions, replication.peers);
    closers.push(() => groups!.close());
    for (const [k, v] of logMethods(broker, groups, replication)) methods.set(k, v);
    deps.broker = broker;
    deps.groups = groups;

    log.info('log listening', { host: settings.host, port, httpPort: http?.port ?? null, node: nodeId });
    if (registry) {
      registerGaugeFn(registry, 'strata_log_partitions', 'partitions held by this node', () => broker!.partitions.size);
      registerGaugeFn(registry, 'strata_log_end_offset_total', 'sum of the end offsets of the partitions held here', () => {
        let n = 0;
        for (const p of broker!.partitions.values()) n += p.endOffset;
        return n;
      });
    }
    return { port, httpPort: http?.port ?? -1, broker, nodeId, close };
  } catch (err) {
    await close();
    throw err;
  }
}
