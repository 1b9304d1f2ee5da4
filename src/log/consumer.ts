import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { checkFrame, decodeFrame } from '../storage/record.js';
import type { LogClient } from './client.js';
import { LogMethod, decodeFetchReply, encodeFetch } from './protocol.js';

export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: Buffer | null;
  /** null: a tombstone. */
  value: Buffer | null;
}

export interface ConsumeOptions {
  /** One partition; all of the topic's partitions (merged) when left out. */
  partition?: number;
  /** Where to start. Default 'latest' (only what is published from now on). */
  from?: 'earliest' | 'latest' | { offset: number } | { time: number };
  maxBytes?: number;
  /** How long one fetch waits on the broker for new records. */
  maxWaitMs?: number;
  /** Only records on the leader's disk already: none that a crash of the log could take back. */
  durableOnly?: boolean;
  signal?: AbortSignal;
}

/** Records from a position on; the iterator ends only when `signal` aborts. */
export function consume(client: LogClient, topic: string, opts: ConsumeOptions): AsyncIterable<LogRecord> {
  if (opts.partition !== undefined) return partitionRecords(client, topic, opts.partition, opts);
  return {
    async *[Symbol.asyncIterator]() {
      const n = await client.partitionsOf(topic);
      yield* merge([...Array(n).keys()].map((p) => partitionRecords(client, topic, p, opts)[Symbol.asyncIterator]()));
    },
  };
}

async function startOffset(client: LogClient, topic: string, partition: number, from: ConsumeOptions['from']): Promise<number> {
  if (from && typeof from === 'object' && 'offset' in from) return from.offset;
  return client.offsetOf(topic, partition, from ?? 'latest');
}

function partitionRecords(client: LogClient, topic: string, partition: number, opts: ConsumeOptions): AsyncIterable<LogRecord> {
  return {
    async *[Symbol.asyncIterator]() {
      let offset = await startOffset(client, topic, partition, opts.from);
      const maxBytes = opts.maxBytes ?? 1024 * 1024;
      const maxWaitMs = opts.maxWaitMs ?? 1000;
      while (!opts.signal?.aborted) {
        const payload = await client.withRetry(
          async () => (await client.leaderConnection(topic, partition)).call(LogMethod.fetch, encodeFetch({ topic, partition, offset, maxBytes, maxWaitMs, durableOnly: opts.durableOnly ?? false }), maxWaitMs + 30_000),
          opts.signal,
        );
        const reply = decodeFetchReply(payload);
        const buf = reply.frames;
        let pos = 0;
        while (pos < buf.length) {
          const size = checkFrame(buf, pos, buf.length);
          if (size === 0) throw new RpcError(RpcCode.badFrame, `${topic}/${partition}: a record failed its checksum at offset ${offset}`);
          const r = decodeFrame(buf, pos, size);
          pos += size;
          if (r.offset < offset) continue;
          offset = r.offset + 1;
          yield { topic, partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value };
          if (opts.signal?.aborted) return;
        }
        if (reply.next > offset) offset = reply.next;
      }
    },
  };
}

/** Interleave several iterators, taking each record as soon as any source has one. */
async function* merge<T>(its: Array<AsyncIterator<T>>): AsyncGenerator<T> {
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const pull = (i: number) => pending.set(i, its[i].next().then((r) => ({ i, r })));
  its.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pull(i);
      yield r.value;
    }
  } finally {
    // Nobody awaits the pulls still running (they fail when the client closes): keep them quiet.
    for (const p of pending.values()) p.catch(() => {});
    for (const it of its) it.return?.().catch(() => {});
  }
}
