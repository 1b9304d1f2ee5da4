import { crc32c } from '../core/crc32c.js';

/**
 * One record on disk and on the wire (docs/log.md, "Record frame"):
 *
 *   u32le length       bytes after this field
 *   u32le crc          CRC-32C of the bytes after this field
 *   u8    version      1
 *   u8    attributes   bit 0: no value (a tombstone)
 *   u16le reserved     0
 *   u64le offset       absolute offset in its partition
 *   u64le timestamp    milliseconds since the Unix epoch
 *   u32le keyLength    0xffffffff: no key
 *   key bytes, then value bytes (the rest of the frame)
 */
export const FRAME_HEADER = 32;
export const RECORD_VERSION = 1;
const NO_KEY = 0xffffffff;
const TOMBSTONE = 1;
const TWO_32 = 2 ** 32;

export interface RecordInput {
  key?: Buffer | null;
  /** null: a tombstone (for compaction by key). */
  value: Buffer | null;
  timestamp?: number;
}

export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
}

export function frameSize(r: RecordInput): number {
  return FRAME_HEADER + (r.key?.length ?? 0) + (r.value?.length ?? 0);
}

/** Write one frame at `pos`; returns the position after it. */
export function encodeFrame(buf: Buffer, pos: number, r: RecordInput, offset: number, timestamp: number): number {
  const key = r.key ?? null;
  const value = r.value;
  const end = pos + frameSize(r);
  buf.writeUInt32LE(end - pos - 4, pos);
  buf[pos + 8] = RECORD_VERSION;
  buf[pos + 9] = value === null ? TOMBSTONE : 0;
  buf.writeUInt16LE(0, pos + 10);
  writeU64(buf, pos + 12, offset);
  writeU64(buf, pos + 20, timestamp);
  buf.writeUInt32LE(key === null ? NO_KEY : key.length, pos + 28);
  let p = pos + FRAME_HEADER;
  if (key !== null) p += key.copy(buf, p);
  if (value !== null) value.copy(buf, p);
  buf.writeUInt32LE(crc32c(buf, pos + 8, end), pos + 4);
  return end;
}

/**
 * The size of the whole, intact frame at `pos` (checksum verified), or 0 when the bytes from
 * `pos` to `end` do not hold one: cut short, corrupt, or not a frame at all.
 */
export function checkFrame(buf: Buffer, pos: number, end: number): number {
  if (end - pos < FRAME_HEADER) return 0;
  const size = buf.readUInt32LE(pos) + 4;
  if (size < FRAME_HEADER || size > end - pos) return 0;
  if (buf[pos + 8] !== RECORD_VERSION) return 0;
  if (crc32c(buf, pos + 8, pos + size) !== buf.readUInt32LE(pos + 4)) return 0;
  const keyLength = buf.readUInt32LE(pos + 28);
  if (keyLength !== NO_KEY && FRAME_HEADER + keyLength > size) return 0;
  return size;
}

export const frameOffset = (buf: Buffer, pos: number): number => readU64(buf, pos + 12);
export const frameTimestamp = (buf: Buffer, pos: number): number => readU64(buf, pos + 20);

/** Decode a checked frame (copies nothing: key and value are views of `buf`). */
export function decodeFrame(buf: Buffer, pos: number, size: number): DecodedRecord {
  const keyLength = buf.readUInt32LE(pos + 28);
  const keyEnd = pos + FRAME_HEADER + (keyLength === NO_KEY ? 0 : keyLength);
  return {
    offset: frameOffset(buf, pos),
    timestamp: frameTimestamp(buf, pos),
    key: keyLength === NO_KEY ? null : buf.subarray(pos + FRAME_HEADER, keyEnd),
    value: buf[pos + 9] & TOMBSTONE ? null : buf.subarray(keyEnd, pos + size),
  };
}

/** Every intact frame of buf, in order, stopping at the first that is not. */
export function* frames(buf: Buffer, pos = 0, end = buf.length): Generator<{ pos: number; size: number }> {
  while (pos < end) {
    const size = checkFrame(buf, pos, end);
    if (size === 0) return;
    yield { pos, size };
    pos += size;
  }
}

export function writeU64(buf: Buffer, pos: number, n: number): void {
  buf.writeUInt32LE(n % TWO_32, pos);
  buf.writeUInt32LE(Math.floor(n / TWO_32), pos + 4);
}

export function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32LE(pos) + buf.readUInt32LE(pos + 4) * TWO_32;
}
