import { BufferReader, BufferWriter, DecodeError } from '../core/bytes.js';
import { readRecord, writeRecord, type StoredRecord } from './record-codec.js';
import type { Version } from './version.js';

/**
 * The records service's RPC methods (docs/records.md, "Protocol"), carried by Strata's internal
 * RPC frames (src/net/rpc-frame.ts). Clients and nodes use the same methods; a node forwarding a
 * request to the record's master region sets the `forwarded` flag and gets `elsewhere` back
 * instead of being forwarded again.
 */
export const RecordsMethod = {
  auth: 0x200,
  tables: 0x201,
  createTable: 0x202,
  /** Node to node: show the cluster secret (nodes only may forward and copy). */
  nodeAuth: 0x203,
  read: 0x210,
  write: 0x211,
  scan: 0x212,
  multiget: 0x213,
  splitTablet: 0x220,
  moveTablet: 0x221,
  /** Node to node: where a node's appliers are in every region's change topic of a table. */
  positions: 0x222,
  /** Node to node: a tablet's records, deleted ones included (copying a tablet that moves). */
  copyRange: 0x223,
} as const;

export const Consistency = { any: 0, critical: 1, latest: 2 } as const;
export type Consistency = (typeof Consistency)[keyof typeof Consistency];
export const CONSISTENCY_NAMES: Record<string, Consistency> = { any: 0, critical: 1, latest: 2 };

/** Read reply status; `elsewhere` only answers forwarded requests. */
export const ReadStatus = { absent: 0, present: 1, gone: 2, elsewhere: 3 } as const;
/** Write reply status; `elsewhere` only answers forwarded requests. */
export const WriteStatus = { ok: 0, conflict: 1, absent: 2, elsewhere: 3 } as const;

const WRITE_FORWARDED = 1;
const WRITE_REPLACE = 2;
const WRITE_DELETE = 4;
const WRITE_IF_VERSION = 8;

export interface ReadRequest {
  table: string;
  key: string;
  consistency: Consistency;
  /** read-critical: at least this version. */
  required: Version;
  forwarded: boolean;
  /** Forwarded reads carry the forwarder's copy, which the master takes if it is newer. */
  known: StoredRecord | null;
}

export interface WriteRequest {
  table: string;
  key: string;
  forwarded: boolean;
  replace: boolean;
  /** null fields: delete. */
  fieldsJson: Buffer | null;
  ifVersion: Version | null;
  origin: string;
  known: StoredRecord | null;
}

function writeKnown(w: BufferWriter, r: StoredRecord | null): void {
  if (!r) {
    w.u32(0xffffffff);
    return;
  }
  const at = w.view().length;
  w.u32(0);
  writeRecord(w, r);
  const end = w.view().length;
  w.view().writeUInt32LE(end - at - 4, at);
}

function readKnown(rd: BufferReader): StoredRecord | null {
  const n = rd.u32('known record length');
  if (n === 0xffffffff) return null;
  const bytes = rd.raw(n, 'known record');
  return readRecord(new BufferReader(bytes));
}

export function encodeRead(r: ReadRequest): Buffer {
  const w = new BufferWriter(64).u8(r.consistency).u8(r.forwarded ? 1 : 0).str(r.table).str(r.key).u32(r.required[0]).u32(r.required[1]);
  if (r.forwarded) writeKnown(w, r.known);
  return Buffer.from(w.view());
}

export function decodeRead(buf: Buffer): ReadRequest {
  const rd = new BufferReader(buf);
  const consistency = rd.u8('consistency');
  if (consistency > 2) throw new DecodeError(`consistency must be 0 (any), 1 (critical) or 2 (latest), not ${consistency}`);
  const forwarded = (rd.u8('flags') & 1) !== 0;
  const table = rd.str('table');
  const key = rd.str('key');
  const required: Version = [rd.u32('gen'), rd.u32('ver')];
  const known = forwarded ? readKnown(rd) : null;
  rd.done('read request');
  return { table, key, consistency: consistency as Consistency, required, forwarded, known };
}

/**
 * The start of a read reply (status and region) before the record's bytes: a record read from the
 * store is sent as stored, after this, without decoding and encoding it again.
 */
export function encodeReadReplyHead(status: number, region: string): Buffer {
  return Buffer.from(new BufferWriter(16).u8(status).str(region).view());
}

/** status, the region that served it, then the record (absent: none). */
export function encodeReadReply(status: number, region: string, record: StoredRecord | null): Buffer {
  const w = new BufferWriter(record ? 80 + record.fieldsJson.length : 16).u8(status).str(region);
  if (record) writeRecord(w, record);
  return Buffer.from(w.view());
}

export interface ReadReply {
  status: number;
  region: string;
  record: StoredRecord | null;
}

export function decodeReadReply(buf: Buffer): ReadReply {
  const rd = new BufferReader(buf);
  const status = rd.u8('status');
  const region = rd.str('region');
  return { status, region, record: rd.remaining > 0 ? readRecord(rd) : null };
}

export function encodeWrite(r: WriteRequest): Buffer {
  const flags = (r.forwarded ? WRITE_FORWARDED : 0) | (r.replace ? WRITE_REPLACE : 0) | (r.fieldsJson === null ? WRITE_DELETE : 0) | (r.ifVersion ? WRITE_IF_VERSION : 0);
  const w = new BufferWriter(64 + (r.fieldsJson?.length ?? 0)).u8(flags).str(r.table).str(r.key).str(r.origin);
  if (r.ifVersion) w.u32(r.ifVersion[0]).u32(r.ifVersion[1]);
  writeKnown(w, r.forwarded ? r.known : null);
  if (r.fieldsJson) w.raw(r.fieldsJson);
  return Buffer.from(w.view());
}

export function decodeWrite(buf: Buffer): WriteRequest {
  const rd = new BufferReader(buf);
  const flags = rd.u8('flags');
  const table = rd.str('table');
  const key = rd.str('key');
  const origin = rd.str('origin region');
  const ifVersion: Version | null = flags & WRITE_IF_VERSION ? [rd.u32('gen'), rd.u32('ver')] : null;
  const known = readKnown(rd);
  const fieldsJson = flags & WRITE_DELETE ? null : rd.raw(rd.remaining, 'fields');
  rd.done('write request');
  return { table, key, forwarded: (flags & WRITE_FORWARDED) !== 0, replace: (flags & WRITE_REPLACE) !== 0, fieldsJson, ifVersion, origin, known };
}

/** status, version (ok: the one written; conflict: the current one), master region; elsewhere: the copy there. */
export function encodeWriteReply(status: number, version: Version, master: string, record: StoredRecord | null = null): Buffer {
  const w = new BufferWriter(32).u8(status).u32(version[0]).u32(version[1]).str(master);
  if (record) writeRecord(w, record);
  return Buffer.from(w.view());
}

export interface WriteReply {
  status: number;
  version: Version;
  master: string;
  record: StoredRecord | null;
}

export function decodeWriteReply(buf: Buffer): WriteReply {
  const rd = new BufferReader(buf);
  const status = rd.u8('status');
  const version: Version = [rd.u32('gen'), rd.u32('ver')];
  const master = rd.str('master');
  return { status, version, master, record: rd.remaining > 0 ? readRecord(rd) : null };
}

export interface ScanRequest {
  table: string;
  /** Ordered tables: first key (inclusive); '' from the start. */
  start: string;
  /** Ordered tables: end key (exclusive); '' to the end. */
  end: string;
  limit: number;
  /** Continuation from the previous page (a storage key to continue after); '' for the first page. */
  after: string;
  /** A node asked by another for one tablet's part: do not forward. */
  forwarded: boolean;
  /** forwarded: stop before this storage key ('' : to the end). */
  stopAt: string;
}

export function encodeScan(r: ScanRequest): Buffer {
  return Buffer.from(
    new BufferWriter(64).str(r.table).str(r.start).str(r.end).u32(r.limit).str(r.after).u8(r.forwarded ? 1 : 0).str(r.stopAt).view(),
  );
}

export function decodeScan(buf: Buffer): ScanRequest {
  const rd = new BufferReader(buf);
  const r: ScanRequest = { table: rd.str('table'), start: rd.str('start'), end: rd.str('end'), limit: rd.u32('limit'), after: rd.str('after'), forwarded: rd.u8('flags') === 1, stopAt: rd.str('stop at') };
  rd.done('scan request');
  return r;
}

export interface ScanRow {
  key: string;
  record: StoredRecord;
}

/** str region, u32 count, per row: str key, u32 length, record; then str continuation ('' : no more). */
export function encodeScanReply(region: string, rows: ScanRow[], next: string): Buffer {
  const w = new BufferWriter(256).str(region).u32(rows.length);
  for (const row of rows) {
    w.str(row.key);
    writeKnown(w, row.record);
  }
  return Buffer.from(w.str(next).view());
}

export function decodeScanReply(buf: Buffer): { region: string; rows: ScanRow[]; next: string } {
  const rd = new BufferReader(buf);
  const region = rd.str('region');
  const n = rd.u32('row count');
  const rows: ScanRow[] = [];
  for (let i = 0; i < n; i++) {
    const key = rd.str('key');
    const record = readKnown(rd);
    if (!record) throw new DecodeError('scan row without a record');
    rows.push({ key, record });
  }
  const next = rd.str('continuation');
  rd.done('scan reply');
  return { region, rows, next };
}
