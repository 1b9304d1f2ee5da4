import { fdatasyncSync, mkdirSync, readdirSync } from 'node:fs';
import type { Logger } from '../core/log.js';
import { Segment } from '../storage/segment.js';
import { FRAME_HEADER, checkFrame, decodeFrame, encodeFrame, frames } from '../storage/record.js';

/** One spooled line. */
export interface SpoolRecord {
  offset: number;
  timestamp: number;
  value: Buffer;
}

export interface SpoolLogOptions {
  /** A new segment is started once the active one would pass this size. */
  segmentBytes: number;
  log: Logger;
}

const INDEX_INTERVAL = 64 * 1024;

/** Bytes a line takes in the spool. */
export const spooledSize = (value: Buffer): number => FRAME_HEADER + value.length;

/**
 * The disk buffer of one category (docs/ship.md, "Spool"): segment files of the storage layer
 * (`<base offset, 20 digits>.log`, CRC-32C record frames, torn tails cut on open) used as a
 * queue. Lines are appended at the end; whole segments are deleted from the front once
 * everything in them was forwarded, or, under `--when-full drop-oldest`, to make room.
 */
export class SpoolLog {
  private segments: Segment[] = [];
  private totalBytes = 0;
  private unsynced = false;

  private constructor(
    readonly dir: string,
    private readonly opts: SpoolLogOptions,
  ) {}

  static open(dir: string, opts: SpoolLogOptions): SpoolLog {
    mkdirSync(dir, { recursive: true });
    const spool = new SpoolLog(dir, opts);
    const bases = readdirSync(dir)
      .filter((f) => /^\d{20}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 20)))
      .sort((a, b) => a - b);
    for (const base of bases) {
      const { segment, cut } = Segment.open(dir, base, INDEX_INTERVAL);
      if (cut > 0) opts.log.warn('spool: cut a torn or corrupt tail', { file: segment.file, bytes: cut });
      const prev = spool.segments[spool.segments.length - 1];
      if (prev && prev.nextOffset !== base) {
        // Segments go only from the front, so a gap means damage: keep what follows the gap.
        opts.log.error('spool: segment does not follow the previous one; dropping the ones before it', { file: segment.file, expected: prev.nextOffset });
        for (const s of spool.segments) s.remove();
        spool.segments = [];
      }
      spool.segments.push(segment);
    }
    if (spool.segments.length === 0) spool.segments.push(Segment.create(dir, 0, INDEX_INTERVAL));
    spool.totalBytes = spool.segments.reduce((n, s) => n + s.size, 0);
    return spool;
  }

  get startOffset(): number {
    return this.segments[0].baseOffset;
  }

  get endOffset(): number {
    return this.active.nextOffset;
  }

  /** Bytes of the segment files. */
  get bytes(): number {
    return this.totalBytes;
  }

  private get active(): Segment {
    return this.segments[this.segments.length - 1];
  }

  /** Append lines (written at once, in the page cache; `sync` makes them durable). */
  append(lines: Array<{ value: Buffer; timestamp: number }>): void {
    if (lines.length === 0) return;
    let size = 0;
    for (const l of lines) size += spooledSize(l.value);
    const buf = Buffer.allocUnsafe(size);
    let pos = 0;
    let offset = this.endOffset;
    for (const l of lines) pos = encodeFrame(buf, pos, { value: l.value }, offset++, l.timestamp);
    if (this.active.size > 0 && this.active.size + size > this.opts.segmentBytes) this.roll();
    this.active.append(buf);
    this.totalBytes += size;
    this.unsynced = true;
  }

  /** Lines from `offset` on, up to `maxBytes` of them (at least one if there is one), from one segment. */
  read(offset: number, maxBytes: number): SpoolRecord[] {
    offset = Math.max(offset, this.startOffset);
    const seg = this.segments.find((s) => offset >= s.baseOffset && offset < s.nextOffset);
    if (!seg) return [];
    const out: SpoolRecord[] = [];
    let bytes = 0;
    let position = seg.positionFor(offset);
    while (position < seg.size && (out.length === 0 || bytes < maxBytes)) {
      const window = seg.read(position, Math.max(maxBytes - bytes, 4096) + INDEX_INTERVAL);
      let used = 0;
      for (const f of frames(window)) {
        used = f.pos + f.size;
        const r = decodeFrame(window, f.pos, f.size);
        if (r.offset < offset) continue;
        if (out.length > 0 && bytes + f.size > maxBytes) return out;
        out.push({ offset: r.offset, timestamp: r.timestamp, value: r.value ?? Buffer.alloc(0) });
        bytes += f.size;
      }
      if (used === 0) {
        // The window holds no whole frame: one larger than it. Read exactly that frame.
        const whole = seg.read(position, window.readUInt32LE(0) + 4);
        const size = checkFrame(whole, 0, whole.length);
        if (size === 0) break;
        const r = decodeFrame(whole, 0, size);
        if (r.offset >= offset) {
          out.push({ offset: r.offset, timestamp: r.timestamp, value: r.value ?? Buffer.alloc(0) });
          bytes += size;
        }
        used = size;
      }
      position += used;
    }
    return out;
  }

  /** Delete the segments wholly below `offset` (forwarded); returns the bytes freed. */
  deleteBelow(offset: number): number {
    if (offset >= this.endOffset && this.active.size > 0) this.roll();
    let freed = 0;
    while (this.segments.length > 1 && this.segments[0].nextOffset <= offset) freed += this.removeOldest();
    return freed;
  }

  /**
   * Delete the oldest segment whatever it holds (to make room); returns the offsets it held
   * and the bytes freed, or null when there is nothing to delete.
   */
  dropOldest(): { from: number; to: number; bytes: number } | null {
    if (this.segments.length === 1) {
      if (this.active.size === 0) return null;
      this.roll();
    }
    const oldest = this.segments[0];
    const dropped = { from: oldest.baseOffset, to: oldest.nextOffset };
    return { ...dropped, bytes: this.removeOldest() };
  }

  /** Make every appended line durable (before a checkpoint says the lines are handed over). */
  sync(): void {
    if (!this.unsynced) return;
    fdatasyncSync(this.active.fd);
    this.unsynced = false;
  }

  close(): void {
    for (const s of this.segments) s.close();
  }

  /** Seal the active segment (fsync and index files) and start the next one. */
  private roll(): void {
    const old = this.active;
    old.seal();
    this.segments.push(Segment.create(this.dir, old.nextOffset, INDEX_INTERVAL));
    // Everything before the new segment was fsynced by seal().
    this.unsynced = false;
  }

  private removeOldest(): number {
    const s = this.segments.shift()!;
    s.remove();
    this.totalBytes -= s.size;
    return s.size;
  }
}
