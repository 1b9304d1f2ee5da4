import type { Clock } from '../core/clock.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { frameOffset } from '../storage/record.js';
import { assignPartitions, partitionKey, type PartitionRef } from './group-assignment.js';
import type { PartitionChunk } from './protocol.js';

/** Where a group reads records from (the partitions' leaders). */
export interface RecordSource {
  /** Committed frames from `offset`; `next` is past the last frame returned. */
  read(topic: string, partition: number, offset: number, maxBytes: number): Promise<{ frames: Buffer; next: number }>;
  /** The partition's first kept offset and its high watermark. */
  bounds(topic: string, partition: number): Promise<{ startOffset: number; highWatermark: number }>;
  /** The partitions of the topics matching patterns. */
  topicsMatching(patterns: string[]): Array<{ name: string; partitions: number }>;
  /** Call `wake` the next time any of these partitions gets records; returns a cancel function. */
  onAppend(refs: PartitionRef[], wake: () => void): () => void;
}

export interface MemberOptions {
  /** A member not heard from (fetch, ack, heartbeat) for this long is dropped. */
  sessionTimeoutMs: number;
  /** A record delivered to this member and not acknowledged for this long is delivered again. */
  ackWaitMs: number;
}

/** Fixed when the group is first used on this node. */
export interface GroupOptions {
  /** Records a partition may have delivered and unacknowledged at once. */
  maxAckPending: number;
  /** Where a partition with no committed offset starts. */
  startAt: 'earliest' | 'latest';
}

interface Delivery {
  deadline: number;
  member: string;
  count: number;
}

/** A group's progress in one partition. Everything below `floor` is acknowledged. */
export class Cursor {
  /** Next offset not yet delivered. */
  next: number;
  /** Delivered, not yet acknowledged. */
  readonly inflight = new Map<number, Delivery>();
  /** Floor last written to the offsets store. */
  savedFloor: number;

  constructor(
    readonly topic: string,
    readonly partition: number,
    start: number,
  ) {
    this.next = start;
    this.savedFloor = start;
  }

  /** The committed offset: the lowest unacknowledged delivery, or `next`. */
  get floor(): number {
    let min = this.next;
    for (const o of this.inflight.keys()) if (o < min) min = o;
    return min;
  }
}

interface Member {
  id: string;
  patterns: string[];
  opts: MemberOptions;
  lastSeen: number;
  assigned: PartitionRef[];
  /** Wakes the member's waiting fetch. */
  wake: (() => void) | null;
}

let memberSeq = 0;

/**
 * A consumer group: members, the partitions each consumes, and per partition what was delivered
 * and acknowledged. Delivery is at least once: a record is delivered again to the partition's
 * current owner when its acknowledgement does not come within ackWaitMs, when it is released, or
 * when its member leaves or dies. Acknowledgements are accepted from any member.
 */
export class Group {
  readonly members = new Map<string, Member>();
  readonly cursors = new Map<string, Cursor>();
  generation = 0;

  constructor(
    readonly name: string,
    readonly opts: GroupOptions,
    private readonly source: RecordSource,
    private readonly clock: Clock,
    /** Committed offsets loaded from the offsets store. */
    private readonly committed: Map<string, number>,
  ) {}

  join(patterns: string[], opts: MemberOptions, memberId?: string): string {
    const id = memberId && this.members.has(memberId) ? memberId : `${this.name}-${process.pid}-${++memberSeq}-${this.clock.nowMs().toString(36)}`;
    const existing = this.members.get(id);
    if (existing) {
      existing.patterns = patterns;
      existing.opts = opts;
    } else this.members.set(id, { id, patterns, opts, lastSeen: this.clock.nowMs(), assigned: [], wake: null });
    this.rebalance();
    return id;
  }

  leave(memberId: string): void {
    const m = this.members.get(memberId);
    if (!m) return;
    this.members.delete(memberId);
    m.wake?.();
    // What it had not acknowledged goes to the partitions' next owners now.
    for (const c of this.cursors.values()) for (const d of c.inflight.values()) if (d.member === memberId) d.deadline = 0;
    this.rebalance();
  }

  /** Drop members not heard from within the session timeout; returns their ids. */
  expire(): string[] {
    const now = this.clock.nowMs();
    const dead = [...this.members.values()].filter((m) => m.lastSeen < now - m.opts.sessionTimeoutMs && m.wake === null).map((m) => m.id);
    for (const id of dead) this.leave(id);
    return dead;
  }

  member(id: string): Member {
    const m = this.members.get(id);
    if (!m) throw new RpcError(RpcCode.group, `group ${this.name}: no member ${id} (it left or its session expired); join again`);
    m.lastSeen = this.clock.nowMs();
    return m;
  }

  /** Reassign partitions over the members (on join, leave, death, or a new matching topic). */
  rebalance(): void {
    const topics = this.source.topicsMatching([...new Set([...this.members.values()].flatMap((m) => m.patterns))]);
    const plan = assignPartitions([...this.members.values()], topics);
    this.generation++;
    for (const m of this.members.values()) {
      m.assigned = plan.get(m.id) ?? [];
      m.wake?.();
    }
  }

  assignment(memberId: string): PartitionRef[] {
    return this.member(memberId).assigned;
  }

  private cursor(ref: PartitionRef, startOffset: number, highWatermark: number): Cursor {
    const key = partitionKey(ref.topic, ref.partition);
    let c = this.cursors.get(key);
    if (!c) {
      const saved = this.committed.get(key);
      const start = saved ?? (this.opts.startAt === 'earliest' ? startOffset : highWatermark);
      c = new Cursor(ref.topic, ref.partition, start);
      if (saved === undefined) c.savedFloor = -1; // to be written
      this.cursors.set(key, c);
    }
    if (c.next < startOffset) c.next = startOffset; // retention removed what was never delivered
    return c;
  }

  /**
   * Records for a member: first those due for redelivery, then new ones, from the partitions it
   * owns; waits up to maxWaitMs for some when there are none.
   */
  async fetch(memberId: string, maxRecords: number, maxBytes: number, maxWaitMs: number): Promise<PartitionChunk[]> {
    const until = this.clock.nowMs() + maxWaitMs;
    for (;;) {
      const member = this.member(memberId);
      const chunks = await this.collect(member, maxRecords, maxBytes);
      const now = this.clock.nowMs();
      if (chunks.length > 0 || now >= until || !this.members.has(memberId)) return chunks;
      await this.waitForWork(member, Math.min(until - now, this.nextDeadlineIn(member, now)));
    }
  }

  /** Until the next redelivery due in the member's partitions. */
  private nextDeadlineIn(member: Member, now: number): number {
    let soonest = Infinity;
    for (const ref of member.assigned) {
      const c = this.cursors.get(partitionKey(ref.topic, ref.partition));
      if (c) for (const d of c.inflight.values()) if (d.deadline < soonest) soonest = d.deadline;
    }
    return Math.max(1, soonest - now);
  }

  private waitForWork(member: Member, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let cancel = () => {};
      const done = () => {
        clearTimeout(timer);
        cancel();
        if (member.wake === done) member.wake = null;
        member.lastSeen = this.clock.nowMs();
        resolve();
      };
      const timer = setTimeout(done, ms);
      cancel = this.source.onAppend(member.assigned, done);
      member.wake = done;
    });
  }

  private async collect(member: Member, maxRecords: number, maxBytes: number): Promise<PartitionChunk[]> {
    const chunks: PartitionChunk[] = [];
    let records = 0;
    let bytes = 0;
    const now = this.clock.nowMs();
    for (const ref of member.assigned) {
      if (records >= maxRecords || bytes >= maxBytes) break;
      const head = await this.source.bounds(ref.topic, ref.partition);
      const c = this.cursor(ref, head.startOffset, head.highWatermark);
      // Redeliveries first, oldest offset first.
      const due = [...c.inflight.entries()].filter(([, d]) => d.deadline <= now).map(([o]) => o).sort((a, b) => a - b);
      for (const offset of due) {
        if (records >= maxRecords || bytes >= maxBytes) break;
        const got = await this.source.read(ref.topic, ref.partition, offset, 1);
        const d = c.inflight.get(offset);
        if (!d) continue; // acknowledged meanwhile
        if (got.frames.length === 0 || frameOffset(got.frames, 0) !== offset) {
          c.inflight.delete(offset); // gone (retention or compaction): nothing to deliver
          continue;
        }
        const size = got.frames.readUInt32LE(0) + 4;
        d.deadline = now + member.opts.ackWaitMs;
        d.member = member.id;
        d.count++;
        chunks.push({ topic: ref.topic, partition: ref.partition, frames: got.frames.subarray(0, size) });
        records++;
        bytes += size;
      }
      const room = Math.min(maxRecords - records, this.opts.maxAckPending - c.inflight.size);
      if (room <= 0 || bytes >= maxBytes || c.next >= head.highWatermark) continue;
      const got = await this.source.read(ref.topic, ref.partition, c.next, maxBytes - bytes);
      let pos = 0;
      let taken = 0;
      while (pos < got.frames.length && taken < room) {
        const offset = frameOffset(got.frames, pos);
        if (offset >= c.next) {
          c.inflight.set(offset, { deadline: now + member.opts.ackWaitMs, member: member.id, count: 1 });
          c.next = offset + 1;
          taken++;
        }
        pos += got.frames.readUInt32LE(pos) + 4;
      }
      if (taken === 0 && got.next > c.next) c.next = got.next;
      if (pos > 0) {
        chunks.push({ topic: ref.topic, partition: ref.partition, frames: got.frames.subarray(0, pos) });
        records += taken;
        bytes += pos;
      }
    }
    return chunks;
  }

  /** Acknowledge delivered records (from any member: a late ack after a rebalance still counts). */
  ack(topic: string, partition: number, offsets: number[]): void {
    const c = this.cursors.get(partitionKey(topic, partition));
    if (!c) return;
    for (const o of offsets) c.inflight.delete(o);
  }

  /** Give records back for immediate redelivery (a member stopping before it processed them). */
  release(topic: string, partition: number, offsets: number[]): void {
    const c = this.cursors.get(partitionKey(topic, partition));
    if (!c) return;
    for (const o of offsets) {
      const d = c.inflight.get(o);
      if (d) d.deadline = 0;
    }
    for (const m of this.members.values()) m.wake?.();
  }

  /** Cursors whose committed offset moved since it was last saved. */
  dirtyFloors(): Array<{ cursor: Cursor; floor: number }> {
    const out: Array<{ cursor: Cursor; floor: number }> = [];
    for (const c of this.cursors.values()) {
      const floor = c.floor;
      if (floor !== c.savedFloor) out.push({ cursor: c, floor });
    }
    return out;
  }
}
