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
  /** A move in progress to another node of one region (tablet-mover.ts). */
  moving?: TabletMove;
}

/**
 * Moving a tablet within a region, as states in the tablet map: the target copies the tablet
 * (`copying`); the source stops taking writes for it and drains them (`draining`); the source
 * notes where its writes end in the region's log (`released`, with those offsets); the target
 * applies the log that far and becomes the owner.
 */
export interface TabletMove {
  region: string;
  from: string;
  to: string;
  state: 'copying' | 'draining' | 'released';
  /** released: the end of each partition of the region's change topic after the source's last write. */
  offsets?: number[];
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

/** The tablet's storage-key range [start, end) ('' end: to the last key). */
export function tabletRange(state: TableState, index: number): { start: string; end: string } {
  return { start: state.tablets[index].low, end: state.tablets[index + 1]?.low ?? '' };
}

/** Cut tablet `index` at `at` (a position inside it): the upper part is a new tablet with the same owners. */
export function splitTablet(state: TableState, index: number, at: string): TableState {
  const t = state.tablets[index];
  const next = state.tablets[index + 1];
  if (at <= t.low || (next && at >= next.low)) throw new Error(`split point ${JSON.stringify(at)} is not inside tablet ${t.id}`);
  const upper: Tablet = { id: state.nextTabletId, low: at, owners: { ...t.owners } };
  const tablets = [...state.tablets.slice(0, index + 1), upper, ...state.tablets.slice(index + 1)];
  return { ...state, tablets, nextTabletId: state.nextTabletId + 1 };
}
