import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Lease, MetadataStore, Watcher } from '../cluster/metadata-store.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { Broker, LeadershipView, NodeAddress } from './broker.js';
import type { Partition } from './partition.js';
import type { TopicConfig } from './topic-config.js';
import { PeerPool } from '../net/peer-pool.js';
import { Replica, type ReplicaContext } from './replica.js';
import type { FetchReply, ReplicaFetchRequest } from './protocol.js';
import type { PartitionState } from './epochs.js';

export const LEADERS_PREFIX = 'log/leaders/';
export const STATE_PREFIX = 'log/state/';

export interface ReplicationOptions {
  /** A follower that has not caught up for this long leaves the in-sync set. */
  lagTimeMs: number;
  /** Replicated writes need at least this many in-sync copies (capped at the topic's replicas). */
  minInsync: number;
}

/**
 * Replication of the partitions with more than one replica: leader election through the
 * metadata store (a leader key bound to the node's membership lease), the in-sync replica set
 * and epoch history in a state key, followers pulling from their leader (docs/log.md,
 * "Replication"). Partitions with one replica are led by their only node and skip all this.
 */
export class Replication implements LeadershipView {
  private readonly replicas = new Map<string, Replica>();
  /** topic/partition → leader node id, from the leader keys. */
  private readonly leaders = new Map<string, { node: string; epoch: number }>();
  private readonly states = new Map<string, PartitionState>();
  private readonly watchers: Watcher[] = [];
  private readonly timer: NodeJS.Timeout;
  readonly peers: PeerPool;
  private closed = false;

  constructor(
    private readonly broker: Broker,
    private readonly store: MetadataStore,
    private lease: Lease,
    private readonly liveNodes: () => Map<string, NodeAddress>,
    private readonly clock: Clock,
    private readonly log: Logger,
    readonly opts: ReplicationOptions,
  ) {
    this.peers = new PeerPool((id) => this.liveNodes().get(id));
    this.timer = setInterval(() => this.checkInSync(), Math.max(100, opts.lagTimeMs / 4));
    this.timer.unref();
    this.watchLease();
  }

  /** A node that lost its membership lease leads nothing: its leader keys went with the lease. */
  private watchLease(): void {
    const lease = this.lease;
    void lease.lost.then(() => {
      if (this.closed || lease !== this.lease) return;
      for (const r of this.replicas.values()) r.leaseLost();
    });
  }

  /** The node joined again with a new lease: campaign and follow with it. */
  setLease(lease: Lease): void {
    this.lease = lease;
    this.watchLease();
    for (const r of this.replicas.values()) r.changed();
  }

  /** Read leaders and states, watch them, then take over the broker's partitions. */
  async start(): Promise<void> {
    for (const prefix of [LEADERS_PREFIX, STATE_PREFIX]) {
      const snap = await this.store.snapshot(prefix);
      for (const kv of snap.kvs) this.apply(prefix, kv.key, kv.value);
      this.watchers.push(
        await this.store.watch(prefix, (ev) => this.onChange(prefix, ev.type === 'put' ? ev.kv.key : ev.key, ev.type === 'put' ? ev.kv.value : null), {
          afterRevision: snap.revision,
        }),
      );
    }
    this.broker.leadership = this;
    this.broker.partitionListeners.add((p, cfg) => this.attach(p, cfg));
    this.broker.topicDeletedListeners.add((cfg) => this.detach(cfg));
    this.broker.deleteHooks.push(async (cfg) => {
      for (let p = 0; p < cfg.partitions; p++) {
        await this.store.delete(`${LEADERS_PREFIX}${cfg.name}/${p}`);
        await this.store.delete(`${STATE_PREFIX}${cfg.name}/${p}`);
      }
    });
    for (const p of this.broker.partitions.values()) this.attach(p, this.broker.topicConfig(p.topic));
  }

  private apply(prefix: string, key: string, value: Buffer | null): string {
    const name = key.slice(prefix.length);
    if (prefix === LEADERS_PREFIX) {
      if (value) this.leaders.set(name, JSON.parse(value.toString()) as { node: string; epoch: number });
      else this.leaders.delete(name);
    } else if (value) this.states.set(name, JSON.parse(value.toString()) as PartitionState);
    else this.states.delete(name);
    return name;
  }

  private onChange(prefix: string, key: string, value: Buffer | null): void {
    if (this.closed) return;
    const name = this.apply(prefix, key, value);
    this.replicas.get(name)?.changed();
  }

  private attach(p: Partition, cfg: TopicConfig): void {
    if (cfg.replicas <= 1) return;
    const key = `${p.topic}/${p.index}`;
    if (this.replicas.has(key)) return;
    const replica = new Replica(p, cfg, this.context(key));
    this.replicas.set(key, replica);
    replica.changed();
  }

  /** A deleted topic: its replicas stop, so a topic created later under the name starts afresh. */
  private detach(cfg: TopicConfig): void {
    for (let p = 0; p < cfg.partitions; p++) {
      const key = `${cfg.name}/${p}`;
      this.replicas.get(key)?.stop();
      this.replicas.delete(key);
    }
  }

  private context(key: string): ReplicaContext {
    const self = this;
    return {
      nodeId: this.broker.nodeId,
      store: this.store,
      get lease() {
        return self.lease;
      },
      clock: this.clock,
      log: this.log.child({ partition: key }),
      opts: this.opts,
      peers: this.peers,
      leaderKey: LEADERS_PREFIX + key,
      stateKey: STATE_PREFIX + key,
      leader: () => this.leaders.get(key) ?? null,
      state: () => this.states.get(key) ?? null,
      isAlive: (node) => this.liveNodes().has(node),
      closed: () => this.closed,
    };
  }

  leaderOf(topic: string, partition: number): string | null {
    const cfg = this.broker.topics.get(topic);
    if (cfg && cfg.replicas <= 1) return cfg.assignment[partition][0];
    return this.leaders.get(`${topic}/${partition}`)?.node ?? null;
  }

  isrOf(topic: string, partition: number): string[] {
    const cfg = this.broker.topics.get(topic);
    if (cfg && cfg.replicas <= 1) return cfg.assignment[partition];
    return this.states.get(`${topic}/${partition}`)?.isr ?? [];
  }

  /** A follower asks for records: answered by the replica if it leads in that epoch. */
  async replicaFetch(req: ReplicaFetchRequest): Promise<FetchReply> {
    const replica = this.replicas.get(`${req.topic}/${req.partition}`);
    if (!replica) throw new RpcError(RpcCode.notLeader, `${req.topic}/${req.partition} is not replicated on this node`);
    return replica.serveFetch(req);
  }

  /** Membership changed: a dead follower leaves the in-sync sets at once; leaderless partitions elect. */
  membersChanged(): void {
    for (const r of this.replicas.values()) r.changed();
  }

  private checkInSync(): void {
    for (const r of this.replicas.values()) r.checkInSync();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const w of this.watchers) await w.close();
    for (const r of this.replicas.values()) r.stop();
    this.peers.close();
  }
}
