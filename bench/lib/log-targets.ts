/**
 * The systems of the log bench behind one interface, each driven by its best Node client with
 * batching: NATS JetStream through `nats` (acked publishes kept in flight, an ordered pull
 * consumer), Redis streams through `ioredis` (pipelines of XADD, XREAD COUNT batches), and Strata's
 * log through its own client (a batching producer that acks after fdatasync, a partition consumer).
 * Every target publishes on one connection and consumes on another.
 */
import { readFileSync } from 'node:fs';
import { connect, StorageType, RetentionPolicy, DiscardPolicy, type NatsConnection, type JetStreamClient, type JetStreamManager, type ConsumerMessages } from 'nats';
import { Redis } from 'ioredis';
import { REPO, redisInfo, type RunningPeer } from './log-peers.js';
import type { LogClient, Producer } from '../../src/log/client.js';

export type TargetId = 'strata' | 'nats' | 'redis';

export interface LogPublisher {
  /** Publish these values in order; resolves once every one is acknowledged (whatever an ack means for the system). */
  publish(values: Buffer[]): Promise<void>;
  close(): Promise<void>;
}

export interface LogConsumer {
  /** Stop reading and close the consumer's connection. */
  stop(): Promise<void>;
  /** Why the consumer stopped by itself, if it did. */
  failure(): string | undefined;
}

export interface LogTarget {
  readonly id: TargetId;
  /** Human name with versions, for tables. */
  readonly label: string;
  /** What an acknowledged publish means on disk, as configured here. */
  readonly durability: string;
  /** How the client is driven (batching, window), for the docs. */
  readonly driving: string;
  /** Values per publish() call: 1 for per-message promises, N for a pipeline of N. */
  readonly chunk: number;
  /** Values kept in flight by the closed-loop (peak) publisher: a multiple of chunk. */
  readonly window: number;
  readonly peer: RunningPeer;
  /** A new, empty topic/stream with one partition. */
  createTopic(name: string): Promise<void>;
  /** Drop a topic after use, where the system can (frees memory and disk between runs). */
  dropTopic(name: string): Promise<void>;
  publisher(topic: string): Promise<LogPublisher>;
  /** Read the topic from its first record, calling sink with each record's value, until stop(). */
  consume(topic: string, sink: (value: Buffer) => void): Promise<LogConsumer>;
  /** Records the system says the topic holds, or null if it cannot say. */
  stored(topic: string): Promise<number | null>;
  close(): Promise<void>;
}

export interface TargetOptions {
  /** Override the closed-loop window (values in flight). */
  window?: number;
  /** Override the chunk (values per publish call; Redis pipeline length). */
  chunk?: number;
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${REPO}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

const errText = (err: unknown) => String((err as Error)?.message ?? err);

// ---------------------------------------------------------------------------------------------
// NATS JetStream

const natsName = (topic: string) => topic.replace(/[^A-Za-z0-9_-]/g, '_').toUpperCase();

class NatsTarget implements LogTarget {
  readonly id = 'nats';
  readonly label: string;
  readonly durability =
    'ack once the message is in the stream\'s file store (its write buffer or the OS page cache), not synced; nats-server 2.9.10 fsyncs ' +
    'its file store on a 2-minute timer (JetStream\'s default `sync_interval`, configurable only from 2.10; strace on this machine: no fsync while ' +
    '17k 1 KB messages were published, then one 2 minutes later) — an OS crash or power loss can lose up to ~2 minutes of acknowledged messages';
  readonly driving: string;
  readonly chunk: number;
  readonly window: number;
  private nc!: NatsConnection;
  private js!: JetStreamClient;
  private jsm!: JetStreamManager;

  constructor(readonly peer: RunningPeer, serverVersion: string, o: TargetOptions) {
    this.chunk = 1;
    this.window = o.window ?? 100;
    this.label = `NATS JetStream (${serverVersion}, file storage; node nats ${pkgVersion('nats')})`;
    this.driving = `nats ${pkgVersion('nats')} with noAsyncTraces; js.publish() per message, ${this.window} acked publishes in flight; ordered consumer (pull, AckNone)`;
  }

  async open(): Promise<void> {
    this.nc = await connect({ servers: `127.0.0.1:${this.peer.port}`, noAsyncTraces: true, maxReconnectAttempts: 0 });
    this.js = this.nc.jetstream();
    this.jsm = await this.nc.jetstreamManager();
  }

  async createTopic(topic: string): Promise<void> {
    await this.jsm.streams.add({
      name: natsName(topic), subjects: [`log.${topic}`], storage: StorageType.File, retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old, num_replicas: 1, max_msgs: -1, max_bytes: -1, max_age: 0,
    });
  }

  async dropTopic(topic: string): Promise<void> {
    await this.jsm.streams.delete(natsName(topic));
  }

  async publisher(topic: string): Promise<LogPublisher> {
    const subject = `log.${topic}`;
    const js = this.js;
    return {
      publish: async (values) => {
        if (values.length === 1) {
          await js.publish(subject, values[0]);
          return;
        }
        await Promise.all(values.map((v) => js.publish(subject, v)));
      },
      close: async () => {},
    };
  }

  async consume(topic: string, sink: (value: Buffer) => void): Promise<LogConsumer> {
    // Its own connection, like the other targets' consumers.
    const nc = await connect({ servers: `127.0.0.1:${this.peer.port}`, noAsyncTraces: true, maxReconnectAttempts: 0 });
    const consumer = await nc.jetstream().consumers.get(natsName(topic)); // no name: an ordered consumer from the first message
    const messages: ConsumerMessages = await consumer.consume({ max_messages: 1000 });
    let failure: string | undefined;
    const loop = (async () => {
      try {
        for await (const m of messages) sink(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      } catch (err) {
        failure = `nats consumer: ${errText(err)}`;
      }
    })();
    return {
      failure: () => failure,
      stop: async () => {
        await messages.close().catch(() => undefined);
        await loop;
        await nc.close();
      },
    };
  }

  async stored(topic: string): Promise<number | null> {
    return (await this.jsm.streams.info(natsName(topic))).state.messages;
  }

  async close(): Promise<void> {
    await this.nc?.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Redis streams

type XReadReply = Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;

class RedisTarget implements LogTarget {
  readonly id = 'redis';
  readonly label: string;
  readonly durability =
    'ack once XADD is applied in memory and written (write(2), no fsync) to the append-only file; `appendfsync everysec` fdatasyncs the AOF ' +
    'from a background thread about once a second (strace: one fdatasync per second) — an OS crash or power loss can lose about the last 1–2 s ' +
    'of acknowledged messages';
  readonly driving: string;
  readonly chunk: number;
  readonly window: number;
  private pub!: Redis;
  private admin!: Redis;

  constructor(readonly peer: RunningPeer, serverVersion: string, o: TargetOptions) {
    this.chunk = o.chunk ?? 200;
    this.window = Math.max(this.chunk, o.window ?? this.chunk * 2);
    this.label = `Redis streams (${serverVersion}, AOF everysec; ioredis ${pkgVersion('ioredis')})`;
    this.driving = `ioredis ${pkgVersion('ioredis')}; pipelines of ${this.chunk} XADD, ${this.window / this.chunk} pipelines in flight; consumer XREAD COUNT 1000 BLOCK 100`;
  }

  private client(): Redis {
    return new Redis({ host: '127.0.0.1', port: this.peer.port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  }

  async open(): Promise<void> {
    this.pub = this.client();
    this.admin = this.client();
    await this.pub.connect();
    await this.admin.connect();
  }

  async createTopic(topic: string): Promise<void> {
    await this.admin.del(`log:${topic}`);
  }

  async dropTopic(topic: string): Promise<void> {
    await this.admin.del(`log:${topic}`);
  }

  async publisher(topic: string): Promise<LogPublisher> {
    const key = `log:${topic}`;
    const pub = this.pub;
    return {
      publish: async (values) => {
        const p = pub.pipeline();
        for (const v of values) p.xadd(key, '*', 'd', v);
        const res = await p.exec();
        if (!res) throw new Error('redis pipeline: no result');
        for (const [err] of res) if (err) throw err;
      },
      close: async () => {},
    };
  }

  async consume(topic: string, sink: (value: Buffer) => void): Promise<LogConsumer> {
    const key = `log:${topic}`;
    const sub = this.client();
    await sub.connect();
    let stopping = false;
    let failure: string | undefined;
    let last = '0-0';
    const loop = (async () => {
      try {
        while (!stopping) {
          const reply = (await sub.xreadBuffer('COUNT', 1000, 'BLOCK', 100, 'STREAMS', key, last)) as unknown as XReadReply;
          if (!reply) continue;
          const entries = reply[0][1];
          for (const [, fields] of entries) sink(fields[1]);
          last = entries[entries.length - 1][0].toString('latin1');
        }
      } catch (err) {
        if (!stopping) failure = `redis consumer: ${errText(err)}`;
      }
    })();
    return {
      failure: () => failure,
      stop: async () => {
        stopping = true;
        await loop;
        sub.disconnect();
      },
    };
  }

  async stored(topic: string): Promise<number | null> {
    return this.admin.xlen(`log:${topic}`);
  }

  /** AOF figures of the server (rewrites during the run change its cost). */
  async persistence(): Promise<Record<string, string>> {
    return redisInfo(this.peer.port, 'persistence');
  }

  async close(): Promise<void> {
    this.pub?.disconnect();
    this.admin?.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// Strata

class StrataTarget implements LogTarget {
  readonly id = 'strata';
  readonly label = 'Strata log (1 partition, durability fsync)';
  readonly durability = 'ack after the record batch is fdatasynced to the partition\'s segment file (group commit)';
  readonly driving: string;
  readonly chunk: number;
  readonly window: number;
  private Client!: typeof LogClient;
  private client!: LogClient;
  private producers: Producer[] = [];

  constructor(readonly peer: RunningPeer, o: TargetOptions) {
    this.chunk = 1;
    this.window = o.window ?? 2000;
    this.driving = `src/log/client.ts producer (durability fsync, lingerMs 0, maxBatchBytes 256 KiB, maxBufferedBytes 16 MiB), ${this.window} publishes in flight; client.consume() from earliest`;
  }

  async open(): Promise<void> {
    // Loaded here, not at the top: a Strata tree that does not build leaves the other systems' runs alone.
    this.Client = (await import('../../src/log/client.js')).LogClient;
    this.client = await this.Client.connect({ host: '127.0.0.1', port: this.peer.port });
  }

  async createTopic(topic: string): Promise<void> {
    await this.client.createTopic(topic, { partitions: 1 });
  }

  async dropTopic(topic: string): Promise<void> {
    await this.client.deleteTopic(topic);
  }

  async publisher(topic: string): Promise<LogPublisher> {
    const producer = this.client.producer({ durability: 'fsync', lingerMs: 0, maxBatchBytes: 256 * 1024, maxBufferedBytes: 16 * 1024 * 1024 });
    this.producers.push(producer);
    const opts = { partition: 0 };
    return {
      publish: async (values) => {
        if (values.length === 1) {
          await producer.publish(topic, values[0], opts);
          return;
        }
        await Promise.all(values.map((v) => producer.publish(topic, v, opts)));
      },
      close: async () => {
        await producer.flush();
        await producer.close();
        this.producers = this.producers.filter((p) => p !== producer);
      },
    };
  }

  async consume(topic: string, sink: (value: Buffer) => void): Promise<LogConsumer> {
    const client = await this.Client.connect({ host: '127.0.0.1', port: this.peer.port });
    const abort = new AbortController();
    let failure: string | undefined;
    const empty = Buffer.alloc(0);
    const loop = (async () => {
      try {
        for await (const r of client.consume(topic, { partition: 0, from: 'earliest', signal: abort.signal })) sink(r.value ?? empty);
      } catch (err) {
        if (!abort.signal.aborted) failure = `strata consumer: ${errText(err)}`;
      }
    })();
    return {
      failure: () => failure,
      stop: async () => {
        abort.abort();
        // A fetch waiting on the broker for new records ends when the connection closes.
        await client.close().catch(() => undefined);
        await Promise.race([loop, new Promise((r) => setTimeout(r, 2000))]);
      },
    };
  }

  async stored(): Promise<number | null> {
    return null;
  }

  async close(): Promise<void> {
    for (const p of this.producers) await p.close().catch(() => undefined);
    await this.client?.close().catch(() => undefined);
  }
}

/** Connect a target to its running server. */
export async function openTarget(peer: RunningPeer, serverVersion: string, o: TargetOptions = {}): Promise<LogTarget> {
  if (peer.kind === 'nats') {
    const t = new NatsTarget(peer, serverVersion, o);
    await t.open();
    return t;
  }
  if (peer.kind === 'redis') {
    const t = new RedisTarget(peer, serverVersion, o);
    await t.open();
    return t;
  }
  const t = new StrataTarget(peer, o);
  await t.open();
  return t;
}

export function isRedisTarget(t: LogTarget): t is RedisTarget {
  return t instanceof RedisTarget;
}
