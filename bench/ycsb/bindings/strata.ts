/**
 * Strata records binding: one RecordsClient (one pipelined RPC connection) per client worker, as
 * the SQL binding has one connection per worker. Records are JSON objects of the YCSB fields.
 * The table is created as an ordered table (YCSB scans walk keys in order from a start key), if
 * it does not exist. insert replaces the whole record; update sets the given fields (PNUTS' set).
 *
 * Properties: strata.host (127.0.0.1), strata.port (7500), strata.token, strata.read
 * (any | latest; default any: PNUTS' read-any from the local region), strata.tablets.
 */
import { RecordsClient } from '../../../src/records/client.js';
import { RpcCode, RpcError } from '../../../src/net/rpc-frame.js';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord, Status } from '../db.js';

let errorsLogged = 0;
const tablesCreating = new Map<string, Promise<unknown>>();

function failure(op: string, err: unknown): Status {
  if (errorsLogged++ < 10) process.stderr.write(`strata ${op}: ${(err as Error).message}\n`);
  if (err instanceof RpcError && err.code === RpcCode.timeout) return 'TIMEOUT';
  if (err instanceof RpcError && err.code === RpcCode.tryLater) return 'SERVICE_UNAVAILABLE';
  return 'ERROR';
}

function fill(value: Record<string, unknown>, fields: Set<string> | null, out: RecordValues): void {
  for (const [k, v] of Object.entries(value)) if (!fields || fields.has(k)) out.set(k, String(v));
}

class StrataDB implements DB {
  private client: RecordsClient | null = null;
  private readonly latest: boolean;

  constructor(private readonly props: Properties) {
    this.latest = (props.get('strata.read') ?? 'any') === 'latest';
  }

  private get c(): RecordsClient {
    if (!this.client) throw new Error('strata binding used before init()');
    return this.client;
  }

  async init(): Promise<void> {
    const token = this.props.get('strata.token');
    const host = this.props.get('strata.host') ?? '127.0.0.1';
    const port = Number(this.props.get('strata.port') ?? '7500');
    this.client = await RecordsClient.connect({ host, port, ...(token ? { token } : {}) });
    const table = this.props.get('table') ?? 'usertable';
    const id = `${host}:${port}/${table}`;
    let creating = tablesCreating.get(id);
    if (!creating) {
      const tablets = Number(this.props.get('strata.tablets') ?? '8');
      creating = this.client.createTable({ name: table, kind: 'ordered', tablets });
      tablesCreating.set(id, creating);
    }
    await creating;
  }

  async cleanup(): Promise<void> {
    this.client?.close();
    this.client = null;
  }

  async read(table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status> {
    try {
      const r = this.latest ? await this.c.readLatest(table, key) : await this.c.readAny(table, key);
      if (!r.exists || !r.value) return 'NOT_FOUND';
      fill(r.value, fields, result);
      return 'OK';
    } catch (err) {
      return failure('read', err);
    }
  }

  async scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status> {
    try {
      const page = await this.c.scan(table, { start: startKey, limit: recordCount });
      for (const r of page.records) {
        const values: RecordValues = new Map();
        fill(r.value ?? {}, fields, values);
        result.push({ key: r.key, values });
      }
      return 'OK';
    } catch (err) {
      return failure('scan', err);
    }
  }

  async update(table: string, key: string, values: RecordValues): Promise<Status> {
    try {
      await this.c.write(table, key, Object.fromEntries(values));
      return 'OK';
    } catch (err) {
      return failure('update', err);
    }
  }

  async insert(table: string, key: string, values: RecordValues): Promise<Status> {
    try {
      await this.c.write(table, key, Object.fromEntries(values), { replace: true });
      return 'OK';
    } catch (err) {
      return failure('insert', err);
    }
  }

  async delete(table: string, key: string): Promise<Status> {
    try {
      return (await this.c.delete(table, key)) ? 'OK' : 'NOT_FOUND';
    } catch (err) {
      return failure('delete', err);
    }
  }
}

export const createDB: DBFactory = (props) => new StrataDB(props);
