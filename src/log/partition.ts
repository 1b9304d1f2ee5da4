import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { PartitionLog, type Durability } from '../storage/partition-log.js';
import { FRAME_HEADER, RECORD_VERSION, writeU64 } from '../storage/record.js';
import { crc32c } from '../core/crc32c.js';
import type { ProduceRequest } from './protocol.js';
import { NO_LENGTH } from './protocol.js';

interface OffsetWaiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * One partition hosted on this node: its log, the high watermark (records below it are
 * committed and visible to consumers) and the long-poll waiters. On a single replica the high
 * watermark follows the log's end; with followers the replication layer moves it.
 */
export class Partition {
  highWatermark: number;
  /** Set by the replication layer; a partition with one replica leads itself. */
  role: 'leader' | 'follower' = 'leader';
  epoch = 0;
  /** Called when the log grew (replication wakes followers' fetches, groups wake members). */
  readonly appendListeners = new Set<() => void>();
  private readonly hwWaiters: OffsetWaiter[] = [];
  private readonly readers = new Set<() => void>();
  /** With replicas: recompute the high watermark after an append (set by replication). */
  replicated: ((partition: Partition) => void) | null = null;
  /** Refuse replicated produce when fewer replicas than this are in sync (set by replication). */
  enoughReplicas: () => boolean = () => true;
  closed = false;

  constructor(
    readonly topic: string,
    readonly index: number,
    readonly log: PartitionLog,
  ) {
    this.highWatermark = log.endOffset;
    log.onDurable = () => this.wakeReaders();
  }

  private wakeReaders(): void {
    if (this.readers.size === 0) return;
    const readers = [...this.readers];
    this.readers.clear();
    for (const r of readers) r();
  }

  /** Where reads stop: the high watermark, or with durableOnly also the end of what is on disk. */
  visibleEnd(durableOnly: boolean): number {
    return durableOnly ? Math.min(this.highWatermark, this.log.durableOffset) : this.highWatermark;
  }

  get endOffset(): number {
    return this.log.endOffset;
  }

  /**
   * Encode produced records as storage frames with the next offsets and append them; resolves
   * with the base offset once the durability asked for is reached.
   */
  produce(req: ProduceRequest, nowMs: number): Promise<number> {
    if (this.role !== 'leader') return Promise.reject(new RpcError(RpcCode.notLeader, `not the leader of ${this.topic}/${this.index}`));
    if (req.durability === 'replicated' && !this.enoughReplicas()) {
      return Promise.reject(new RpcError(RpcCode.tryLater, `${this.topic}/${this.index}: not enough replicas in sync for a replicated write`));
    }
    const base = this.log.endOffset;
    const frames = encodeProduced(req, base, nowMs);
    const durability: Durability = req.durability === 'none' ? 'none' : 'fsync';
    let appended: Promise<unknown>;
    try {
      appended = this.log.appendFrames(frames, durability);
    } catch (err) {
      return Promise.reject(storageError(this, err));
    }
    this.afterAppend();
    const last = base + req.count;
    const durable = appended.then(
      () => base,
      (err: unknown) => Promise.reject(storageError(this, err)),
    );
    if (req.durability !== 'replicated' || this.replicated === null) return durable;
    return durable
      .then(() => this.waitForHighWatermark(last))
      .then(() => {
        // The ISR may have shrunk while waiting: the write is committed, but on fewer copies than asked.
        if (!this.enoughReplicas()) throw new RpcError(RpcCode.tryLater, `${this.topic}/${this.index}: written, but the in-sync replicas fell below the minimum before it was replicated`);
        return base;
      });
  }

  /** After frames were appended (by a produce, or by a follower copying its leader). */
  afterAppend(): void {
    if (this.replicated) this.replicated(this);
    else this.advanceHighWatermark(this.log.endOffset);
    for (const l of this.appendListeners) l();
  }

  advanceHighWatermark(hw: number): void {
    if (hw <= this.highWatermark) return;
    this.highWatermark = hw;
    if (this.hwWaiters.length > 0) {
      for (let i = this.hwWaiters.length - 1; i >= 0; i--) {
        const w = this.hwWaiters[i];
        if (w.upTo <= hw) {
          this.hwWaiters.splice(i, 1);
          w.resolve();
        }
      }
    }
    if (this.readers.size > 0) {
      const readers = [...this.readers];
      this.readers.clear();
      for (const r of readers) r();
    }
  }

  waitForHighWatermark(upTo: number): Promise<void> {
    if (this.highWatermark >= upTo) return Promise.resolve();
    return new Promise((resolve, reject) => this.hwWaiters.push({ upTo, resolve, reject }));
  }

  /** Fail every replicated write still waiting (leadership lost, or the partition closing). */
  failWaiters(err: Error): void {
    const waiters = this.hwWaiters.splice(0);
    for (const w of waiters) w.reject(err);
    const readers = [...this.readers];
    this.readers.clear();
    for (const r of readers) r();
  }

  /**
   * Committed frames from `offset` (up to maxBytes, at least one whole frame), waiting up to
   * maxWaitMs for one to be committed when there is none yet.
   */
  async fetch(offset: number, maxBytes: number, maxWaitMs: number, durableOnly = false): Promise<{ frames: Buffer; next: number }> {
    if (offset > this.log.endOffset) {
      throw new RpcError(RpcCode.invalid, `offset ${offset} is past the end of ${this.topic}/${this.index} (${this.log.endOffset})`);
    }
    if (durableOnly && this.highWatermark > this.log.durableOffset) this.log.requestSync();
    // A durable reader woken by an append that is not on disk yet waits on (for the fdatasync).
    const deadline = Date.now() + maxWaitMs;
    for (let first = true; offset >= this.visibleEnd(durableOnly) && !this.closed && (first || durableOnly); first = false) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.readers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.readers.add(wake);
      });
    }
    return this.readCommitted(offset, maxBytes, this.visibleEnd(durableOnly));
  }

  readCommitted(offset: number, maxBytes: number, limit = this.highWatermark): { frames: Buffer; next: number } {
    const start = Math.max(offset, this.log.startOffset);
    if (start >= limit) return { frames: Buffer.alloc(0), next: start };
    const got = this.log.read(start, maxBytes);
    if (got.next <= limit) return { frames: got.bytes, next: got.next };
    // Cut the frames at the limit (uncommitted records stay invisible).
    let pos = 0;
    let next = start;
    while (pos < got.bytes.length) {
      const off = got.bytes.readUInt32LE(pos + 12) + got.bytes.readUInt32LE(pos + 16) * 2 ** 32;
      if (off >= limit) break;
      pos += got.bytes.readUInt32LE(pos) + 4;
      next = off + 1;
    }
    return { frames: got.bytes.subarray(0, pos), next };
  }

  close(): void {
    this.closed = true;
    this.failWaiters(new RpcError(RpcCode.closed, `${this.topic}/${this.index} closed`));
    this.log.close();
  }
}

function storageError(p: Partition, err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  const e = err as NodeJS.ErrnoException;
  const what = e.code === 'ENOSPC' ? 'disk full' : e.code === 'EDQUOT' ? 'disk quota exceeded' : (e.message ?? String(err));
  return new RpcError(RpcCode.storage, `${p.topic}/${p.index}: cannot write to the log: ${what}`);
}

/** Turn a produce request's records into storage frames with offsets base, base+1, ... */
export function encodeProduced(req: ProduceRequest, base: number, nowMs: number): Buffer {
  const src = req.records;
  const out = Buffer.allocUnsafe(req.frameBytes);
  let s = 0;
  let d = 0;
  for (let i = 0; i < req.count; i++) {
    const tsLo = src.readUInt32LE(s);
    const tsHi = src.readUInt32LE(s + 4);
    const ts = tsLo + tsHi * 2 ** 32;
    s += 8;
    const k = src.readUInt32LE(s);
    s += 4;
    const kStart = s;
    if (k !== NO_LENGTH) s += k;
    const v = src.readUInt32LE(s);
    s += 4;
    const vStart = s;
    if (v !== NO_LENGTH) s += v;
    const keyBytes = k === NO_LENGTH ? 0 : k;
    const valueBytes = v === NO_LENGTH ? 0 : v;
    const size = FRAME_HEADER + keyBytes + valueBytes;
    out.writeUInt32LE(size - 4, d);
    out[d + 8] = RECORD_VERSION;
    out[d + 9] = v === NO_LENGTH ? 1 : 0;
    out.writeUInt16LE(0, d + 10);
    writeU64(out, d + 12, base + i);
    writeU64(out, d + 20, ts === 0 ? nowMs : ts);
    out.writeUInt32LE(k, d + 28);
    if (keyBytes) src.copy(out, d + FRAME_HEADER, kStart, kStart + keyBytes);
    if (valueBytes) src.copy(out, d + FRAME_HEADER + keyBytes, vStart, vStart + valueBytes);
    out.writeUInt32LE(crc32c(out, d + 8, d + size), d + 4);
    d += size;
  }
  return out;
}
