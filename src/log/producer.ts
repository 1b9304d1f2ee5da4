import { crc32c } from '../core/crc32c.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { LogClient } from './client.js';
import { LogMethod, ProduceBatch, decodeProduceReply, encodeProduceHead, type ProduceDurability } from './protocol.js';

export interface ProducerOptions {
  /** What an acknowledgement waits for: written (none), fsynced on the leader, or replicated. Default fsync. */
  durability?: ProduceDurability;
  /** How long a batch waits for more records before it is sent (0: what arrived in the same tick). */
  lingerMs?: number;
  /** A batch is sent once it reaches this size. */
  maxBatchBytes?: number;
  /** Bytes of records waiting or unacknowledged; past it `publish` waits (backpressure). */
  maxBufferedBytes?: number;
  /** Requests one partition may have unacknowledged at once. With more than one, a retry after a failure can reorder. */
  maxInFlight?: number;
  /** A request not answered within this long fails (and is retried within the client's retryTimeoutMs). */
  requestTimeoutMs?: number;
}

export interface PublishOptions {
  key?: Buffer | string | null;
  partition?: number;
  timestamp?: number;
}

export interface PublishResult {
  partition: number;
  offset: number;
}

interface OpenBatch {
  topic: string;
  partition: number;
  batch: ProduceBatch;
  resolvers: Array<(r: PublishResult) => void>;
  rejecters: Array<(err: Error) => void>;
  timer: NodeJS.Timeout | null;
}

interface PartitionQueue {
  open: OpenBatch | null;
  ready: OpenBatch[];
  inFlight: number;
}

/**
 * A batching producer. Records for one partition published close together go in one request;
 * `publish` resolves when the request is acknowledged. The records buffered (waiting or in
 * flight) are bounded by maxBufferedBytes: past it, `publish` waits for room.
 */
export class Producer {
  private readonly durability: ProduceDurability;
  private readonly lingerMs: number;
  private readonly maxBatchBytes: number;
  private readonly maxBufferedBytes: number;
  private readonly maxInFlight: number;
  private readonly requestTimeoutMs: number;
  private readonly queues = new Map<string, PartitionQueue>();
  /** Publishes waiting for room, in order; `release` reserves each one's bytes before waking it. */
  private readonly roomWaiters: Array<{ size: number; resolve: () => void }> = [];
  private readonly sticky = new Map<string, number>();
  private buffered = 0;
  private inFlightTotal = 0;
  private readonly idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(
    private readonly client: LogClient,
    opts: ProducerOptions,
  ) {
    this.durability = opts.durability ?? 'fsync';
    this.lingerMs = opts.lingerMs ?? 0;
    this.maxBatchBytes = opts.maxBatchBytes ?? 256 * 1024;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 32 * 1024 * 1024;
    this.maxInFlight = opts.maxInFlight ?? 4;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  /** Bytes published and not yet acknowledged. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  publish(topic: string, value: Buffer | string | null, opts: PublishOptions = {}): Promise<PublishResult> {
    if (this.closed) return Promise.reject(new RpcError(RpcCode.closed, 'producer closed'));
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    const k = typeof opts.key === 'string' ? Buffer.from(opts.key) : (opts.key ?? null);
    const size = 16 + (v?.length ?? 0) + (k?.length ?? 0);
    // The common case runs without awaiting anything: room in the buffer, the topic known.
    const partitions = this.client.topic(topic)?.partitions;
    const full = this.roomWaiters.length > 0 || (this.buffered > 0 && this.buffered + size > this.maxBufferedBytes);
    if (full || (opts.partition === undefined && partitions === undefined)) return this.publishWhenReady(topic, v, k, size, opts);
    this.buffered += size;
    return this.enqueue(topic, opts.partition ?? this.pickPartition(topic, k, partitions!), v, k, opts.timestamp ?? 0);
  }

  /** Wait for room in the buffer and learn the topic's partitions, then enqueue. */
  private async publishWhenReady(topic: string, v: Buffer | null, k: Buffer | null, size: number, opts: PublishOptions): Promise<PublishResult> {
    if (this.roomWaiters.length > 0 || (this.buffered > 0 && this.buffered + size > this.maxBufferedBytes)) {
      // Behind the others already waiting (publishes keep their order); woken with room reserved.
      await new Promise<void>((resolve) => this.roomWaiters.push({ size, resolve }));
      if (this.closed) throw new RpcError(RpcCode.closed, 'producer closed');
    } else this.buffered += size;
    let partition: number;
    try {
      partition = opts.partition ?? this.pickPartition(topic, k, this.client.topic(topic)?.partitions ?? (await this.client.partitionsOf(topic)));
    } catch (err) {
      this.release(size);
      throw err;
    }
    return this.enqueue(topic, partition, v, k, opts.timestamp ?? 0);
  }

  private enqueue(topic: string, partition: number, v: Buffer | null, k: Buffer | null, timestamp: number): Promise<PublishResult> {
    const q = this.queue(topic, partition);
    if (!q.open) q.open = { topic, partition, batch: new ProduceBatch(), resolvers: [], rejecters: [], timer: null };
    const open = q.open;
    open.batch.add(v, k, timestamp);
    const result = new Promise<PublishResult>((resolve, reject) => {
      open.resolvers.push(resolve);
      open.rejecters.push(reject);
    });
    if (open.batch.bytes >= this.maxBatchBytes) this.seal(q);
    else if (!open.timer) {
      open.timer = this.lingerMs > 0 ? setTimeout(() => this.seal(q), this.lingerMs) : (setImmediate(() => this.seal(q)) as unknown as NodeJS.Timeout);
    }
    return result;
  }

  private pickPartition(topic: string, key: Buffer | null, n: number): number {
    if (key) return crc32c(key) % n;
    // Sticky: fill one partition's batch; the next batch goes to the next partition (bigger
    // batches than record-by-record round robin). `seal` moves it on.
    let cur = this.sticky.get(topic);
    if (cur === undefined || cur >= n) {
      cur = Math.floor(Math.random() * n);
      this.sticky.set(topic, cur);
    }
    return cur;
  }

  private queue(topic: string, partition: number): PartitionQueue {
    const key = `${topic}/${partition}`;
    let q = this.queues.get(key);
    if (!q) {
      q = { open: null, ready: [], inFlight: 0 };
      this.queues.set(key, q);
    }
    return q;
  }

  private seal(q: PartitionQueue): void {
    const open = q.open;
    if (!open) return;
    if (open.timer) {
      if (this.lingerMs > 0) clearTimeout(open.timer);
      else clearImmediate(open.timer as unknown as NodeJS.Immediate);
    }
    q.open = null;
    q.ready.push(open);
    const sticky = this.sticky.get(open.topic);
    if (sticky === open.partition) {
      const n = this.client.topic(open.topic)?.partitions ?? 1;
      this.sticky.set(open.topic, (sticky + 1) % n);
    }
    this.pump(q);
  }

  private pump(q: PartitionQueue): void {
    while (q.ready.length > 0 && q.inFlight < this.maxInFlight) {
      // Batches that queued up while requests were in flight go out together: under load the
      // requests grow instead of falling further behind.
      const group = [q.ready.shift()!];
      let bytes = group[0].batch.bytes;
      while (q.ready.length > 0 && bytes + q.ready[0].batch.bytes <= this.maxBatchBytes) {
        bytes += q.ready[0].batch.bytes;
        group.push(q.ready.shift()!);
      }
      q.inFlight++;
      this.inFlightTotal++;
      this.send(group).finally(() => {
        q.inFlight--;
        this.inFlightTotal--;
        this.pump(q);
        if (this.inFlightTotal === 0 && this.idle()) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private idle(): boolean {
    for (const q of this.queues.values()) if (q.open || q.ready.length > 0 || q.inFlight > 0) return false;
    return true;
  }

  private async send(group: OpenBatch[]): Promise<void> {
    const { topic, partition } = group[0];
    let count = 0;
    let bytes = 0;
    for (const b of group) {
      count += b.batch.count;
      bytes += b.batch.bytes;
    }
    const payload = [encodeProduceHead(topic, partition, this.durability, count), ...group.map((b) => b.batch.writer.view())];
    try {
      const reply = await this.client.withRetry(async () => (await this.client.leaderConnection(topic, partition)).call(LogMethod.produce, payload, this.requestTimeoutMs));
      let offset = decodeProduceReply(reply);
      for (const b of group) for (const resolve of b.resolvers) resolve({ partition, offset: offset++ });
    } catch (err) {
      for (const b of group) for (const reject of b.rejecters) reject(err as Error);
    } finally {
      // A record takes 16 bytes of framing plus its key and value in the batch: what publish counted.
      this.release(bytes);
    }
  }

  private release(bytes: number): void {
    this.buffered = Math.max(0, this.buffered - bytes);
    while (this.roomWaiters.length > 0 && (this.buffered === 0 || this.buffered + this.roomWaiters[0].size <= this.maxBufferedBytes)) {
      const w = this.roomWaiters.shift()!;
      this.buffered += w.size;
      w.resolve();
    }
  }

  /** Send what is waiting and resolve once everything published so far is acknowledged. */
  async flush(): Promise<void> {
    for (const q of this.queues.values()) this.seal(q);
    if (this.idle()) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const w of this.roomWaiters.splice(0)) w.resolve();
  }
}
