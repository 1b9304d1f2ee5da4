import { RpcCode, RpcError } from '../net/rpc-frame.js';

/** Types a table may declare for its fields; other fields are free (a loose schema, as PNUTS). */
export const FIELD_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface MastershipPolicy {
  /** Every record of the table is mastered in this region (writes elsewhere are forwarded). */
  pinned?: string;
  /** A record whose last this-many writes came from one other region moves its master there (0: never). */
  migrateAfter: number;
}

export interface TableDef {
  name: string;
  /** hash: point access, scans in hash order; ordered: scans by key range. */
  kind: 'hash' | 'ordered';
  fields: Record<string, FieldType>;
  /** Records expire this long after their last write (0: never). */
  ttlSeconds: number;
  mastership: MastershipPolicy;
  /** Where records are created (PNUTS' tablet master: it orders inserts of new keys). */
  homeRegion: string;
  /** Partitions of the table's change topic in each region's log. */
  partitions: number;
  /** Tablets a table starts with (hash tables: equal slices of the hash space). */
  tablets: number;
}

export type TableRequest = Partial<Omit<TableDef, 'mastership'>> & { name: string; mastership?: Partial<MastershipPolicy> };

const TABLE_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_KEY_BYTES = 1024;
export const MAX_RECORD_BYTES = 1024 * 1024;

function invalid(msg: string): RpcError {
  return new RpcError(RpcCode.invalid, msg);
}

/** A complete table definition from a request, or an `invalid` error saying what is wrong. */
export function resolveTableRequest(req: TableRequest, defaults: { region: string; partitions: number; tablets: number }): TableDef {
  if (!req || typeof req !== 'object') throw invalid('a table definition is a JSON object');
  if (typeof req.name !== 'string' || !TABLE_NAME.test(req.name)) throw invalid('table name: 1 to 64 letters, digits, "_" or "-"');
  const kind = req.kind ?? 'hash';
  if (kind !== 'hash' && kind !== 'ordered') throw invalid('kind must be "hash" or "ordered"');
  const fields: Record<string, FieldType> = {};
  if (req.fields !== undefined) {
    if (!req.fields || typeof req.fields !== 'object' || Array.isArray(req.fields)) throw invalid('fields must be an object of name: type');
    for (const [name, type] of Object.entries(req.fields)) {
      if (!FIELD_TYPES.includes(type as FieldType)) throw invalid(`field ${name}: type must be one of ${FIELD_TYPES.join(', ')}`);
      fields[name] = type as FieldType;
    }
  }
  const int = (v: unknown, name: string, min: number, max: number, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const m = req.mastership ?? {};
  if (typeof m !== 'object') throw invalid('mastership must be an object');
  if (m.pinned !== undefined && (typeof m.pinned !== 'string' || !TABLE_NAME.test(m.pinned))) throw invalid('mastership.pinned must be a region name');
  const homeRegion = req.homeRegion ?? m.pinned ?? defaults.region;
  if (typeof homeRegion !== 'string' || !TABLE_NAME.test(homeRegion)) throw invalid('homeRegion must be a region name');
  return {
    name: req.name,
    kind,
    fields,
    ttlSeconds: int(req.ttlSeconds, 'ttlSeconds', 0, 10 * 365 * 86400, 0),
    mastership: { ...(m.pinned ? { pinned: m.pinned } : {}), migrateAfter: int(m.migrateAfter, 'mastership.migrateAfter', 0, 100, 3) },
    homeRegion: m.pinned ?? homeRegion,
    partitions: int(req.partitions, 'partitions', 1, 256, defaults.partitions),
    tablets: int(req.tablets, 'tablets', 1, 4096, defaults.tablets),
  };
}

function typeOf(v: unknown): FieldType | 'null' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as FieldType;
}

/** Why `fields` does not fit the table's declared types, or null. null values remove a field. */
export function fieldsProblem(def: TableDef, fields: Record<string, unknown>): string | null {
  for (const [name, type] of Object.entries(def.fields)) {
    if (!(name in fields) || fields[name] === null) continue;
    const got = typeOf(fields[name]);
    if (got === type || (type === 'number' && got === 'integer')) continue;
    return `field ${name} must be ${type === 'integer' ? 'an integer' : `a ${type}`}, not ${got}`;
  }
  return null;
}

/** The name of the table's change topic in each region's log. */
export function changeTopic(table: string): string {
  return `records.${table}`;
}
