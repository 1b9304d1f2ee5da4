/**
 * The binding interface, modelled on YCSB's site.ycsb.DB. The runner creates one DB per client
 * worker (YCSB: one per client thread) through the binding's factory, calls init() before the
 * worker's first operation and cleanup() after its last. A worker has at most one operation in
 * flight, so a binding may keep per-instance state (a connection) without locking; instances of
 * one process may share state (the memory binding's store).
 *
 * A binding module (bench/ycsb/bindings/NAME.ts) exports `createDB: DBFactory`.
 */

/** YCSB's Status names; OK and BATCHED_OK count as success. */
export type Status =
  | 'OK'
  | 'ERROR'
  | 'NOT_FOUND'
  | 'NOT_IMPLEMENTED'
  | 'UNEXPECTED_STATE'
  | 'BAD_REQUEST'
  | 'FORBIDDEN'
  | 'SERVICE_UNAVAILABLE'
  | 'TIMEOUT'
  | 'BATCHED_OK';

export function isOk(status: Status): boolean {
  return status === 'OK' || status === 'BATCHED_OK';
}

/** Workload and binding properties (YCSB's java.util.Properties): name → value. */
export type Properties = Map<string, string>;

/** field name → value. */
export type RecordValues = Map<string, string>;

/** One record returned by a scan. YCSB's scan result carries no key; this one does, so callers can check order. */
export interface ScanRecord {
  key: string;
  values: RecordValues;
}

export interface DB {
  init(): Promise<void>;
  cleanup(): Promise<void>;
  /** Read one record; fields null means all fields. The fields read are put into `result`. */
  read(table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status>;
  /** Up to recordCount records in key order from startKey (the binding's order), appended to `result`. */
  scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status>;
  /** Overwrite the given fields of an existing record. */
  update(table: string, key: string, values: RecordValues): Promise<Status>;
  insert(table: string, key: string, values: RecordValues): Promise<Status>;
  delete(table: string, key: string): Promise<Status>;
}

/** Creates one DB instance; called once per client worker. */
export type DBFactory = (props: Properties) => DB;

