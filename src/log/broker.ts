import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { MetadataStoreError, type MetadataStore, type Watcher } from '../cluster/metadata-store.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { PartitionLog } from '../storage/partition-log.js';
import { compact } from '../storage/compaction.js';
import { frameOffset, frameTimestamp, frames } from '../storage/record.js';
import { Partition } from './partition.js';
import { EARLIEST, LATEST, type FetchReply, type FetchRequest, type ProduceRequest } from './protocol.js';
import { assignReplicas, resolveTopicRequest, type TopicConfig, type TopicDefaults, type TopicRequest } from './topic-config.js';
import { matchesPattern, topicNameProblem } from './subjects.js';

export const TOPICS_PREFIX = 'log/topics/';
/** The largest record (frame header, key and value). */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

export interface NodeAddress {
  id: string;
  host: string;
  port: number;
  httpPort?: number;
}

export interface BrokerOptions {
  node: NodeAddress;
  /** Partitions live in <dataDir>/<topic>/<partition>/. */
  dataDir: string;
  store: MetadataStore;
  clock: Clock;
  log: Logger;
  defaults: TopicDefaults;
  /** Create a topic with the defaults the first time something is published to it. */
  autoCreateTopics: boolean;
  /** Broker nodes currently up (this one included). */
  liveNodes(): NodeAddress[];
  /** How often retention and compaction run over every partition. */
  maintenanceIntervalMs?: number;
}

export interface PartitionMetadata {
  partition: number;
  leader: string | null;
  replicas: string[];
  isr: string[];
}

/** Who leads each partition and who is in sync: the replication layer answers when it runs. */
export interface LeadershipView {
  leaderOf(topic: string, partition: number): string | null;
  isrOf(topic: string, partition: number): string[];
}

/**
 * The log broker of one node: topics (kept in the metadata store) and the partitions this node
 * holds. Produce appends to a partition this node leads; fetch reads its committed records.
 */
export class Broker {
  readonly topics = new Map<string, TopicConfig>();
  readonly partitions = new Map<string, Partition>();
  /** Called when this node starts holding a partition (the replication layer attaches here). */
  readonly partitionListeners = new Set<(p: Partition, cfg: TopicConfig) => void>();
  readonly topicListeners = new Set<(cfg: TopicConfig) => void>();
  /** Called when a topic is gone (deleted here or by another node). */
  readonly topicDeletedListeners = new Set<(cfg: TopicConfig) => void>();
  /** Run by the node deleting a topic, before it answers (the replication layer removes its keys). */
  readonly deleteHooks: Array<(cfg: TopicConfig) => Promise<void>> = [];
  leadership: LeadershipView | null = null;
  private watcher: Watcher | null = null;
  private maintenanceTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(readonly opts: BrokerOptions) {}

  static async open(opts: BrokerOptions): Promise<Broker> {
    mkdirSync(opts.dataDir, { recursive: true });
    const broker = new Broker(opts);
    const snap = await opts.store.snapshot(TOPICS_PREFIX);
    for (const kv of snap.kvs) broker.topicChanged(JSON.parse(kv.value.toString()) as TopicConfig);
    broker.watcher = await opts.store.watch(
      TOPICS_PREFIX,
      (ev) => {
        if (ev.type === 'put') broker.topicChanged(JSON.parse(ev.kv.value.toString()) as TopicConfig);
        else broker.topicDeleted(ev.key.slice(TOPICS_PREFIX.length));
      },
      { afterRevision: snap.revision },
    );
    const every = opts.maintenanceIntervalMs ?? 30_000;
    broker.maintenanceTimer = setInterval(() => broker.maintain(), every);
    broker.maintenanceTimer.unref();
    return broker;
  }

  get nodeId(): string {
    return this.opts.node.id;
  }

  /** Create a topic; creating one that exists with the same partition count returns it. */
  async createTopic(req: TopicRequest, allowInternal = false): Promise<TopicConfig> {
    const resolved = resolveTopicRequest(req, this.opts.defaults, allowInternal);
    const existing = this.topics.get(resolved.name) ?? (await this.readTopic(resolved.name));
    if (existing) return this.sameTopic(existing, req);
    const nodes = this.opts.liveNodes().map((n) => n.id);
    const cfg: TopicConfig = { ...resolved, assignment: assignReplicas(resolved.partitions, resolved.replicas, nodes) };
    const created = await storeCall(() => this.opts.store.putIf(TOPICS_PREFIX + cfg.name, JSON.stringify(cfg), 0));
    if (!created) {
      const raced = await this.readTopic(cfg.name);
      if (raced) return this.sameTopic(raced, req);
    }
    this.topicChanged(cfg);
    this.opts.log.info('topic created', { topic: cfg.name, partitions: cfg.partitions, replicas: cfg.replicas, compact: cfg.compact });
    return cfg;
  }

  private sameTopic(existing: TopicConfig, req: TopicRequest): TopicConfig {
    if (req.partitions !== undefined && req.partitions !== existing.partitions) {
      throw new RpcError(RpcCode.invalid, `topic ${existing.name} exists with ${existing.partitions} partitions`);
    }
    this.topicChanged(existing);
    return existing;
  }

  private async readTopic(name: string): Promise<TopicConfig | null> {
    const kv = await storeCall(() => this.opts.store.get(TOPICS_PREFIX + name));
    return kv ? (JSON.parse(kv.value.toString()) as TopicConfig) : null;
  }

  async deleteTopic(name: string): Promise<boolean> {
    const cfg = this.topics.get(name);
    const deleted = await storeCall(() => this.opts.store.delete(TOPICS_PREFIX + name));
    this.topicDeleted(name);
    if (cfg) for (const hook of this.deleteHooks) await storeCall(() => hook(cfg));
    return deleted;
  }

  /** A topic appeared or changed in the store: open the partitions assigned to this node. */
  private topicChanged(cfg: TopicConfig): void {
    if (this.closed) return;
    const known = this.topics.has(cfg.name);
    this.topics.set(cfg.name, cfg);
    for (let p = 0; p < cfg.partitions; p++) {
      const key = `${cfg.name}/${p}`;
      if (this.partitions.has(key) || !cfg.assignment[p].includes(this.nodeId)) continue;
      const log = PartitionLog.open(path.join(this.opts.dataDir, cfg.name, String(p)), {
        segmentBytes: cfg.segmentBytes,
        indexIntervalBytes: 4096,
        retentionBytes: cfg.compact ? 0 : cfg.retentionBytes,
        retentionMs: cfg.compact ? 0 : cfg.retentionMs,
        clock: this.opts.clock,
        log: this.opts.log.child({ topic: cfg.name, partition: p }),
      });
      const partition = new Partition(cfg.name, p, log);
      this.partitions.set(key, partition);
      for (const l of this.partitionListeners) l(partition, cfg);
    }
    if (!known) for (const l of this.topicListeners) l(cfg);
  }

  private topicDeleted(name: string): void {
    const cfg = this.topics.get(name);
    if (!cfg || !this.topics.delete(name)) return;
    for (const l of this.topicDeletedListeners) l(cfg);
    for (const [key, p] of this.partitions) {
      if (p.topic !== name) continue;
      p.close();
      this.partitions.delete(key);
    }
    rmSync(path.join(this.opts.dataDir, name), { recursive: true, force: true });
    this.opts.log.info('topic deleted', { topic: name });
  }

  topicConfig(name: string): TopicConfig {
    const cfg = this.topics.get(name);
    if (!cfg) throw new RpcError(RpcCode.notFound, `no topic ${JSON.stringify(name)}`);
    return cfg;
  }

  /** Topics whose names match any of the patterns (wildcards allowed). */
  topicsMatching(patterns: string[]): TopicConfig[] {
    return [...this.topics.values()].filter((t) => !t.name.startsWith('__') && patterns.some((p) => matchesPattern(p, t.name))).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The partition as held here, checked to exist. */
  partition(topic: string, index: number): Partition {
    const cfg = this.topicConfig(topic);
    if (index >= cfg.partitions) throw new RpcError(RpcCode.invalid, `topic ${topic} has partitions 0..${cfg.partitions - 1}, not ${index}`);
    const p = this.partitions.get(`${topic}/${index}`);
    if (!p) throw new RpcError(RpcCode.notLeader, `${topic}/${index} is not on this node (replicas: ${cfg.assignment[index].join(', ')})`);
    return p;
  }

  /** The partition, which this node must lead. */
  leaderPartition(topic: string, index: number): Partition {
    const p = this.partition(topic, index);
    if (p.role !== 'leader') throw new RpcError(RpcCode.notLeader, `this node does not lead ${topic}/${index}`);
    return p;
  }

  /** Create the named topics that do not exist, if this broker creates topics on first publish. */
  async autoCreate(names: string[]): Promise<void> {
    if (!this.opts.autoCreateTopics) return;
    for (const name of names) if (!this.topics.has(name) && !name.startsWith('__') && topicNameProblem(name) === null) await this.createTopic({ name });
  }

  async produce(req: ProduceRequest): Promise<number> {
    // Every record must fit in a fetch reply (and so in one RPC frame) to be read back.
    if (req.largestFrame > MAX_RECORD_BYTES) throw new RpcError(RpcCode.invalid, `a record of ${req.largestFrame} bytes is larger than the ${MAX_RECORD_BYTES} allowed`);
    if (!this.topics.has(req.topic)) await this.autoCreate([req.topic]);
    return this.leaderPartition(req.topic, req.partition).produce(req, this.opts.clock.nowMs());
  }

  async fetch(req: FetchRequest): Promise<FetchReply> {
    const p = this.leaderPartition(req.topic, req.partition);
    const got = await p.fetch(req.offset, req.maxBytes, req.maxWaitMs, req.durableOnly ?? false);
    return { highWatermark: p.highWatermark, startOffset: p.log.startOffset, next: got.next, frames: got.frames };
  }

  listOffsets(topic: string, partition: number, spec: number): number {
    const p = this.leaderPartition(topic, partition);
    if (spec === EARLIEST) return p.log.startOffset;
    if (spec === LATEST) return p.highWatermark;
    if (spec < 0) throw new RpcError(RpcCode.invalid, `offset spec ${spec}: -2 earliest, -1 latest, or a time in ms`);
    return this.firstAtOrAfter(p, spec);
  }

  /** The first committed offset whose record's timestamp is >= ts (the time index only narrows the scan). */
  private firstAtOrAfter(p: Partition, ts: number): number {
    let offset = Math.min(p.log.offsetForTime(ts), p.highWatermark);
    while (offset < p.highWatermark) {
      const got = p.readCommitted(offset, 64 * 1024);
      if (got.next <= offset) break;
      for (const f of frames(got.frames)) if (frameTimestamp(got.frames, f.pos) >= ts) return frameOffset(got.frames, f.pos);
      offset = got.next;
    }
    return p.highWatermark;
  }

  metadata(filter?: string[]): { nodes: NodeAddress[]; topics: Array<Omit<TopicConfig, 'assignment'> & { partitionInfo: PartitionMetadata[] }> } {
    const topics = filter && filter.length > 0 ? [...this.topics.values()].filter((t) => filter.some((f) => matchesPattern(f, t.name))) : [...this.topics.values()];
    return {
      nodes: this.opts.liveNodes(),
      topics: topics.map(({ assignment, ...rest }) => ({
        ...rest,
        partitionInfo: assignment.map((replicas, partition) => ({
          partition,
          replicas,
          leader: this.leadership ? this.leadership.leaderOf(rest.name, partition) : replicas[0],
          isr: this.leadership ? this.leadership.isrOf(rest.name, partition) : replicas,
        })),
      })),
    };
  }

  /** Retention (size and age) over every partition, and compaction by key for compacted topics (committed records only). */
  maintain(): void {
    for (const p of this.partitions.values()) {
      try {
        p.log.applyRetention();
        const cfg = this.topics.get(p.topic);
        if (cfg?.compact) compact(p.log, { tombstoneRetentionMs: cfg.tombstoneRetentionMs, clock: this.opts.clock, maxOffset: p.highWatermark });
      } catch (err) {
        this.opts.log.error('retention or compaction failed', { topic: p.topic, partition: p.index, err: String(err) });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.maintenanceTimer) clearInterval(this.maintenanceTimer);
    await this.watcher?.close();
    for (const p of this.partitions.values()) p.close();
    this.partitions.clear();
  }
}

/** Metadata store failures reach clients as errors to retry later (or as disk full). */
async function storeCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (!(err instanceof MetadataStoreError)) throw err;
    const full = /ENOSPC/.test(err.message);
    throw new RpcError(full ? RpcCode.storage : RpcCode.tryLater, full ? `metadata store: disk full (${err.message})` : `metadata store: ${err.message}`);
  }
}
