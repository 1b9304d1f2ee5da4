import { BufferReader, BufferWriter, DecodeError } from '../core/bytes.js';
import { readRecord, writeRecord, type StoredRecord } from './record-codec.js';

/**
 * Messages in a table's change topic (`records.<table>` in each region's log). The log record's
 * key is the record key; its value (docs/records.md, "Change log"):
 *
 *   u8 kind (1 change, 2 fence)   str writer node id   u32 writer incarnation
 *   kind 1: the record (record-codec.ts) as the master committed it
 *
 * A fence opens a writer's new incarnation: every region drops changes from an older incarnation
 * of that writer that come after it in the partition (a request the previous process left in
 * flight), so all regions apply the same messages.
 */
export const ChangeKind = { change: 1, fence: 2 } as const;

export type ChangeMessage =
  | { kind: typeof ChangeKind.change; writer: string; incarnation: number; record: StoredRecord }
  | { kind: typeof ChangeKind.fence; writer: string; incarnation: number };

/**
 * Record keys never start with NUL, so fences cannot collide with a record under compaction; one
 * key per incarnation, so compaction keeps every fence (a newer one does not replace the last).
 */
export function fenceKey(writer: string, incarnation: number): string {
  return `\u0000fence/${writer}/${incarnation}`;
}

export function encodeChange(writer: string, incarnation: number, record: StoredRecord): Buffer {
  const w = new BufferWriter(80 + record.fieldsJson.length).u8(ChangeKind.change).str(writer).u32(incarnation);
  return Buffer.from(writeRecord(w, record).view());
}

export function encodeFence(writer: string, incarnation: number): Buffer {
  return Buffer.from(new BufferWriter(32).u8(ChangeKind.fence).str(writer).u32(incarnation).view());
}

export function decodeChange(buf: Buffer): ChangeMessage {
  const rd = new BufferReader(buf);
  const kind = rd.u8('change kind');
  const writer = rd.str('writer');
  const incarnation = rd.u32('incarnation');
  if (kind === ChangeKind.fence) {
    rd.done('fence');
    return { kind, writer, incarnation };
  }
  if (kind !== ChangeKind.change) throw new DecodeError(`unknown change kind ${kind}`);
  return { kind, writer, incarnation, record: readRecord(rd) };
}
