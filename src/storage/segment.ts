import { openSync, closeSync, fstatSync, readSync, writeSync, ftruncateSync, fdatasyncSync, writeFileSync, readFileSync, existsSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { frames, frameOffset, frameTimestamp, readU64, writeU64 } from './record.js';

/**
 * One segment of a partition log: `<baseOffset, 20 digits>.log` holding record frames, and a
 * sparse index kept in memory (an entry every `indexInterval` bytes: offset → file position, and
 * the largest timestamp so far), written to `.index` / `.timeindex` when the segment is sealed.
 * Formats: docs/log.md.
 */
export class Segment {
  readonly file: string;
  fd: number;
  size: number;
  /** Offset the next record appended here gets. */
  nextOffset: number;
  maxTimestamp = 0;
  private indexOffsets: number[] = [];
  private indexPositions: number[] = [];
  private indexTimestamps: number[] = [];
  private bytesSinceIndex = 0;

  private constructor(
    readonly dir: string,
    readonly baseOffset: number,
    readonly indexInterval: number,
    /** Appended to every file name: '.cleaned' while compaction writes a replacement. */
    private readonly suffix = '',
  ) {
    this.file = this.path('.log');
    this.fd = openSync(this.file, existsSync(this.file) ? 'r+' : 'w+');
    this.size = fstatSync(this.fd).size;
    this.nextOffset = baseOffset;
  }

  static fileName(baseOffset: number, ext: string): string {
    return String(baseOffset).padStart(20, '0') + ext;
  }

  static create(dir: string, baseOffset: number, indexInterval: number, suffix = ''): Segment {
    return new Segment(dir, baseOffset, indexInterval, suffix);
  }

  /** The path of this segment's file with extension `ext` ('.log', '.index', '.timeindex'). */
  path(ext: string): string {
    return path.join(this.dir, Segment.fileName(this.baseOffset, ext) + this.suffix);
  }

  /**
   * Open an existing segment. Its frames are checked from the start (sealed segments with intact
   * index files only from the last index entry); a torn or corrupt tail is cut off. Returns the
   * segment and how many bytes were cut.
   */
  static open(dir: string, baseOffset: number, indexInterval: number): { segment: Segment; cut: number } {
    const s = new Segment(dir, baseOffset, indexInterval);
    const from = s.loadIndex();
    const cut = s.recover(from);
    return { segment: s, cut };
  }

  /** Scan frames from a known-good position, rebuilding the index; truncate what is not a frame. */
  private recover(from: { offset: number; position: number; maxTimestamp: number }): number {
    const total = this.size;
    const data = Buffer.alloc(total - from.position);
    if (data.length > 0) readSync(this.fd, data, 0, data.length, from.position);
    let good = 0;
    let expected = from.offset;
    this.maxTimestamp = from.maxTimestamp;
    // Offsets only grow; compaction may have left gaps between them.
    for (const f of frames(data)) {
      const offset = frameOffset(data, f.pos);
      if (offset < expected) break;
      this.noteIndex(offset, from.position + f.pos, f.size, frameTimestamp(data, f.pos));
      expected = offset + 1;
      good = f.pos + f.size;
    }
    this.nextOffset = expected;
    const cut = data.length - good;
    if (cut > 0) {
      ftruncateSync(this.fd, from.position + good);
      this.size = from.position + good;
    }
    return cut;
  }

  /** Load persisted index files if they are whole; returns where scanning must start. */
  private loadIndex(): { offset: number; position: number; maxTimestamp: number } {
    const start = { offset: this.baseOffset, position: 0, maxTimestamp: 0 };
    const indexFile = this.path('.index');
    const timeFile = this.path('.timeindex');
    if (!existsSync(indexFile) || !existsSync(timeFile)) return start;
    const index = readFileSync(indexFile);
    const times = readFileSync(timeFile);
    const n = index.length / 8;
    if (!Number.isInteger(n) || times.length !== n * 12 || n === 0) return start;
    for (let i = 0; i < n; i++) {
      const offset = this.baseOffset + index.readUInt32LE(i * 8);
      const position = index.readUInt32LE(i * 8 + 4);
      if (position > this.size || (i > 0 && position <= this.indexPositions[i - 1])) return this.resetIndex(start);
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
      this.indexTimestamps.push(readU64(times, i * 12));
    }
    // Entries are only hints: scanning restarts at the last one, which is checked like the rest.
    const last = n - 1;
    const from = { offset: this.indexOffsets[last], position: this.indexPositions[last], maxTimestamp: last > 0 ? this.indexTimestamps[last - 1] : 0 };
    this.indexOffsets.pop();
    this.indexPositions.pop();
    this.indexTimestamps.pop();
    return from;
  }

  private resetIndex<T>(start: T): T {
    this.indexOffsets = [];
    this.indexPositions = [];
    this.indexTimestamps = [];
    return start;
  }

  private noteIndex(offset: number, position: number, size: number, timestamp: number): void {
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    if (this.indexOffsets.length === 0 || this.bytesSinceIndex >= this.indexInterval) {
      this.indexOffsets.push(offset);
      this.indexPositions.push(position);
      this.indexTimestamps.push(this.maxTimestamp);
      this.bytesSinceIndex = 0;
    }
    this.bytesSinceIndex += size;
  }

  /**
   * Append whole, checked frames whose offsets grow from nextOffset on (the caller guarantees
   * it); the index is fed from the frames' headers.
   */
  append(bytes: Buffer): void {
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(this.fd, bytes, written, bytes.length - written, this.size + written);
    } catch (err) {
      // A partial write (disk full) must not stay: recovery would take its whole frames as
      // records that were never acknowledged, at offsets the next append reuses.
      if (written > 0) ftruncateSync(this.fd, this.size);
      throw err;
    }
    let pos = 0;
    let last = this.nextOffset - 1;
    while (pos < bytes.length) {
      const size = bytes.readUInt32LE(pos) + 4;
      last = frameOffset(bytes, pos);
      this.noteIndex(last, this.size + pos, size, frameTimestamp(bytes, pos));
      pos += size;
    }
    this.size += bytes.length;
    this.nextOffset = last + 1;
  }

  /** Cut every record at or after `offset` (a follower dropping a tail its new leader does not have). */
  truncateTo(offset: number): void {
    if (offset >= this.nextOffset) return;
    let position = this.positionFor(offset);
    while (position < this.size) {
      const header = this.read(position, 32);
      if (header.length < 32 || frameOffset(header, 0) >= offset) break;
      position += header.readUInt32LE(0) + 4;
    }
    ftruncateSync(this.fd, position);
    this.size = position;
    this.nextOffset = Math.max(offset, this.baseOffset);
    while (this.indexPositions.length > 0 && this.indexPositions[this.indexPositions.length - 1] >= position) {
      this.indexOffsets.pop();
      this.indexPositions.pop();
      this.indexTimestamps.pop();
    }
    this.maxTimestamp = this.indexTimestamps.length ? this.indexTimestamps[this.indexTimestamps.length - 1] : 0;
    this.bytesSinceIndex = this.indexInterval;
  }

  /** File position to start reading at for `offset` (the nearest index entry at or before it). */
  positionFor(offset: number): number {
    let lo = 0;
    let hi = this.indexOffsets.length - 1;
    let best = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.indexOffsets[mid] <= offset) {
        best = this.indexPositions[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /** The first offset whose record may have a timestamp >= ts (from the time index), or null if none here. */
  offsetForTime(ts: number): number | null {
    if (this.maxTimestamp < ts) return null;
    for (let i = 0; i < this.indexTimestamps.length; i++) {
      if (this.indexTimestamps[i] >= ts) return i === 0 ? this.baseOffset : this.indexOffsets[i - 1];
    }
    return this.indexOffsets.length ? this.indexOffsets[this.indexOffsets.length - 1] : this.baseOffset;
  }

  read(position: number, length: number): Buffer {
    const n = Math.max(0, Math.min(length, this.size - position));
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const r = readSync(this.fd, buf, got, n - got, position + got);
      if (r === 0) break;
      got += r;
    }
    return buf.subarray(0, got);
  }

  /** Make the segment durable and write its index files (it takes no more appends). */
  seal(): void {
    fdatasyncSync(this.fd);
    const n = this.indexOffsets.length;
    const index = Buffer.alloc(n * 8);
    const times = Buffer.alloc(n * 12);
    for (let i = 0; i < n; i++) {
      index.writeUInt32LE(this.indexOffsets[i] - this.baseOffset, i * 8);
      index.writeUInt32LE(this.indexPositions[i], i * 8 + 4);
      writeU64(times, i * 12, this.indexTimestamps[i]);
      times.writeUInt32LE(this.indexOffsets[i] - this.baseOffset, i * 12 + 8);
    }
    writeFileSync(this.path('.index'), index);
    writeFileSync(this.path('.timeindex'), times);
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Close and delete the segment's files (retention). */
  remove(): void {
    this.close();
    for (const ext of ['.log', '.index', '.timeindex']) {
      const f = this.path(ext);
      if (existsSync(f)) unlinkSync(f);
    }
  }
}
