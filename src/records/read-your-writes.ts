import type { RecordResult, RecordsClient, WriteResult } from './client.js';
import { compareVersions } from './version.js';
import { parseVersion } from './version.js';

/** Name of the cookie a web app keeps a user's write versions in. */
export const READ_YOUR_WRITES_COOKIE = 'strata_rv';

/**
 * Read-your-writes for one user across requests and regions (PNUTS' use of read-critical): it
 * remembers the version of the user's last write to each record and reads with
 * `readCritical(version)` there, `readAny` elsewhere. `toCookie()` / `fromCookie()` carry the
 * versions between requests (e.g. in the `strata_rv` cookie); at most `maxEntries` records are
 * remembered, the oldest forgotten first.
 */
export class ReadYourWrites {
  private readonly versions = new Map<string, string>();

  constructor(
    private readonly client: RecordsClient,
    private readonly maxEntries = 32,
  ) {}

  static fromCookie(client: RecordsClient, cookie: string | undefined, maxEntries = 32): ReadYourWrites {
    const session = new ReadYourWrites(client, maxEntries);
    if (!cookie) return session;
    try {
      const entries = JSON.parse(Buffer.from(cookie, 'base64url').toString('utf8')) as unknown;
      if (!Array.isArray(entries)) return session;
      for (const e of entries) {
        if (!Array.isArray(e) || e.length !== 3 || !e.every((x) => typeof x === 'string')) continue;
        parseVersion(e[2] as string);
        session.remember(e[0] as string, e[1] as string, e[2] as string);
      }
    } catch {
      // A cookie that does not parse is ignored: the session starts empty (reads are read-any).
    }
    return session;
  }

  toCookie(): string {
    const entries = [...this.versions].map(([k, v]) => [...k.split('\u0000'), v]);
    return Buffer.from(JSON.stringify(entries), 'utf8').toString('base64url');
  }

  private remember(table: string, key: string, version: string): void {
    const k = `${table}\u0000${key}`;
    const known = this.versions.get(k);
    if (known && compareVersions(parseVersion(known), parseVersion(version)) >= 0) return;
    this.versions.delete(k);
    this.versions.set(k, version);
    while (this.versions.size > this.maxEntries) this.versions.delete(this.versions.keys().next().value!);
  }

  /** The version this user last wrote to the record, if remembered. */
  versionOf(table: string, key: string): string | undefined {
    return this.versions.get(`${table}\u0000${key}`);
  }

  async write(table: string, key: string, fields: Record<string, unknown>, opts: { replace?: boolean; ifVersion?: string } = {}): Promise<WriteResult> {
    const w = await this.client.write(table, key, fields, opts);
    this.remember(table, key, w.version);
    return w;
  }

  async delete(table: string, key: string): Promise<WriteResult | null> {
    const d = await this.client.delete(table, key);
    if (d) this.remember(table, key, d.version);
    return d;
  }

  /** The record as of this user's last write to it, or newer. */
  read(table: string, key: string): Promise<RecordResult> {
    const v = this.versionOf(table, key);
    return v ? this.client.readCritical(table, key, v) : this.client.readAny(table, key);
  }
}
