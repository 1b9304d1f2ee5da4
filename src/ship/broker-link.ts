import { BufferReader } from '../core/bytes.js';
import { crc32c } from '../core/crc32c.js';
import { LogClient } from '../log/client.js';
import { LATEST, LogMethod, ProduceBatch, decodeFetchReply, decodeProduceReply, encodeFetch, encodeListOffsets, encodeProduce } from '../log/protocol.js';
import { checkFrame, decodeFrame, type DecodedRecord } from '../storage/record.js';

export interface BrokerLinkOptions {
  brokers: Array<{ host: string; port: number }>;
  /** How long one request keeps being retried (reconnects, leader changes) before it fails. */
  retryTimeoutMs: number;
  /** How long one attempt waits for its reply (a broker that hangs rather than dies). */
  requestTimeoutMs: number;
}

/** What a category needs of the log service (BrokerLink; tests give a fake). */
export interface Upstream {
  partitionFor(topic: string, key: Buffer | null): Promise<number>;
  endOffset(topic: string, partition: number, signal?: AbortSignal): Promise<number>;
  produce(topic: string, partition: number, key: Buffer | null, lines: Array<{ value: Buffer; timestamp: number }>, signal?: AbortSignal): Promise<number>;
  fetch(topic: string, partition: number, offset: number, maxBytes: number, signal?: AbortSignal): Promise<DecodedRecord[]>;
}

/**
 * What the shipper needs of the log service, over one LogClient made on first use (so the
 * shipper starts, and spools, while no broker is up). A batch of lines goes out as one produce
 * request, so it is stored whole or not at all and never reordered with the next one; this is
 * why the batching Producer (which may split a batch and have several in flight) is not used.
 */
export class BrokerLink implements Upstream {
  private client: LogClient | null = null;
  private connecting: Promise<LogClient> | null = null;
  private closed = false;

  constructor(private readonly opts: BrokerLinkOptions) {}

  private connected(): Promise<LogClient> {
    if (this.closed) return Promise.reject(new Error('broker link closed'));
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      this.connecting = LogClient.connect({ brokers: this.opts.brokers, retryTimeoutMs: this.opts.retryTimeoutMs })
        .then((c) => {
          if (this.closed) void c.close();
          else this.client = c;
          return c;
        })
        .finally(() => (this.connecting = null));
    }
    return this.connecting;
  }

  /** Make sure the topic exists; the partition a category's lines go to (one, to keep their order). */
  async partitionFor(topic: string, key: Buffer | null): Promise<number> {
    const client = await this.connected();
    let t = client.topic(topic);
    if (!t) {
      await client.refreshMetadata();
      t = client.topic(topic) ?? (await client.createTopic(topic));
    }
    return key ? crc32c(key) % t.partitions : 0;
  }

  /** The offset the next record of the partition gets. */
  async endOffset(topic: string, partition: number, signal?: AbortSignal): Promise<number> {
    const client = await this.connected();
    const reply = await client.withRetry(
      async () => (await client.leaderConnection(topic, partition)).call(LogMethod.listOffsets, encodeListOffsets(topic, partition, LATEST), this.opts.requestTimeoutMs),
      signal,
    );
    return new BufferReader(reply).u64();
  }

  /** Append the lines as one request with fsync durability; resolves with the first one's offset. */
  async produce(topic: string, partition: number, key: Buffer | null, lines: Array<{ value: Buffer; timestamp: number }>, signal?: AbortSignal): Promise<number> {
    const client = await this.connected();
    const batch = new ProduceBatch();
    for (const l of lines) batch.add(l.value, key, l.timestamp);
    const payload = encodeProduce(topic, partition, 'fsync', batch);
    const reply = await client.withRetry(async () => (await client.leaderConnection(topic, partition)).call(LogMethod.produce, payload, this.opts.requestTimeoutMs), signal);
    return decodeProduceReply(reply);
  }

  /** Committed records of the partition from `offset` on, up to about `maxBytes`, without waiting. */
  async fetch(topic: string, partition: number, offset: number, maxBytes: number, signal?: AbortSignal): Promise<DecodedRecord[]> {
    const client = await this.connected();
    const payload = await client.withRetry(
      async () =>
        (await client.leaderConnection(topic, partition)).call(LogMethod.fetch, encodeFetch({ topic, partition, offset, maxBytes, maxWaitMs: 0 }), this.opts.requestTimeoutMs),
      signal,
    );
    const frames = decodeFetchReply(payload).frames;
    const out: DecodedRecord[] = [];
    for (let pos = 0; pos < frames.length; ) {
      const size = checkFrame(frames, pos, frames.length);
      if (size === 0) break;
      const r = decodeFrame(frames, pos, size);
      if (r.offset >= offset) out.push(r);
      pos += size;
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.close();
    this.client = null;
  }
}
