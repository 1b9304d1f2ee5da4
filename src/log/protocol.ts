import { BufferReader, BufferWriter, DecodeError } from '../core/bytes.js';
import { FRAME_HEADER } from '../storage/record.js';

/**
 * The log service's methods over the internal RPC (docs/log.md, "Protocol"). Hot paths (produce,
 * fetch, group fetch and ack) are binary; control requests carry JSON.
 */
export const LogMethod = {
  metadata: 0x100,
  createTopic: 0x101,
  produce: 0x102,
  fetch: 0x103,
  listOffsets: 0x104,
  deleteTopic: 0x105,
  groupJoin: 0x110,
  groupFetch: 0x111,
  groupAck: 0x112,
  groupRelease: 0x113,
  groupLeave: 0x114,
  groupHeartbeat: 0x115,
  replicaFetch: 0x120,
} as const;

export const DURABILITY = ['none', 'fsync', 'replicated'] as const;
export type ProduceDurability = (typeof DURABILITY)[number];

export const EARLIEST = -2;
export const LATEST = -1;

export const NO_LENGTH = 0xffffffff;

// ---- produce ----

export interface ProduceRequest {
  topic: string;
  partition: number;
  durability: ProduceDurability;
  count: number;
  /** The records, still encoded: per record u64 timestamp, u32 keyLength, key, u32 valueLength, value. */
  records: Buffer;
  /** Bytes the records take as storage frames. */
  frameBytes: number;
  /** The largest record's frame. */
  largestFrame: number;
}

/** Encodes produced records one by one into a growing batch (the producer's side). */
export class ProduceBatch {
  readonly writer = new BufferWriter(4096);
  count = 0;
  /** The largest record, as a storage frame. */
  largestFrame = 0;

  add(value: Buffer | null, key: Buffer | null, timestamp: number): void {
    const start = this.writer.pos;
    this.writer.u64(timestamp).bytes(key).bytes(value);
    // A record takes 16 bytes here (timestamp and two lengths) and 32 + key + value as a frame.
    this.largestFrame = Math.max(this.largestFrame, this.writer.pos - start + 16);
    this.count++;
  }

  get bytes(): number {
    return this.writer.pos;
  }
}

export const encodeProduceHead = (topic: string, partition: number, durability: ProduceDurability, count: number): Buffer =>
  new BufferWriter(64).str(topic).u32(partition).u8(DURABILITY.indexOf(durability)).u32(count).view();

export function encodeProduce(topic: string, partition: number, durability: ProduceDurability, batch: ProduceBatch): Buffer[] {
  return [encodeProduceHead(topic, partition, durability, batch.count), batch.writer.view()];
}

/** A produce request straight from a batch built in this process (no encoding and decoding). */
export function batchRequest(topic: string, partition: number, durability: ProduceDurability, batch: ProduceBatch): ProduceRequest {
  return { topic, partition, durability, count: batch.count, records: batch.writer.view(), frameBytes: batch.bytes + 16 * batch.count, largestFrame: batch.largestFrame };
}

export function decodeProduce(payload: Buffer): ProduceRequest {
  const r = new BufferReader(payload);
  const topic = r.str('topic');
  const partition = r.u32('partition');
  const d = r.u8('durability');
  if (d >= DURABILITY.length) throw new DecodeError(`durability ${d} is not 0 (none), 1 (fsync) or 2 (replicated)`);
  const count = r.u32('record count');
  if (count === 0) throw new DecodeError('a produce request needs at least one record');
  const start = r.pos;
  let frameBytes = 0;
  let largestFrame = 0;
  for (let i = 0; i < count; i++) {
    r.u64('timestamp');
    const k = r.u32('key length');
    if (k !== NO_LENGTH) r.raw(k, 'key');
    const v = r.u32('value length');
    if (v !== NO_LENGTH) r.raw(v, 'value');
    const size = FRAME_HEADER + (k === NO_LENGTH ? 0 : k) + (v === NO_LENGTH ? 0 : v);
    frameBytes += size;
    if (size > largestFrame) largestFrame = size;
  }
  r.done('records');
  return { topic, partition, durability: DURABILITY[d], count, records: payload.subarray(start), frameBytes, largestFrame };
}

export const encodeProduceReply = (baseOffset: number): Buffer => new BufferWriter(8).u64(baseOffset).view();
export const decodeProduceReply = (payload: Buffer): number => new BufferReader(payload).u64('base offset');

// ---- fetch ----

export interface FetchRequest {
  topic: string;
  partition: number;
  offset: number;
  maxBytes: number;
  maxWaitMs: number;
  /** Only records already on the leader's disk (fdatasync done), which no crash can take back. */
  durableOnly?: boolean;
}

const FETCH_DURABLE_ONLY = 1;

/** The flags byte is optional (a request without it reads everything committed). */
export function encodeFetch(f: FetchRequest): Buffer {
  const w = new BufferWriter(64).str(f.topic).u32(f.partition).u64(f.offset).u32(f.maxBytes).u32(f.maxWaitMs);
  if (f.durableOnly) w.u8(FETCH_DURABLE_ONLY);
  return w.view();
}

export function decodeFetch(payload: Buffer): FetchRequest {
  const r = new BufferReader(payload);
  const f: FetchRequest = { topic: r.str('topic'), partition: r.u32('partition'), offset: r.u64('offset'), maxBytes: r.u32('max bytes'), maxWaitMs: r.u32('max wait') };
  if (r.remaining > 0) {
    const flags = r.u8('fetch flags');
    if (flags & ~FETCH_DURABLE_ONLY) throw new DecodeError(`unknown fetch flags ${flags}`);
    f.durableOnly = flags === FETCH_DURABLE_ONLY;
  }
  r.done('fetch request');
  return f;
}

export interface FetchReply {
  /** Records below this offset are committed (visible to consumers). */
  highWatermark: number;
  startOffset: number;
  /** Offset to fetch next (past the frames returned, or the request's offset when none). */
  next: number;
  /** Storage frames, back to back. */
  frames: Buffer;
}

export const encodeFetchReply = (f: FetchReply): Buffer[] => [new BufferWriter(24).u64(f.highWatermark).u64(f.startOffset).u64(f.next).view(), f.frames];

export function decodeFetchReply(payload: Buffer): FetchReply {
  const r = new BufferReader(payload);
  return { highWatermark: r.u64(), startOffset: r.u64(), next: r.u64(), frames: payload.subarray(r.pos) };
}

// ---- list offsets ----

export const encodeListOffsets = (topic: string, partition: number, spec: number): Buffer => new BufferWriter(32).str(topic).u32(partition).i64(spec).view();

export function decodeListOffsets(payload: Buffer): { topic: string; partition: number; spec: number } {
  const r = new BufferReader(payload);
  const v = { topic: r.str('topic'), partition: r.u32('partition'), spec: r.i64('spec') };
  r.done('list offsets request');
  return v;
}

// ---- groups ----

export interface GroupFetchRequest {
  group: string;
  member: string;
  maxRecords: number;
  maxBytes: number;
  maxWaitMs: number;
}

export const encodeGroupFetch = (g: GroupFetchRequest): Buffer =>
  new BufferWriter(64).str(g.group).str(g.member).u32(g.maxRecords).u32(g.maxBytes).u32(g.maxWaitMs).view();

export function decodeGroupFetch(payload: Buffer): GroupFetchRequest {
  const r = new BufferReader(payload);
  const g = { group: r.str('group'), member: r.str('member'), maxRecords: r.u32('max records'), maxBytes: r.u32('max bytes'), maxWaitMs: r.u32('max wait') };
  r.done('group fetch request');
  return g;
}

export interface PartitionChunk {
  topic: string;
  partition: number;
  frames: Buffer;
}

export function encodeChunks(chunks: PartitionChunk[]): Buffer[] {
  const parts: Buffer[] = [new BufferWriter(4).u32(chunks.length).view()];
  for (const c of chunks) {
    parts.push(new BufferWriter(32).str(c.topic).u32(c.partition).u32(c.frames.length).view(), c.frames);
  }
  return parts;
}

export function decodeChunks(payload: Buffer): PartitionChunk[] {
  const r = new BufferReader(payload);
  const n = r.u32('chunk count');
  const out: PartitionChunk[] = [];
  for (let i = 0; i < n; i++) {
    const topic = r.str('topic');
    const partition = r.u32('partition');
    out.push({ topic, partition, frames: r.raw(r.u32('length'), 'frames') });
  }
  return out;
}

/** Acks and releases: offsets grouped by partition. */
export interface OffsetList {
  topic: string;
  partition: number;
  offsets: number[];
}

export function encodeOffsetLists(group: string, member: string, lists: OffsetList[]): Buffer {
  const w = new BufferWriter(64).str(group).str(member).u32(lists.length);
  for (const l of lists) {
    w.str(l.topic).u32(l.partition).u32(l.offsets.length);
    for (const o of l.offsets) w.u64(o);
  }
  return w.view();
}

export function decodeOffsetLists(payload: Buffer): { group: string; member: string; lists: OffsetList[] } {
  const r = new BufferReader(payload);
  const group = r.str('group');
  const member = r.str('member');
  const n = r.u32('partition count');
  const lists: OffsetList[] = [];
  for (let i = 0; i < n; i++) {
    const topic = r.str('topic');
    const partition = r.u32('partition');
    const count = r.u32('offset count');
    if (count * 8 > r.remaining) throw new DecodeError('offset count larger than the payload');
    const offsets = new Array<number>(count);
    for (let j = 0; j < count; j++) offsets[j] = r.u64('offset');
    lists.push({ topic, partition, offsets });
  }
  r.done('offset lists');
  return { group, member, lists };
}

// ---- replication ----

export interface ReplicaFetchRequest {
  topic: string;
  partition: number;
  /** The follower's node id and leader epoch it follows. */
  follower: string;
  epoch: number;
  offset: number;
  maxBytes: number;
  maxWaitMs: number;
}

export const encodeReplicaFetch = (f: ReplicaFetchRequest): Buffer =>
  new BufferWriter(64).str(f.topic).u32(f.partition).str(f.follower).u32(f.epoch).u64(f.offset).u32(f.maxBytes).u32(f.maxWaitMs).view();

export function decodeReplicaFetch(payload: Buffer): ReplicaFetchRequest {
  const r = new BufferReader(payload);
  const f = {
    topic: r.str('topic'),
    partition: r.u32('partition'),
    follower: r.str('follower'),
    epoch: r.u32('epoch'),
    offset: r.u64('offset'),
    maxBytes: r.u32('max bytes'),
    maxWaitMs: r.u32('max wait'),
  };
  r.done('replica fetch request');
  return f;
}

// ---- JSON control messages ----

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeJson<T>(payload: Buffer, what: string): T {
  try {
    const v = JSON.parse(strictUtf8.decode(payload)) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as T;
  } catch (err) {
    throw new DecodeError(`${what}: not a JSON object (${(err as Error).message})`);
  }
}

export const encodeJson = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
