import { crc32c } from '../core/crc32c.js';
import { RpcClient } from '../net/rpc-client.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { NodeAddress, PartitionMetadata } from './broker.js';
import { EARLIEST, LATEST, LogMethod, encodeJson, encodeListOffsets } from './protocol.js';
import { BufferReader } from '../core/bytes.js';
import type { TopicConfig, TopicRequest } from './topic-config.js';
import { Producer, type ProducerOptions } from './producer.js';
import { consume, type ConsumeOptions, type LogRecord } from './consumer.js';
import { GroupConsumer, type GroupConsumerOptions } from './group-consumer.js';
import { OFFSETS_TOPIC } from './group-coordinator.js';

export type { LogRecord, ConsumeOptions, ProducerOptions, GroupConsumerOptions };
export { Producer, GroupConsumer };

export interface LogClientOptions {
  /** One or more brokers to learn the cluster from. */
  brokers?: Array<{ host: string; port: number }>;
  host?: string;
  port?: number;
  /** How long a request keeps being retried through leader changes and reconnects. */
  retryTimeoutMs?: number;
  /** Where to connect to reach a broker's advertised address (a tunnel, NAT, a test proxy); default the address itself. */
  route?: (addr: { host: string; port: number }) => { host: string; port: number };
}

export interface TopicMetadata extends Omit<TopicConfig, 'assignment'> {
  partitionInfo: PartitionMetadata[];
}

interface Metadata {
  nodes: NodeAddress[];
  topics: TopicMetadata[];
}

/** Errors worth retrying after refreshing metadata: the leader moved or a node went away. */
export function retriable(err: unknown): boolean {
  return err instanceof RpcError && (err.code === RpcCode.notLeader || err.code === RpcCode.closed || err.code === RpcCode.tryLater || err.code === RpcCode.timeout);
}

/**
 * A client of Strata's log service (docs/log.md, "Client"). It learns from any broker which node
 * leads each partition, keeps one connection per node, and retries requests through leader
 * changes for up to `retryTimeoutMs`.
 */
export class LogClient {
  private readonly conns = new Map<string, Promise<RpcClient>>();
  private meta: Metadata = { nodes: [], topics: [] };
  private refreshing: Promise<void> | null = null;
  private closed = false;
  readonly retryTimeoutMs: number;
  private readonly route: NonNullable<LogClientOptions['route']>;

  private constructor(private readonly bootstrap: Array<{ host: string; port: number }>, opts: LogClientOptions) {
    this.retryTimeoutMs = opts.retryTimeoutMs ?? 30_000;
    this.route = opts.route ?? ((a) => a);
  }

  static async connect(opts: LogClientOptions): Promise<LogClient> {
    const brokers = opts.brokers ?? (opts.port !== undefined ? [{ host: opts.host ?? '127.0.0.1', port: opts.port }] : []);
    if (brokers.length === 0) throw new Error('LogClient.connect: give brokers, or host and port');
    const client = new LogClient(brokers, opts);
    await client.refreshMetadata();
    return client;
  }

  // ---- connections and metadata ----

  connection(addr: { host: string; port: number }): Promise<RpcClient> {
    if (this.closed) return Promise.reject(new RpcError(RpcCode.closed, 'client closed'));
    const key = `${addr.host}:${addr.port}`;
    let c = this.conns.get(key);
    if (!c) {
      const to = this.route(addr);
      c = RpcClient.connect({ host: to.host, port: to.port });
      this.conns.set(key, c);
      c.then(
        (rpc) => rpc.onClose(() => this.conns.get(key) === c && this.conns.delete(key)),
        () => this.conns.get(key) === c && this.conns.delete(key),
      );
    }
    return c;
  }

  /** Ask the brokers (known nodes first, then the bootstrap list) for the current metadata. */
  refreshMetadata(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.fetchMetadata().finally(() => (this.refreshing = null));
    }
    return this.refreshing;
  }

  private async fetchMetadata(): Promise<void> {
    let last: unknown = null;
    for (const addr of [...this.meta.nodes, ...this.bootstrap]) {
      try {
        const rpc = await this.connection(addr);
        this.meta = JSON.parse((await rpc.call(LogMethod.metadata, Buffer.alloc(0), 5000)).toString()) as Metadata;
        return;
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new RpcError(RpcCode.closed, 'no broker reachable');
  }

  topic(name: string): TopicMetadata | undefined {
    return this.meta.topics.find((t) => t.name === name);
  }

  get metadataSnapshot(): Metadata {
    return this.meta;
  }

  /** The connection to the node leading the partition (metadata refreshed once if unknown). */
  async leaderConnection(topic: string, partition: number): Promise<RpcClient> {
    let t = this.topic(topic);
    let leader = t?.partitionInfo[partition]?.leader;
    if (!leader) {
      await this.refreshMetadata();
      t = this.topic(topic);
      leader = t?.partitionInfo[partition]?.leader;
    }
    // A topic the metadata does not know yet: any broker can create it (or refuse, if it may not).
    if (!t) return this.anyConnection();
    if (partition >= t.partitions) throw new RpcError(RpcCode.invalid, `topic ${topic} has partitions 0..${t.partitions - 1}, not ${partition}`);
    if (!leader) throw new RpcError(RpcCode.notLeader, `${topic}/${partition} has no leader right now`);
    const node = this.meta.nodes.find((n) => n.id === leader);
    if (!node) throw new RpcError(RpcCode.notLeader, `leader ${leader} of ${topic}/${partition} is not up`);
    return this.connection(node);
  }

  /** Any broker (for control requests). */
  async anyConnection(): Promise<RpcClient> {
    let last: unknown = null;
    for (const addr of [...this.meta.nodes, ...this.bootstrap]) {
      try {
        return await this.connection(addr);
      } catch (err) {
        last = err;
      }
    }
    throw last instanceof Error ? last : new RpcError(RpcCode.closed, 'no broker reachable');
  }

  /** The node coordinating a consumer group: the leader of its committed-offsets partition. */
  async coordinatorConnection(group: string): Promise<RpcClient> {
    const t = this.topic(OFFSETS_TOPIC);
    if (!t) return this.anyConnection();
    return this.leaderConnection(OFFSETS_TOPIC, crc32c(Buffer.from(group)) % t.partitions);
  }

  /** Run `attempt`, refreshing metadata and retrying on leader changes and lost connections. */
  async withRetry<T>(attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const until = Date.now() + this.retryTimeoutMs;
    let delay = 20;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!retriable(err) || Date.now() + delay > until || this.closed || signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 500);
        await this.refreshMetadata().catch(() => {});
      }
    }
  }

  // ---- topics ----

  async createTopic(name: string, opts: Omit<TopicRequest, 'name'> = {}): Promise<TopicMetadata> {
    await this.withRetry(async () => (await this.anyConnection()).call(LogMethod.createTopic, encodeJson({ ...opts, name }), 10_000));
    await this.refreshMetadata();
    const deadline = Date.now() + this.retryTimeoutMs;
    // Partitions get leaders a moment after creation in a cluster.
    for (;;) {
      const t = this.topic(name);
      if (t && t.partitionInfo.every((p) => p.leader)) return t;
      if (Date.now() > deadline) throw new RpcError(RpcCode.tryLater, `topic ${name} created but not all partitions have a leader`);
      await new Promise((r) => setTimeout(r, 50));
      await this.refreshMetadata();
    }
  }

  async deleteTopic(name: string): Promise<boolean> {
    const rpc = await this.anyConnection();
    const reply = JSON.parse((await rpc.call(LogMethod.deleteTopic, encodeJson({ name }), 10_000)).toString()) as { deleted: boolean };
    await this.refreshMetadata();
    return reply.deleted;
  }

  /**
   * The topic's partition count. A topic not known yet is looked up, and created by a broker that
   * creates topics on first publish; if it still does not exist, partition 0 (the publish then
   * gets the broker's own answer).
   */
  async partitionsOf(topic: string): Promise<number> {
    if (!this.topic(topic)) {
      await this.withRetry(async () => {
        const rpc = await this.anyConnection();
        const got = JSON.parse((await rpc.call(LogMethod.metadata, encodeJson({ topics: [topic], create: true }), 10_000)).toString()) as Metadata;
        if (got.topics.length > 0) await this.refreshMetadata();
      }).catch(() => {});
    }
    return this.topic(topic)?.partitions ?? 1;
  }

  /** A partition's first offset ('earliest'), next offset to be written ('latest'), or first offset at or after a time. */
  async offsetOf(topic: string, partition: number, at: 'earliest' | 'latest' | { time: number }): Promise<number> {
    const spec = at === 'earliest' ? EARLIEST : at === 'latest' ? LATEST : at.time;
    const reply = await this.withRetry(async () => (await this.leaderConnection(topic, partition)).call(LogMethod.listOffsets, encodeListOffsets(topic, partition, spec)));
    return new BufferReader(reply).u64();
  }

  // ---- producing and consuming ----

  producer(opts: ProducerOptions = {}): Producer {
    return new Producer(this, opts);
  }

  /** Records of one partition (or all of a topic's partitions, merged) from a position on. */
  consume(topic: string, opts: ConsumeOptions = {}): AsyncIterable<LogRecord> {
    return consume(this, topic, opts);
  }

  group(name: string, opts: GroupConsumerOptions): GroupConsumer {
    return new GroupConsumer(this, name, opts);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns.values()) c.then((rpc) => rpc.close(), () => {});
    this.conns.clear();
  }
}
