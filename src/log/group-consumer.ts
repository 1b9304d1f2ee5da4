import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { RpcClient } from '../net/rpc-client.js';
import { checkFrame, decodeFrame } from '../storage/record.js';
import type { LogClient } from './client.js';
import type { LogRecord } from './consumer.js';
import { LogMethod, decodeChunks, encodeGroupFetch, encodeJson, encodeOffsetLists, type OffsetList } from './protocol.js';

export interface GroupConsumerOptions {
  /** Topics or patterns (`orders.*`, `logs.>`). */
  subscriptions: string[];
  /** A record not acknowledged for this long is delivered again (to whoever owns its partition then). */
  ackWaitMs?: number;
  sessionTimeoutMs?: number;
  maxAckPending?: number;
  /** Where partitions without a committed offset start. Default earliest. */
  startAt?: 'earliest' | 'latest';
  /** Acknowledge each record when the loop asks for the next one (at-least-once without calling ack). */
  autoAck?: boolean;
  /** Records asked for per fetch. */
  batch?: number;
  maxWaitMs?: number;
}

export interface GroupRecord extends LogRecord {
  /** Mark the record processed; it will not be delivered again. */
  ack(): void;
}

/**
 * A member of a consumer group: `for await (const r of group) { ...; r.ack(); }`. Each partition
 * of the subscribed topics is consumed by one member at a time; records are delivered at least
 * once (again after ackWaitMs without an ack, or when a member leaves or dies). `close()` hands
 * the records it fetched but never gave to the loop back for immediate redelivery, then leaves.
 */
export class GroupConsumer implements AsyncIterable<GroupRecord> {
  private member: string | null = null;
  private rpc: RpcClient | null = null;
  private buffer: GroupRecord[] = [];
  private acks = new Map<string, OffsetList>();
  private ackTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private closing = false;
  private readonly abort = new AbortController();

  constructor(
    private readonly client: LogClient,
    readonly name: string,
    private readonly opts: GroupConsumerOptions,
  ) {}

  get memberId(): string | null {
    return this.member;
  }

  private async join(): Promise<void> {
    const reply = await this.client.withRetry(async () => {
      await this.client.refreshMetadata();
      this.rpc = await this.client.coordinatorConnection(this.name);
      return this.rpc.call(
        LogMethod.groupJoin,
        encodeJson({
          group: this.name,
          subscriptions: this.opts.subscriptions,
          ackWaitMs: this.opts.ackWaitMs,
          sessionTimeoutMs: this.opts.sessionTimeoutMs,
          maxAckPending: this.opts.maxAckPending,
          startAt: this.opts.startAt,
        }),
        10_000,
      );
    }, this.abort.signal);
    this.member = (JSON.parse(reply.toString()) as { member: string }).member;
    if (!this.heartbeat) {
      const every = Math.max(200, (this.opts.sessionTimeoutMs ?? 10_000) / 3);
      this.heartbeat = setInterval(() => {
        if (this.member && this.rpc) this.rpc.call(LogMethod.groupHeartbeat, encodeJson({ group: this.name, member: this.member }), every).catch(() => {});
      }, every);
      this.heartbeat.unref();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<GroupRecord> {
    let last: GroupRecord | null = null;
    try {
      while (!this.closing) {
        if (this.buffer.length === 0) await this.fill();
        const next = this.buffer.shift();
        if (!next) continue;
        if (this.opts.autoAck && last) last.ack();
        last = next;
        yield next;
      }
    } finally {
      if (this.opts.autoAck && last && !this.closing) last.ack();
      await this.close();
    }
  }

  private async fill(): Promise<void> {
    if (!this.member) await this.join();
    const batch = this.opts.batch ?? 500;
    try {
      const payload = await this.rpc!.call(
        LogMethod.groupFetch,
        encodeGroupFetch({ group: this.name, member: this.member!, maxRecords: batch, maxBytes: 4 * 1024 * 1024, maxWaitMs: this.opts.maxWaitMs ?? 1000 }),
        (this.opts.maxWaitMs ?? 1000) + 30_000,
      );
      for (const c of decodeChunks(payload)) {
        let pos = 0;
        while (pos < c.frames.length) {
          const size = checkFrame(c.frames, pos, c.frames.length);
          if (size === 0) throw new RpcError(RpcCode.badFrame, `${c.topic}/${c.partition}: a record failed its checksum`);
          const r = decodeFrame(c.frames, pos, size);
          pos += size;
          const topic = c.topic;
          const partition = c.partition;
          this.buffer.push({ topic, partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, ack: () => this.ack(topic, partition, r.offset) });
        }
      }
    } catch (err) {
      if (this.closing) return;
      if (err instanceof RpcError && (err.code === RpcCode.group || err.code === RpcCode.closed || err.code === RpcCode.notLeader || err.code === RpcCode.timeout)) {
        // Our session ended or the coordinator went away: join again (records we held get redelivered).
        this.member = null;
        this.buffer = [];
        await new Promise((r) => setTimeout(r, 50));
        return;
      }
      throw err;
    }
  }

  ack(topic: string, partition: number, offset: number): void {
    const key = `${topic}/${partition}`;
    let l = this.acks.get(key);
    if (!l) {
      l = { topic, partition, offsets: [] };
      this.acks.set(key, l);
    }
    l.offsets.push(offset);
    if (l.offsets.length >= 1000) void this.flushAcks();
    else if (!this.ackTimer) this.ackTimer = setTimeout(() => void this.flushAcks(), 5);
  }

  /** Send the acknowledgements gathered so far. */
  async flushAcks(): Promise<void> {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.acks.size === 0 || !this.member || !this.rpc) return;
    const lists = [...this.acks.values()];
    this.acks.clear();
    await this.rpc.call(LogMethod.groupAck, encodeOffsetLists(this.name, this.member, lists)).catch(() => {
      /* lost acks mean redelivery, which at-least-once allows */
    });
  }

  /** Leave the group: acks are sent, unprocessed records handed back, the partitions reassigned. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.abort.abort();
    await this.flushAcks();
    const rpc = this.rpc;
    const member = this.member;
    if (!rpc || !member) return;
    const unprocessed = new Map<string, OffsetList>();
    for (const r of this.buffer) {
      const key = `${r.topic}/${r.partition}`;
      if (!unprocessed.has(key)) unprocessed.set(key, { topic: r.topic, partition: r.partition, offsets: [] });
      unprocessed.get(key)!.offsets.push(r.offset);
    }
    this.buffer = [];
    if (unprocessed.size > 0) await rpc.call(LogMethod.groupRelease, encodeOffsetLists(this.name, member, [...unprocessed.values()])).catch(() => {});
    await rpc.call(LogMethod.groupLeave, encodeJson({ group: this.name, member }), 5000).catch(() => {});
  }
}
