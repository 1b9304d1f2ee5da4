/**
 * PostgreSQL binding after YCSB's JDBC binding: a table `usertable (YCSB_KEY VARCHAR(255) PRIMARY
 * KEY, FIELD0 TEXT, …)`, one connection per client worker in autocommit, named prepared statements
 * (SELECT * … WHERE YCSB_KEY = $1; scans ORDER BY YCSB_KEY LIMIT n; one UPDATE and INSERT
 * statement per set of fields). Statuses as JDBC's: a read of a missing row is NOT_FOUND, an update
 * or delete that touches no row UNEXPECTED_STATE, an SQL error ERROR.
 *
 * Properties: postgres.url (default postgres://postgres@127.0.0.1:5432/postgres; YCSB's db.url,
 * db.user and db.passwd are read too), postgres.createtable (default true: CREATE TABLE IF NOT
 * EXISTS when a connection opens), table, fieldcount, fieldnameprefix.
 */
import pg from 'pg';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord, Status } from '../db.js';

const KEY_COLUMN = 'ycsb_key'; // YCSB_KEY unquoted, as PostgreSQL folds it
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const tablesCreating = new Map<string, Promise<void>>();
let errorsLogged = 0;

function quoted(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`"${name}" is not a plain SQL identifier`);
  return `"${name}"`;
}

function connectionConfig(props: Properties): pg.ClientConfig {
  const url = props.get('postgres.url') ?? props.get('db.url')?.replace(/^jdbc:/, '') ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const config: pg.ClientConfig = { connectionString: url };
  if (props.has('db.user')) config.user = props.get('db.user');
  if (props.has('db.passwd')) config.password = props.get('db.passwd');
  return config;
}

/** The workload's field names (fieldnameprefix + 0 … fieldcount-1), which are the table's columns. */
export function fieldNames(props: Properties): string[] {
  const count = Number(props.get('fieldcount') ?? '10');
  const prefix = props.get('fieldnameprefix') ?? 'field';
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

export function createTableSql(table: string, fields: string[]): string {
  return `CREATE TABLE IF NOT EXISTS ${quoted(table)} (YCSB_KEY VARCHAR(255) PRIMARY KEY, ${fields.map((f) => `${quoted(f)} TEXT`).join(', ')})`;
}

function sqlError(op: string, err: unknown): Status {
  if (errorsLogged++ < 10) process.stderr.write(`postgres ${op}: ${(err as Error).message}\n`);
  return 'ERROR';
}

class PostgresDB implements DB {
  private readonly client: pg.Client;
  private readonly statementNames = new Map<string, string>();

  constructor(private readonly props: Properties) {
    this.client = new pg.Client(connectionConfig(props));
  }

  async init(): Promise<void> {
    await this.client.connect();
    if ((this.props.get('postgres.createtable') ?? 'true') !== 'true') return;
    const table = this.props.get('table') ?? 'usertable';
    const id = `${String(connectionConfig(this.props).connectionString)}|${table}`;
    // Connections that open together share one CREATE: concurrent CREATE TABLE IF NOT EXISTS can
    // fail on PostgreSQL's catalog unique index.
    let creating = tablesCreating.get(id);
    if (!creating) {
      creating = this.client.query(createTableSql(table, fieldNames(this.props))).then(
        () => void tablesCreating.delete(id),
        (err: unknown) => {
          tablesCreating.delete(id);
          throw err;
        },
      );
      tablesCreating.set(id, creating);
    }
    await creating;
  }

  async cleanup(): Promise<void> {
    await this.client.end();
  }

  /** Run `text` as a named prepared statement of this connection. */
  private query(text: string, values: unknown[]): Promise<pg.QueryResult> {
    let name = this.statementNames.get(text);
    if (!name) this.statementNames.set(text, (name = `ycsb_${this.statementNames.size}`));
    return this.client.query({ name, text, values });
  }

  private static pick(row: { [column: string]: unknown }, fields: Set<string> | null, into: RecordValues): void {
    for (const [column, value] of Object.entries(row)) {
      if (column === KEY_COLUMN || value === null) continue;
      if (fields === null || fields.has(column)) into.set(column, String(value));
    }
  }

  async read(table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status> {
    try {
      const res = await this.query(`SELECT * FROM ${quoted(table)} WHERE YCSB_KEY = $1`, [key]);
      if (res.rows.length === 0) return 'NOT_FOUND';
      PostgresDB.pick(res.rows[0], fields, result);
      return 'OK';
    } catch (err) {
      return sqlError('read', err);
    }
  }

  async scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status> {
    try {
      const res = await this.query(`SELECT * FROM ${quoted(table)} WHERE YCSB_KEY >= $1 ORDER BY YCSB_KEY LIMIT $2`, [startKey, recordCount]);
      for (const row of res.rows) {
        const values: RecordValues = new Map();
        PostgresDB.pick(row, fields, values);
        result.push({ key: String(row[KEY_COLUMN]), values });
      }
      return 'OK';
    } catch (err) {
      return sqlError('scan', err);
    }
  }

  async update(table: string, key: string, values: RecordValues): Promise<Status> {
    try {
      const names = [...values.keys()];
      const sets = names.map((f, i) => `${quoted(f)} = $${i + 1}`).join(', ');
      const res = await this.query(`UPDATE ${quoted(table)} SET ${sets} WHERE YCSB_KEY = $${names.length + 1}`, [...values.values(), key]);
      return res.rowCount === 1 ? 'OK' : 'UNEXPECTED_STATE';
    } catch (err) {
      return sqlError('update', err);
    }
  }

  async insert(table: string, key: string, values: RecordValues): Promise<Status> {
    try {
      const columns = ['YCSB_KEY', ...[...values.keys()].map(quoted)].join(', ');
      const params = Array.from({ length: values.size + 1 }, (_, i) => `$${i + 1}`).join(', ');
      const res = await this.query(`INSERT INTO ${quoted(table)} (${columns}) VALUES (${params})`, [key, ...values.values()]);
      return res.rowCount === 1 ? 'OK' : 'UNEXPECTED_STATE';
    } catch (err) {
      return sqlError('insert', err);
    }
  }

  async delete(table: string, key: string): Promise<Status> {
    try {
      const res = await this.query(`DELETE FROM ${quoted(table)} WHERE YCSB_KEY = $1`, [key]);
      return res.rowCount === 1 ? 'OK' : 'UNEXPECTED_STATE';
    } catch (err) {
      return sqlError('delete', err);
    }
  }
}

export const createDB: DBFactory = (props) => new PostgresDB(props);
