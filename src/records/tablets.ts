import { crc32c } from '../core/crc32c.js';
import type { TableDef } from './table-def.js';

/**
 * Tablets: a table's key space cut into intervals. A tablet covers positions from its `low`
 * (inclusive) to the next tablet's `low` (exclusive); the first starts at ''. A position is the
 * key itself in an ordered table and the key's hash (8 lowercase hex digits of its CRC-32C, so
 * text order is numeric order) in a hash table. Each region keeps each tablet on one node.
 */
export interface Tablet {
  id: number;
  low: string;
  /** region → node id holding the tablet there. */
  owners: Record<string, string>;
}

/** What the metadata store holds per table (`tables/<name>`, JSON). */
export interface TableState {
  def: TableDef;
  tablets: Tablet[];
  nextTabletId: number;
}

export function keyHash(key: string): number {
  return crc32c(Buffer.from(key, 'utf8'));
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

export function positionOf(def: TableDef, key: string): string {
  return def.kind === 'ordered' ? key : hex8(keyHash(key));
}

/** The key under which a record is stored locally: position order, then the key. */
export function storageKey(def: TableDef, key: string): string {
  return def.kind === 'ordered' ? key : hex8(keyHash(key)) + key;
}

export function keyOfStorageKey(def: TableDef, skey: string): string {
  return def.kind === 'ordered' ? skey : skey.slice(8);
}

/** The change-topic partition of a key: all of a record's changes go to one partition. */
export function partitionOf(def: TableDef, key: string): number {
  return keyHash(key) % def.partitions;
}

export function initialTablets(def: TableDef): Tablet[] {
  if (def.kind === 'ordered') return [{ id: 0, low: '', owners: {} }];
  const n = def.tablets;
  return Array.from({ length: n }, (_, i) => ({ id: i, low: i === 0 ? '' : hex8(Math.floor((i * 2 ** 32) / n)), owners: {} }));
}

/** Index of the tablet covering a position (binary search). */
export function tabletIndexAt(tablets: Tablet[], position: string): number {
  let lo = 0;
  let hi = tablets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (tablets[mid].low <= position) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function tabletFor(state: TableState, key: string): Tablet {
  return state.tablets[tabletIndexAt(state.tablets, positionOf(state.def, key))];
}
