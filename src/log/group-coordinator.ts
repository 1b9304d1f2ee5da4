import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { crc32c } from '../core/crc32c.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { decodeFrame, frames } from '../storage/record.js';
import type { Broker } from './broker.js';
import { Group, type GroupOptions, type RecordSource } from './group.js';
import { partitionKey, type PartitionRef } from './group-assignment.js';
import { EARLIEST, LATEST, LogMethod, ProduceBatch, batchRequest, decodeFetchReply, encodeFetch, encodeListOffsets, type PartitionChunk } from './protocol.js';
import type { Partition } from './partition.js';
import type { PeerPool } from '../net/peer-pool.js';
import type { RpcClient } from '../net/rpc-client.js';
import { BufferReader } from '../core/bytes.js';
import { patternProblem } from './subjects.js';

export const OFFSETS_TOPIC = '__group_offsets';

export interface JoinRequest {
  group: string;
  member?: string;
  subscriptions: string[];
  sessionTimeoutMs?: number;
  ackWaitMs?: number;
  maxAckPending?: number;
  startAt?: 'earliest' | 'latest';
}

const GROUP_NAME = /^[A-Za-z0-9_.-]{1,200}$/;
const REMOTE_POLL_MS = 100;

/**
 * Consumer groups of this node. Committed offsets (each partition's lowest unacknowledged
 * offset) are written to the compacted internal topic `__group_offsets`, keyed by group, topic
 * and partition, every `commitIntervalMs` and when a member leaves; a group's state is read back
 * from it when the group is first used after a start.
 */
export class GroupCoordinator {
  private readonly groups = new Map<string, Promise<Group>>();
  private readonly timer: NodeJS.Timeout;
  private saving = false;

  constructor(
    private readonly broker: Broker,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly offsetsPartitions = 1,
    /** Connections to other brokers, to read partitions led elsewhere (null: one node). */
    private readonly peers: PeerPool | null = null,
    commitIntervalMs = 100,
  ) {
    this.timer = setInterval(() => void this.tick(), commitIntervalMs);
    this.timer.unref();
    // A new topic may match members' patterns.
    broker.topicListeners.add(() => {
      for (const g of this.groups.values()) {
        g.then(
          (group) => group.rebalance(),
          () => {},
        );
      }
    });
  }

  /** The partition if this node leads it, else null (it is read from its leader). */
  private local(topic: string, partition: number): Partition | null {
    const p = this.broker.partitions.get(partitionKey(topic, partition));
    return p && p.role === 'leader' ? p : null;
  }

  private async leaderRpc(topic: string, partition: number): Promise<RpcClient> {
    this.broker.topicConfig(topic);
    const leader = this.broker.leadership?.leaderOf(topic, partition);
    if (!leader || !this.peers) throw new RpcError(RpcCode.tryLater, `${topic}/${partition} has no leader to read from`);
    return this.peers.get(leader);
  }

  /** Group consumption reads through the coordinator: local partitions directly, the others from their leaders. */
  private readonly source: RecordSource = {
    read: async (topic, partition, offset, maxBytes) => {
      const p = this.local(topic, partition);
      if (p) return p.readCommitted(offset, maxBytes);
      const rpc = await this.leaderRpc(topic, partition);
      const reply = decodeFetchReply(await rpc.call(LogMethod.fetch, encodeFetch({ topic, partition, offset, maxBytes, maxWaitMs: 0 }), 5000));
      return { frames: reply.frames, next: reply.next };
    },
    bounds: async (topic, partition) => {
      const p = this.local(topic, partition);
      if (p) return { startOffset: p.log.startOffset, highWatermark: p.highWatermark };
      const rpc = await this.leaderRpc(topic, partition);
      const [start, hw] = await Promise.all(
        [EARLIEST, LATEST].map(async (spec) => new BufferReader(await rpc.call(LogMethod.listOffsets, encodeListOffsets(topic, partition, spec), 5000)).u64()),
      );
      return { startOffset: start, highWatermark: hw };
    },
    topicsMatching: (patterns) => this.broker.topicsMatching(patterns).map((t) => ({ name: t.name, partitions: t.partitions })),
    onAppend: (refs: PartitionRef[], wake) => {
      const locals = refs.flatMap((r) => this.local(r.topic, r.partition) ?? []);
      for (const p of locals) p.appendListeners.add(wake);
      // Partitions led elsewhere send no news of appends: look again soon.
      const poll = locals.length < refs.length ? setTimeout(wake, REMOTE_POLL_MS) : null;
      return () => {
        if (poll) clearTimeout(poll);
        for (const p of locals) p.appendListeners.delete(wake);
      };
    },
  };

  async join(req: JoinRequest): Promise<{ member: string; group: Group }> {
    if (typeof req.group !== 'string' || !GROUP_NAME.test(req.group)) throw new RpcError(RpcCode.invalid, 'group names are 1-200 letters, digits, "_", "-" or "."');
    if (!Array.isArray(req.subscriptions) || req.subscriptions.length === 0) throw new RpcError(RpcCode.invalid, 'subscriptions: give at least one topic or pattern');
    for (const p of req.subscriptions) {
      const problem = patternProblem(p);
      if (problem) throw new RpcError(RpcCode.invalid, problem);
    }
    const memberOpts = {
      sessionTimeoutMs: clampInt(req.sessionTimeoutMs, 10_000, 1000, 600_000, 'sessionTimeoutMs'),
      ackWaitMs: clampInt(req.ackWaitMs, 30_000, 100, 3_600_000, 'ackWaitMs'),
    };
    const group = await this.group(req.group, {
      maxAckPending: clampInt(req.maxAckPending, 10_000, 1, 1_000_000, 'maxAckPending'),
      startAt: req.startAt === 'latest' ? 'latest' : 'earliest',
    });
    const member = group.join(req.subscriptions, memberOpts, req.member);
    this.log.info('group member joined', { group: req.group, member, members: group.members.size });
    return { member, group };
  }

  existing(name: string): Promise<Group> {
    const g = this.groups.get(name);
    if (!g) return Promise.reject(new RpcError(RpcCode.group, `no group ${JSON.stringify(name)} on this node; join first`));
    if (!this.coordinates(name)) {
      // Leadership of the group's offsets partition moved: the new leader coordinates it now.
      this.groups.delete(name);
      return Promise.reject(new RpcError(RpcCode.notLeader, `this node no longer coordinates group ${name}`));
    }
    return g;
  }

  /** Whether this node leads the offsets partition of the group (and so coordinates it). */
  private coordinates(group: string): boolean {
    return this.local(OFFSETS_TOPIC, this.offsetsPartitionFor(group)) !== null;
  }

  async leave(name: string, member: string): Promise<void> {
    const g = await this.existing(name);
    g.leave(member);
    this.log.info('group member left', { group: name, member, members: g.members.size });
    await this.save(g);
  }

  async fetch(name: string, member: string, maxRecords: number, maxBytes: number, maxWaitMs: number): Promise<PartitionChunk[]> {
    const g = await this.existing(name);
    return g.fetch(member, Math.max(1, maxRecords), Math.max(1, maxBytes), Math.min(maxWaitMs, 60_000));
  }

  private group(name: string, opts: GroupOptions): Promise<Group> {
    if (this.groups.has(name) && !this.coordinates(name)) this.groups.delete(name);
    let g = this.groups.get(name);
    if (!g) {
      g = this.loadCommitted(name).then((committed) => new Group(name, opts, this.source, this.clock, committed));
      this.groups.set(name, g);
      g.catch(() => this.groups.delete(name));
    }
    return g;
  }

  private offsetsPartitionFor(group: string): number {
    return crc32c(Buffer.from(group)) % (this.broker.topics.get(OFFSETS_TOPIC)?.partitions ?? this.offsetsPartitions);
  }

  private async offsetsPartition(group: string): Promise<Partition> {
    if (!this.broker.topics.has(OFFSETS_TOPIC)) {
      const replicas = Math.min(this.broker.opts.defaults.replicas, this.broker.opts.liveNodes().length);
      await this.broker.createTopic({ name: OFFSETS_TOPIC, partitions: this.offsetsPartitions, replicas, compact: true }, true);
    }
    return this.broker.leaderPartition(OFFSETS_TOPIC, this.offsetsPartitionFor(group));
  }

  /** The latest committed offset per partition of a group, read from the offsets topic. */
  private async loadCommitted(group: string): Promise<Map<string, number>> {
    const p = await this.offsetsPartition(group);
    const out = new Map<string, number>();
    const prefix = `${group}\u0000`;
    let offset = p.log.startOffset;
    while (offset < p.highWatermark) {
      const got = p.readCommitted(offset, 1 << 20);
      if (got.next <= offset) break;
      for (const f of frames(got.frames)) {
        const r = decodeFrame(got.frames, f.pos, f.size);
        const key = r.key?.toString() ?? '';
        if (!key.startsWith(prefix)) continue;
        const [, topic, partition] = key.split('\u0000');
        if (r.value === null) out.delete(partitionKey(topic, Number(partition)));
        else out.set(partitionKey(topic, Number(partition)), Number(r.value.readBigUInt64LE(0)));
      }
      offset = got.next;
    }
    return out;
  }

  /** Write the group's moved floors to the offsets topic (durably). */
  private async save(g: Group): Promise<void> {
    const dirty = g.dirtyFloors();
    if (dirty.length === 0) return;
    const batch = new ProduceBatch();
    for (const { cursor, floor } of dirty) {
      const value = Buffer.alloc(8);
      value.writeBigUInt64LE(BigInt(floor));
      batch.add(value, Buffer.from(`${g.name}\u0000${cursor.topic}\u0000${cursor.partition}`), 0);
    }
    const p = await this.offsetsPartition(g.name);
    await p.produce(batchRequest(OFFSETS_TOPIC, p.index, 'replicated', batch), this.clock.nowMs());
    for (const { cursor, floor } of dirty) cursor.savedFloor = floor;
  }

  private async tick(): Promise<void> {
    if (this.saving) return;
    this.saving = true;
    try {
      for (const [name, pending] of this.groups) {
        const g = await pending.catch(() => null);
        if (!g) continue;
        if (!this.coordinates(name)) {
          this.groups.delete(name);
          continue;
        }
        for (const id of g.expire()) this.log.info('group member expired', { group: g.name, member: id });
        await this.save(g);
      }
    } catch (err) {
      this.log.warn('group offsets not saved', { err: String((err as Error).message ?? err) });
    } finally {
      this.saving = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const pending of this.groups.values()) {
      const g = await pending.catch(() => null);
      if (g) await this.save(g).catch(() => {});
    }
  }
}

function clampInt(v: unknown, dflt: number, min: number, max: number, name: string): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RpcError(RpcCode.invalid, `${name} must be an integer in ${min}..${max}`);
  return v;
}
