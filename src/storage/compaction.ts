import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import { assert } from '../core/errors.js';
import type { PartitionLog } from './partition-log.js';
import { Segment } from './segment.js';
import { decodeFrame, frames } from './record.js';

/**
 * Compaction by key, as Kafka's log cleaner (docs/log.md, "Compaction"). One pass:
 *
 * 1. The cleanable segments are the sealed ones before the active segment (and before one an
 *    fdatasync runs on) whose records are all below `maxOffset` (the high watermark).
 * 2. From the first dirty offset (`log.compaction.cleanOffset`: where the last pass ended) on,
 *    a table of key digest → latest offset is built, up to `maxKeys` keys; the pass covers the
 *    records below `end`: the end of the cleanable segments, or the first record whose key no
 *    longer fits.
 * 3. Every cleanable segment from the log's start up to `end` is read; a record is dropped when
 *    a later record of its key is in the table, or when it is an expired tombstone. A segment
 *    that loses records is written again as `<base>.log.cleaned` (+ index files), fsynced and
 *    renamed over the old one, then swapped in the PartitionLog.
 *
 * Each segment keeps its last record, so its next offset, and the next segment's base, stay.
 */

export interface CompactionOptions {
  /** A tombstone is kept at least this long after its timestamp (and one pass past it). */
  tombstoneRetentionMs: number;
  clock: Clock;
  /** Distinct keys one pass dedupes; the table takes 32 bytes per key (default 1,000,000). */
  maxKeys?: number;
  /** Only segments whose records are all below this offset are compacted (the high watermark). */
  maxOffset?: number;
}

export interface CompactionResult {
  segmentsRewritten: number;
  /** Records dropped: superseded ones and expired tombstones. */
  recordsRemoved: number;
  /** Of recordsRemoved, tombstones dropped because they expired. */
  tombstonesRemoved: number;
  /** Sizes of the rewritten segments, before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Records below this offset have been compacted (where the next pass starts deduping). */
  cleanOffset: number;
}

export const DEFAULT_MAX_KEYS = 1_000_000;
/** Suffix of the files of a segment being rewritten; removed on open if a crash left them. */
export const CLEANED_SUFFIX = '.cleaned';
const INDEX_EXTS = ['.index', '.timeindex'];
const READ_CHUNK = 1 << 20;
const DIGEST_BYTES = 16;

/** Run one compaction pass over `log` (synchronous: it reads and rewrites with blocking I/O). */
export function compact(log: PartitionLog, opts: CompactionOptions): CompactionResult {
  const now = opts.clock.nowMs();
  const segments = cleanableSegments(log, opts.maxOffset ?? Infinity);
  const dirtyFrom = Math.max(log.compaction.cleanOffset, log.startOffset);
  const cleanableEnd = segments.length > 0 ? segments[segments.length - 1].nextOffset : dirtyFrom;
  const result: CompactionResult = { segmentsRewritten: 0, recordsRemoved: 0, tombstonesRemoved: 0, bytesBefore: 0, bytesAfter: 0, cleanOffset: dirtyFrom };
  if (dirtyFrom >= cleanableEnd && now < log.compaction.nextTombstoneDueMs) return result;

  const { map, end } = buildOffsetMap(segments, dirtyFrom, cleanableEnd, opts.maxKeys ?? DEFAULT_MAX_KEYS);
  const pass: Pass = { map, end, cleanOffset: dirtyFrom, now, retentionMs: opts.tombstoneRetentionMs, pinned: new Set(), nextTombstoneDueMs: Infinity };
  for (const segment of segments) {
    if (segment.baseOffset >= end) break;
    cleanSegment(log, segment, pass, result);
  }
  log.compaction.cleanOffset = result.cleanOffset = Math.max(dirtyFrom, end);
  log.compaction.nextTombstoneDueMs = pass.nextTombstoneDueMs;
  return result;
}

/** Delete the files of a rewrite a crash interrupted (the old segment is still whole); returns their names. */
export function removeUnfinishedCompaction(dir: string): string[] {
  const leftovers = readdirSync(dir).filter((f) => f.endsWith(CLEANED_SUFFIX));
  for (const f of leftovers) unlinkSync(path.join(dir, f));
  return leftovers;
}

/** What one pass knows while it cleans segments. */
interface Pass {
  map: OffsetMap;
  /** Records at or after this offset are left alone. */
  end: number;
  /** Records below this were compacted by an earlier pass (only those tombstones may expire). */
  cleanOffset: number;
  now: number;
  retentionMs: number;
  /** Digests of keys whose value survives as a segment's last record: their tombstones must stay. */
  pinned: Set<string>;
  nextTombstoneDueMs: number;
}

interface Frame {
  buf: Buffer;
  pos: number;
  size: number;
}

interface RecordFacts {
  offset: number;
  timestamp: number;
  /** MD5 of the key, or null for a record without a key. */
  digest: Buffer | null;
  tombstone: boolean;
}

function cleanableSegments(log: PartitionLog, maxOffset: number): Segment[] {
  const segments = log.compactableSegments();
  const below = segments.findIndex((s) => s.nextOffset > maxOffset);
  return below === -1 ? segments : segments.slice(0, below);
}

/** The latest offset of each key from `from` on, until `to` or until a new key does not fit. */
function buildOffsetMap(segments: Segment[], from: number, to: number, maxKeys: number): { map: OffsetMap; end: number } {
  const map = new OffsetMap(Math.max(1, Math.min(maxKeys, to - from)));
  for (const segment of segments) {
    if (segment.nextOffset <= from) continue;
    for (const f of segmentFrames(segment, segment.positionFor(from))) {
      const r = facts(f);
      if (r.offset < from || r.digest === null) continue;
      if (!map.put(r.digest, r.offset)) return { map, end: r.offset };
    }
  }
  return { map, end: to };
}

/** Drop what the pass allows from one segment (rewriting it only if something goes). */
function cleanSegment(log: PartitionLog, segment: Segment, pass: Pass, result: CompactionResult): void {
  const tally = { records: 0, tombstones: 0 };
  let tail: RecordFacts | null = null;
  for (const f of segmentFrames(segment)) {
    const r = facts(f);
    const isTail = r.offset === segment.nextOffset - 1;
    if (isTail) tail = r;
    if (!keeps(pass, r, isTail)) {
      tally.records++;
      if (r.tombstone && !isSuperseded(pass, r)) tally.tombstones++;
    } else if (r.tombstone && !isTail && r.offset < pass.end && !isPinned(pass, r)) {
      pass.nextTombstoneDueMs = Math.min(pass.nextTombstoneDueMs, r.timestamp + pass.retentionMs);
    }
  }
  if (tally.records > 0) {
    const rewritten = rewrite(segment, pass);
    result.segmentsRewritten++;
    result.recordsRemoved += tally.records;
    result.tombstonesRemoved += tally.tombstones;
    result.bytesBefore += segment.size;
    result.bytesAfter += rewritten.size;
    log.replaceSegment(segment, rewritten);
  }
  if (tail?.digest && !tail.tombstone) pass.pinned.add(tail.digest.toString('latin1'));
}

/**
 * Whether a record survives the pass. Kept: records without a key, each segment's last record,
 * records at or after the pass's end, and the latest record of each key unless it is a
 * tombstone that expired.
 */
function keeps(pass: Pass, r: RecordFacts, isTail: boolean): boolean {
  if (r.digest === null || isTail || r.offset >= pass.end) return true;
  if (isSuperseded(pass, r)) return false;
  return !(r.tombstone && tombstoneExpired(pass, r));
}

function isSuperseded(pass: Pass, r: RecordFacts): boolean {
  return r.digest !== null && pass.map.get(r.digest) > r.offset;
}

function isPinned(pass: Pass, r: RecordFacts): boolean {
  return r.digest !== null && pass.pinned.has(r.digest.toString('latin1'));
}

/**
 * A tombstone goes once an earlier pass compacted past it (so every older record of its key is
 * gone), `retentionMs` has passed since its timestamp, and no older value of its key survives
 * as the last record of a segment (dropping the tombstone would bring that value back).
 */
function tombstoneExpired(pass: Pass, r: RecordFacts): boolean {
  return r.offset < pass.cleanOffset && pass.now - r.timestamp >= pass.retentionMs && !isPinned(pass, r);
}

/** Write the segment's surviving records to `<base>.log.cleaned`, make it durable, rename it into place; returns it opened. */
function rewrite(segment: Segment, pass: Pass): Segment {
  const cleaned = Segment.create(segment.dir, segment.baseOffset, segment.indexInterval, CLEANED_SUFFIX);
  try {
    copySurvivors(segment, cleaned, pass);
    cleaned.seal();
    for (const ext of INDEX_EXTS) fsyncPath(cleaned.path(ext), 'r+');
    cleaned.close();
  } catch (err) {
    cleaned.remove();
    throw err;
  }
  commitCleaned(segment);
  const { segment: reopened, cut } = Segment.open(segment.dir, segment.baseOffset, segment.indexInterval);
  assert(cut === 0 && reopened.nextOffset === segment.nextOffset, 'a rewritten segment reads back whole');
  return reopened;
}

function copySurvivors(from: Segment, to: Segment, pass: Pass): void {
  let batch: Buffer[] = [];
  let bytes = 0;
  const flush = () => {
    if (bytes > 0) to.append(Buffer.concat(batch, bytes));
    batch = [];
    bytes = 0;
  };
  for (const f of segmentFrames(from)) {
    const r = facts(f);
    if (!keeps(pass, r, r.offset === from.nextOffset - 1)) continue;
    batch.push(f.buf.subarray(f.pos, f.pos + f.size));
    bytes += f.size;
    if (bytes >= READ_CHUNK) flush();
  }
  flush();
}

/**
 * Put the cleaned files in place of the segment's. The old index files go first (a stale index
 * must never describe the new log), then the log is renamed over the old one (the atomic step),
 * then the new index files. A crash anywhere leaves a whole log; open deletes `.cleaned` leftovers
 * and scans a segment that has no index files.
 */
function commitCleaned(segment: Segment): void {
  for (const ext of INDEX_EXTS) rmSync(segment.path(ext), { force: true });
  fsyncPath(segment.dir, 'r');
  renameSync(segment.path('.log') + CLEANED_SUFFIX, segment.path('.log'));
  for (const ext of INDEX_EXTS) renameSync(segment.path(ext) + CLEANED_SUFFIX, segment.path(ext));
  fsyncPath(segment.dir, 'r');
}

function fsyncPath(file: string, flags: 'r' | 'r+'): void {
  const fd = openSync(file, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every frame of a sealed segment from `position`, read about 1 MiB at a time (a larger frame whole). */
function* segmentFrames(segment: Segment, position = 0): Generator<Frame> {
  while (position < segment.size) {
    const header = segment.read(position, 4);
    const length = header.length === 4 ? header.readUInt32LE(0) + 4 : 0;
    const chunk = segment.read(position, Math.max(READ_CHUNK, length));
    let used = 0;
    for (const f of frames(chunk)) {
      yield { buf: chunk, pos: f.pos, size: f.size };
      used = f.pos + f.size;
    }
    if (used === 0) throw new Error(`${segment.file}: no intact record at position ${position}`);
    position += used;
  }
}

function facts(f: Frame): RecordFacts {
  const r = decodeFrame(f.buf, f.pos, f.size);
  return {
    offset: r.offset,
    timestamp: r.timestamp,
    digest: r.key === null ? null : createHash('md5').update(r.key).digest(),
    tombstone: r.value === null,
  };
}

/**
 * Key digest → latest offset in one flat open-addressing table: 16 bytes of MD5 and an 8-byte
 * offset per slot, at most 3/4 full, so `capacity` keys take 32 bytes each, allocated up front.
 */
class OffsetMap {
  private readonly slots: number;
  private readonly digests: Buffer;
  private readonly offsets: Float64Array;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.slots = Math.ceil((capacity * 4) / 3) + 1;
    this.digests = Buffer.alloc(this.slots * DIGEST_BYTES);
    this.offsets = new Float64Array(this.slots).fill(-1);
  }

  /** Note `offset` as the latest of `digest`; false (nothing noted) for a new key when full. */
  put(digest: Buffer, offset: number): boolean {
    const slot = this.slotOf(digest);
    if (this.offsets[slot] === -1) {
      if (this.size === this.capacity) return false;
      digest.copy(this.digests, slot * DIGEST_BYTES, 0, DIGEST_BYTES);
      this.size++;
    }
    this.offsets[slot] = offset;
    return true;
  }

  /** The latest offset noted for `digest`, or -1. */
  get(digest: Buffer): number {
    return this.offsets[this.slotOf(digest)];
  }

  /** The slot holding `digest`, or the empty one where it would go. */
  private slotOf(digest: Buffer): number {
    let slot = digest.readUInt32LE(0) % this.slots;
    while (this.offsets[slot] !== -1 && !this.holds(slot, digest)) slot = (slot + 1) % this.slots;
    return slot;
  }

  private holds(slot: number, digest: Buffer): boolean {
    const at = slot * DIGEST_BYTES;
    for (let i = 0; i < DIGEST_BYTES; i += 4) {
      if (this.digests.readUInt32LE(at + i) !== digest.readUInt32LE(i)) return false;
    }
    return true;
  }
}
