import { BufferReader, BufferWriter, DecodeError } from '../core/bytes.js';
import type { Version } from './version.js';

/**
 * One record as every region keeps it (one version only, as PNUTS): its version, its master
 * region, where its last writes came from (for mastership migration), and its fields. The same
 * bytes are stored locally (lmdb), carried in the change log and sent in replies, so a read
 * copies them without re-encoding. Layout (docs/records.md, "Record format"):
 *
 *   u8  format (1)   u8 flags (bit 0: deleted)
 *   u32 gen          u32 ver
 *   str master       u8 n, n × str origin (oldest first)
 *   u64 written at (ms since the epoch, by the master's clock)
 *   u64 expires at (ms, 0: never)
 *   ... the fields as UTF-8 JSON (an object; empty when deleted)
 */
export interface StoredRecord {
  gen: number;
  ver: number;
  master: string;
  origins: string[];
  deleted: boolean;
  writtenAt: number;
  expiresAt: number;
  /** The fields as JSON text (UTF-8); empty for a deleted record. */
  fieldsJson: Buffer;
}

const FORMAT = 1;
const DELETED = 1;

export function recordVersion(r: StoredRecord): Version {
  return [r.gen, r.ver];
}

export function writeRecord(w: BufferWriter, r: StoredRecord): BufferWriter {
  w.u8(FORMAT).u8(r.deleted ? DELETED : 0).u32(r.gen).u32(r.ver).str(r.master).u8(r.origins.length);
  for (const o of r.origins) w.str(o);
  return w.u64(r.writtenAt).u64(r.expiresAt).raw(r.fieldsJson);
}

export function encodeRecord(r: StoredRecord): Buffer {
  return Buffer.from(writeRecord(new BufferWriter(64 + r.fieldsJson.length), r).view());
}

/** Decode a record that runs to the end of the reader. */
export function readRecord(rd: BufferReader): StoredRecord {
  const format = rd.u8('record format');
  if (format !== FORMAT) throw new DecodeError(`unknown record format ${format}`);
  const flags = rd.u8('record flags');
  const gen = rd.u32('gen');
  const ver = rd.u32('ver');
  const master = rd.str('master region');
  const n = rd.u8('origin count');
  const origins: string[] = [];
  for (let i = 0; i < n; i++) origins.push(rd.str('origin region'));
  const writtenAt = rd.u64('written at');
  const expiresAt = rd.u64('expires at');
  const fieldsJson = rd.raw(rd.remaining, 'fields');
  return { gen, ver, master, origins, deleted: (flags & DELETED) !== 0, writtenAt, expiresAt, fieldsJson };
}

export function decodeRecord(buf: Buffer): StoredRecord {
  return readRecord(new BufferReader(buf));
}

export function recordFields(r: StoredRecord): Record<string, unknown> | null {
  return r.deleted ? null : (JSON.parse(r.fieldsJson.toString('utf8')) as Record<string, unknown>);
}

/** Whether the record reads as absent at `now` (deleted, or past its expiry). */
export function isGone(r: StoredRecord, now: number): boolean {
  return r.deleted || (r.expiresAt !== 0 && r.expiresAt <= now);
}
