import { BufferReader } from '../core/bytes.js';
import { RpcClient } from '../net/rpc-client.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import {
  Consistency,
  ReadStatus,
  RecordsMethod,
  WriteStatus,
  decodeReadReply,
  decodeScanReply,
  decodeWriteReply,
  encodeRead,
  encodeScan,
  encodeWrite,
  type ReadReply,
} from './protocol.js';
import { recordFields, type StoredRecord } from './record-codec.js';
import type { TableDef, TableRequest } from './table-def.js';
import type { TableState } from './tablets.js';
import { formatVersion, parseVersion, type Version } from './version.js';
import { changeFeed, type ChangeEvent, type ChangeFeedOptions } from './change-feed.js';

export type { ChangeEvent, ChangeFeedOptions };

export type { TableDef, TableRequest };

export interface RecordsClientOptions {
  host?: string;
  port?: number;
  /** Sent first when the service requires a token (`records.tokens`). */
  token?: string;
  /** How long one request may take (a write to a remote master, a read-latest) before it fails with `timeout`. */
  timeoutMs?: number;
}

export interface RecordResult {
  key: string;
  /** false: no record (never written, deleted or expired). */
  exists: boolean;
  value: Record<string, unknown> | null;
  /** "gen.ver"; a deleted record keeps the version of its delete; null when the key was never written. */
  version: string | null;
  /** The record's master region. */
  master: string | null;
  /** The region whose copy was read. */
  region: string;
}

export interface WriteResult {
  version: string;
  master: string;
}

/** What the client sends requests over: an RPC connection, or a node's own methods in process. */
export interface RecordsTransport {
  call(method: number, payload: Buffer, timeoutMs: number): Promise<Buffer>;
  close(): void;
}

export interface TablesInfo {
  tables: TableState[];
  regions: string[];
  /** Each region's log brokers (where the change topics are). */
  logs: Record<string, Array<{ host: string; port: number }>>;
}

export type ReadConsistency = 'any' | 'critical' | 'latest';

/** A test-and-set (or an insert-only write) found another version; `current` is the record's version. */
export class VersionConflictError extends Error {
  constructor(readonly current: string) {
    super(`version conflict: the record is at version ${current}`);
    this.name = 'VersionConflictError';
  }
}

function toResult(key: string, r: ReadReply): RecordResult {
  const rec: StoredRecord | null = r.record;
  const exists = r.status === ReadStatus.present;
  return {
    key,
    exists,
    value: exists && rec ? recordFields(rec) : null,
    version: rec ? formatVersion([rec.gen, rec.ver]) : null,
    master: rec?.master ?? null,
    region: r.region,
  };
}

function version(v: string | Version): Version {
  return typeof v === 'string' ? parseVersion(v) : v;
}

/**
 * A client of Strata's records service (docs/records.md, "Client"): PNUTS' calls over one
 * pipelined connection to a node of the caller's region, which routes each request to the
 * tablet's node and the record's master.
 */
export class RecordsClient {
  constructor(
    private readonly rpc: RecordsTransport,
    private readonly timeoutMs = 30_000,
  ) {}

  static async connect(opts: RecordsClientOptions = {}): Promise<RecordsClient> {
    const rpc = await RpcClient.connect({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 7500 });
    if (opts.token !== undefined) {
      try {
        await rpc.call(RecordsMethod.auth, Buffer.from(opts.token, 'utf8'), 10_000);
      } catch (err) {
        rpc.close();
        throw err;
      }
    }
    return new RecordsClient(rpc, opts.timeoutMs ?? 30_000);
  }

  private call(method: number, payload: Buffer): Promise<Buffer> {
    return this.rpc.call(method, payload, this.timeoutMs);
  }

  async createTable(req: TableRequest): Promise<TableDef> {
    return JSON.parse((await this.call(RecordsMethod.createTable, Buffer.from(JSON.stringify(req)))).toString()) as TableDef;
  }

  async tables(): Promise<TablesInfo> {
    return JSON.parse((await this.call(RecordsMethod.tables, Buffer.alloc(0))).toString()) as TablesInfo;
  }

  /** The table's committed changes from every region's log (see change-feed.ts). */
  async *changes(table: string, opts: ChangeFeedOptions = {}): AsyncGenerator<ChangeEvent> {
    const { logs } = await this.tables();
    yield* changeFeed(logs, table, opts);
  }

  /** Split a tablet at `at` (a key; in a hash table 8 hex digits of the hash), or at its median record. */
  async splitTablet(table: string, tablet: number, at?: string): Promise<TableState> {
    return JSON.parse((await this.call(RecordsMethod.splitTablet, Buffer.from(JSON.stringify({ table, tablet, at })))).toString()) as TableState;
  }

  /** Move a tablet to another node of a region (default: the region of the node this client talks to). */
  async moveTablet(table: string, tablet: number, to: string, region?: string): Promise<TableState> {
    return JSON.parse((await this.call(RecordsMethod.moveTablet, Buffer.from(JSON.stringify({ table, tablet, to, region })))).toString()) as TableState;
  }

  /** The local copy: fast, possibly stale. */
  readAny(table: string, key: string): Promise<RecordResult> {
    return this.read(table, key, 'any');
  }

  /** At least `minVersion` (e.g. the version the user's last write returned): read-your-writes. */
  readCritical(table: string, key: string, minVersion: string | Version): Promise<RecordResult> {
    return this.read(table, key, 'critical', minVersion);
  }

  /** Reflects every write acknowledged before the read began (read at the record's master). */
  readLatest(table: string, key: string): Promise<RecordResult> {
    return this.read(table, key, 'latest');
  }

  async read(table: string, key: string, consistency: ReadConsistency = 'any', minVersion?: string | Version): Promise<RecordResult> {
    if (consistency === 'critical' && minVersion === undefined) throw new RpcError(RpcCode.invalid, 'read-critical needs the version to read at least');
    const c = consistency === 'any' ? Consistency.any : consistency === 'critical' ? Consistency.critical : Consistency.latest;
    const required = minVersion === undefined ? ([0, 0] as Version) : version(minVersion);
    const reply = await this.call(RecordsMethod.read, encodeRead({ table, key, consistency: c, required, forwarded: false, known: null }));
    return toResult(key, decodeReadReply(reply));
  }

  /** Set the given fields (null removes one), or with `replace` the whole record. */
  write(table: string, key: string, fields: Record<string, unknown>, opts: { replace?: boolean; ifVersion?: string | Version } = {}): Promise<WriteResult> {
    return this.mutate(table, key, Buffer.from(JSON.stringify(fields)), opts.replace ?? false, opts.ifVersion);
  }

  /** Write only if the record is at `requiredVersion` ("0.0": only if it does not exist). */
  testAndSetWrite(table: string, key: string, requiredVersion: string | Version, fields: Record<string, unknown>, opts: { replace?: boolean } = {}): Promise<WriteResult> {
    return this.mutate(table, key, Buffer.from(JSON.stringify(fields)), opts.replace ?? false, requiredVersion);
  }

  /** Delete; resolves null when there was no record. */
  async delete(table: string, key: string, opts: { ifVersion?: string | Version } = {}): Promise<WriteResult | null> {
    try {
      return await this.mutate(table, key, null, false, opts.ifVersion);
    } catch (err) {
      if (err instanceof RpcError && err.code === RpcCode.notFound && err.message === 'no record') return null;
      throw err;
    }
  }

  private async mutate(table: string, key: string, fieldsJson: Buffer | null, replace: boolean, ifVersion: string | Version | undefined): Promise<WriteResult> {
    const payload = encodeWrite({ table, key, forwarded: false, replace, fieldsJson, ifVersion: ifVersion === undefined ? null : version(ifVersion), origin: '', known: null });
    const r = decodeWriteReply(await this.call(RecordsMethod.write, payload));
    if (r.status === WriteStatus.conflict) throw new VersionConflictError(formatVersion(r.version));
    if (r.status === WriteStatus.absent) throw new RpcError(RpcCode.notFound, 'no record');
    if (r.status !== WriteStatus.ok) throw new RpcError(RpcCode.internal, `unexpected write status ${r.status}`);
    return { version: formatVersion(r.version), master: r.master };
  }

  /**
   * One page of a scan (local copies, as read-any): an ordered table's keys in [start, end), a
   * hash table's records in hash order. Pass the returned continuation to get the next page.
   */
  async scan(table: string, opts: { start?: string; end?: string; limit?: number; continuation?: string | null } = {}): Promise<{ records: RecordResult[]; continuation: string | null }> {
    const payload = encodeScan({ table, start: opts.start ?? '', end: opts.end ?? '', limit: opts.limit ?? 100, after: opts.continuation ?? '', forwarded: false, stopAt: '' });
    const r = decodeScanReply(await this.call(RecordsMethod.scan, payload));
    const records = r.rows.map((row) => toResult(row.key, { status: ReadStatus.present, region: r.region, record: row.record }));
    return { records, continuation: r.next || null };
  }

  /** Several keys in one request ("any": local copies; "latest": at their masters). */
  async multiget(table: string, keys: string[], opts: { consistency?: 'any' | 'latest' } = {}): Promise<RecordResult[]> {
    const reply = await this.call(RecordsMethod.multiget, Buffer.from(JSON.stringify({ table, keys, consistency: opts.consistency ?? 'any' })));
    const rd = new BufferReader(reply);
    const n = rd.u32('count');
    const out: RecordResult[] = [];
    for (let i = 0; i < n; i++) out.push(toResult(keys[i], decodeReadReply(rd.bytes('reply')!)));
    return out;
  }

  close(): void {
    this.rpc.close();
  }
}

export { ReadYourWrites, READ_YOUR_WRITES_COOKIE } from './read-your-writes.js';
