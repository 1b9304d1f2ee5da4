import { mkdirSync, readdirSync, fdatasync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { assert } from '../core/errors.js';
import { Segment } from './segment.js';
import { encodeFrame, frameSize, frames, frameOffset, type RecordInput } from './record.js';
import { removeUnfinishedCompaction } from './compaction.js';

export interface PartitionLogOptions {
  /** A segment is sealed and a new one started past this size (at most 2 GiB). */
  segmentBytes: number;
  /** One sparse index entry per this many bytes of records. */
  indexIntervalBytes: number;
  /** Delete the oldest sealed segments while the log is larger than this (0: no limit). */
  retentionBytes: number;
  /** Delete sealed segments whose newest record is older than this (0: no limit). */
  retentionMs: number;
  clock: Clock;
  log: Logger;
}

export const DEFAULT_PARTITION_OPTIONS = { segmentBytes: 64 * 1024 * 1024, indexIntervalBytes: 4096, retentionBytes: 0, retentionMs: 0 };

/** What `append` waits for before it resolves. */
export type Durability = 'none' | 'fsync';

export interface AppendResult {
  baseOffset: number;
  /** Offset of the last record appended. */
  lastOffset: number;
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * One partition: an append-only log of segment files in a directory. Appends are written at
 * once (in call order) and fsynced in groups: every `fsync` append waiting when a sync starts is
 * covered by it, so many producers share one fdatasync (group commit). On open, the newest
 * segment is checked frame by frame and cut back to its last intact record.
 */
export class PartitionLog {
  private segments: Segment[] = [];
  private waiters: Waiter[] = [];
  private syncing = false;
  /** The segment an fdatasync is running on: retention leaves it alone until it is done. */
  private syncingSegment: Segment | null = null;
  /** Records below this offset are on disk (fdatasync done). */
  durableOffset: number;
  /** Called after durableOffset moves forward (readers waiting for durable records). */
  onDurable: (() => void) | null = null;
  /** Compaction's progress (src/storage/compaction.ts): records below `cleanOffset` were compacted; truncation pulls it back. */
  readonly compaction = { cleanOffset: 0, nextTombstoneDueMs: 0 };

  private constructor(
    readonly dir: string,
    private readonly opts: PartitionLogOptions,
  ) {
    this.durableOffset = 0;
  }

  static open(dir: string, opts: PartitionLogOptions): PartitionLog {
    assert(opts.segmentBytes > 0 && opts.segmentBytes <= 2 ** 31, 'segmentBytes within (0, 2 GiB]');
    mkdirSync(dir, { recursive: true });
    const log = new PartitionLog(dir, opts);
    const unfinished = removeUnfinishedCompaction(dir);
    if (unfinished.length > 0) opts.log.warn('log: removed the files of an unfinished compaction', { dir, files: unfinished });
    const bases = readdirSync(dir)
      .filter((f) => /^\d{20}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    for (const base of bases) {
      const { segment, cut } = Segment.open(dir, base, opts.indexIntervalBytes);
      if (cut > 0) opts.log.warn('log segment: cut a torn or corrupt tail', { file: segment.file, bytes: cut });
      const prev = log.segments[log.segments.length - 1];
      if (prev && prev.nextOffset !== base) {
        // A gap or overlap (a crash between sealing and rolling cannot make one; a damaged
        // directory can): keep what is contiguous and refuse to go on silently.
        opts.log.error('log segment does not follow the previous one', { file: segment.file, expected: prev.nextOffset, base });
        throw new Error(`partition log ${dir}: segment ${base} does not follow offset ${prev.nextOffset}`);
      }
      log.segments.push(segment);
    }
    if (log.segments.length === 0) log.segments.push(Segment.create(dir, 0, opts.indexIntervalBytes));
    log.durableOffset = log.endOffset;
    return log;
  }

  /** The first offset still kept. */
  get startOffset(): number {
    return this.segments[0].baseOffset;
  }

  /** The offset the next record gets. */
  get endOffset(): number {
    return this.active.nextOffset;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /**
   * Append records (offsets are assigned here, in order). With 'fsync' the promise resolves once
   * they are on disk; with 'none', once they are written (readable, in the page cache).
   */
  append(records: RecordInput[], durability: Durability = 'fsync'): Promise<AppendResult> {
    assert(records.length > 0, 'append needs at least one record');
    const now = this.opts.clock.nowMs();
    let total = 0;
    for (const r of records) total += frameSize(r);
    const base = this.endOffset;
    const bytes = Buffer.allocUnsafe(total);
    let pos = 0;
    for (let i = 0; i < records.length; i++) pos = encodeFrame(bytes, pos, records[i], base + i, records[i].timestamp ?? now);
    return this.appendFrames(bytes, durability);
  }

  /**
   * Append whole frames encoded by the caller, whose offsets start at or after endOffset and
   * grow (a broker encoding produced records, or a follower copying its leader's frames).
   */
  appendFrames(bytes: Buffer, durability: Durability = 'fsync'): Promise<AppendResult> {
    assert(bytes.length >= 32, 'appendFrames needs at least one frame');
    const first = frameOffset(bytes, 0);
    assert(first >= this.endOffset, 'appended offsets grow');
    if (this.active.size > 0 && this.active.size + bytes.length > this.opts.segmentBytes) this.roll();
    this.active.append(bytes);
    const result = { baseOffset: first, lastOffset: this.endOffset - 1 };
    if (durability === 'none') return Promise.resolve(result);
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo: this.endOffset, resolve: () => resolve(result), reject });
      if (!this.syncing) this.syncLoop();
    });
  }

  /**
   * Drop every record at or after `offset` (a follower cutting a tail its leader does not have).
   * Whole segments past it are deleted; the one holding it is cut.
   */
  truncateTo(offset: number): void {
    if (offset >= this.endOffset) return;
    while (this.segments.length > 1 && this.active.baseOffset >= offset) {
      this.active.remove();
      this.segments.pop();
    }
    this.active.truncateTo(offset);
    if (this.durableOffset > this.endOffset) this.durableOffset = this.endOffset;
    this.compaction.cleanOffset = Math.min(this.compaction.cleanOffset, this.endOffset);
  }

  /** Delete everything and start empty at `offset` (a follower far behind a leader whose start moved past it). */
  resetTo(offset: number): void {
    for (const s of this.segments) s.remove();
    this.segments = [Segment.create(this.dir, offset, this.opts.indexIntervalBytes)];
    this.durableOffset = offset;
    this.compaction.cleanOffset = offset;
  }

  /** Make what is written so far durable soon, without anyone waiting (a reader of durable records asks). */
  requestSync(): void {
    if (this.durableOffset >= this.endOffset) return;
    this.waiters.push({ upTo: this.endOffset, resolve: () => {}, reject: () => {} });
    if (!this.syncing) this.syncLoop();
  }

  /** One fdatasync for every append written before it started; repeat while appends wait. */
  private syncLoop(): void {
    if (this.waiters.length === 0) {
      this.syncing = false;
      return;
    }
    this.syncing = true;
    const upTo = this.endOffset;
    const segment = this.active;
    this.syncingSegment = segment;
    fdatasync(segment.fd, (err) => {
      this.syncingSegment = null;
      if (err) {
        const failed = this.waiters.filter((w) => w.upTo <= upTo);
        this.waiters = this.waiters.filter((w) => w.upTo > upTo);
        for (const w of failed) w.reject(err);
      } else {
        if (upTo > this.durableOffset) {
          this.durableOffset = upTo;
          this.onDurable?.();
        }
        const done = this.waiters.filter((w) => w.upTo <= upTo);
        this.waiters = this.waiters.filter((w) => w.upTo > upTo);
        for (const w of done) w.resolve();
      }
      this.syncLoop();
    });
  }

  /** Seal the active segment (fsync + index files) and start a new one. */
  private roll(): void {
    const old = this.active;
    old.seal();
    if (old.nextOffset > this.durableOffset) {
      this.durableOffset = old.nextOffset;
      this.onDurable?.();
    }
    // The new segment starts where the old one ends, even if the next frame's offset is past
    // that (gaps left by compaction): the open check that segments follow one another holds.
    this.segments.push(Segment.create(this.dir, old.nextOffset, this.opts.indexIntervalBytes));
    this.applyRetention();
  }

  /**
   * Up to `maxBytes` of whole record frames starting at `offset` (at least one frame if there is
   * one, however large); `next` is the offset after the last frame returned. An offset below
   * startOffset is read from startOffset.
   */
  read(offset: number, maxBytes: number): { bytes: Buffer; next: number } {
    offset = Math.max(offset, this.startOffset);
    let i = this.segments.length - 1;
    while (i > 0 && this.segments[i].baseOffset > offset) i--;
    for (; i < this.segments.length; i++) {
      const seg = this.segments[i];
      if (offset >= seg.nextOffset) continue;
      const position = seg.positionFor(offset);
      // Skip the frames before `offset` (at most one index interval), then take whole frames.
      const window = seg.read(position, Math.max(maxBytes, this.opts.indexIntervalBytes) + this.opts.indexIntervalBytes);
      let start = -1;
      let end = 0;
      let next = offset;
      for (const f of frames(window)) {
        const o = frameOffset(window, f.pos);
        if (o < offset) continue;
        if (start === -1) start = f.pos;
        else if (f.pos + f.size - start > maxBytes) break;
        end = f.pos + f.size;
        next = o + 1;
      }
      if (start === -1) return this.readLarge(seg, position, offset);
      return { bytes: window.subarray(start, end), next };
    }
    return { bytes: Buffer.alloc(0), next: offset };
  }

  /** The window held no whole frame at or after `offset` (large frames): walk frame by frame. */
  private readLarge(seg: Segment, position: number, offset: number): { bytes: Buffer; next: number } {
    while (position < seg.size) {
      const header = seg.read(position, 4);
      if (header.length < 4) break;
      const whole = seg.read(position, header.readUInt32LE(0) + 4);
      const f = frames(whole).next();
      if (f.done) break;
      const o = frameOffset(whole, 0);
      if (o >= offset) return { bytes: whole.subarray(0, f.value.size), next: o + 1 };
      position += f.value.size;
    }
    return { bytes: Buffer.alloc(0), next: offset };
  }

  /** The first offset whose record's timestamp may be >= ts (endOffset if none). */
  offsetForTime(ts: number): number {
    for (const seg of this.segments) {
      const o = seg.offsetForTime(ts);
      if (o !== null) return o;
    }
    return this.endOffset;
  }

  /** Delete sealed segments beyond the size or age limits; returns how many. */
  applyRetention(): number {
    let removed = 0;
    const now = this.opts.clock.nowMs();
    const total = () => this.segments.reduce((n, s) => n + s.size, 0);
    while (this.segments.length > 1) {
      const oldest = this.segments[0];
      const tooBig = this.opts.retentionBytes > 0 && total() - oldest.size >= this.opts.retentionBytes;
      const tooOld = this.opts.retentionMs > 0 && oldest.maxTimestamp > 0 && now - oldest.maxTimestamp > this.opts.retentionMs;
      if ((!tooBig && !tooOld) || oldest === this.syncingSegment) break;
      oldest.remove();
      this.segments.shift();
      removed++;
    }
    return removed;
  }

  /**
   * The sealed segments compaction may rewrite, oldest first: every segment before the active
   * one, stopping at one an fdatasync is running on.
   */
  compactableSegments(): Segment[] {
    const syncing = this.syncingSegment === null ? -1 : this.segments.indexOf(this.syncingSegment);
    return this.segments.slice(0, syncing === -1 ? this.segments.length - 1 : Math.min(syncing, this.segments.length - 1));
  }

  /** Put a rewritten segment (same base and next offset) in place of `old`, and close `old`. */
  replaceSegment(old: Segment, rewritten: Segment): void {
    const i = this.segments.indexOf(old);
    assert(i >= 0 && i < this.segments.length - 1 && old !== this.syncingSegment, 'only a sealed segment no fdatasync runs on is replaced');
    assert(rewritten.baseOffset === old.baseOffset && rewritten.nextOffset === old.nextOffset, 'a rewritten segment keeps its offsets');
    this.segments[i] = rewritten;
    old.close();
  }

  close(): void {
    for (const s of this.segments) s.close();
  }
}
