import http from 'node:http';
import type { Logger } from '../core/log.js';
import { DecodeError } from '../core/bytes.js';
import { listenHttp, type ListeningHttp } from '../net/http-listen.js';
import { httpStatusOf, readBody, sendJson } from '../net/http-util.js';
import { RpcCode, RpcError, rpcCodeName } from '../net/rpc-frame.js';
import { VersionConflictError, type RecordsClient, type ReadConsistency } from './client.js';
import type { TableRequest } from './table-def.js';

const MAX_BODY = 2 * 1024 * 1024;

/**
 * HTTP/JSON for the records service (docs/records.md, "HTTP"):
 *   GET    /tables                              tables and regions
 *   POST   /tables                              create a table (JSON definition)
 *   GET    /tables/:t/records/:key              read (?consistency=any|critical|latest, &version=g.v)
 *   PUT    /tables/:t/records/:key              replace the record; PATCH sets the given fields
 *   DELETE /tables/:t/records/:key              delete
 *   GET    /tables/:t/records                   scan (?start=&end=&limit=&continuation=)
 *   POST   /tables/:t/multiget                  {"keys": [...], "consistency": "any"|"latest"}
 * Writes take If-Match: "g.v" (or ?ifVersion=g.v) for test-and-set; replies carry the version as
 * ETag. With tokens set, every request needs Authorization: Bearer <token>.
 */
export async function startRecordsHttp(opts: { host: string; port: number; client: RecordsClient; tokens: string[]; log: Logger }): Promise<ListeningHttp> {
  const { client, log } = opts;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!(err instanceof RpcError) && !(err instanceof DecodeError)) log.error('records http request failed', { url: req.url, err: String((err as Error).stack ?? err) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof VersionConflictError) {
        sendJson(res, 409, { error: 'conflict', message: err.message, current: err.current }, { etag: `"${err.current}"` });
        return;
      }
      const code = err instanceof RpcError ? err.code : err instanceof DecodeError ? RpcCode.invalid : RpcCode.internal;
      sendJson(res, httpStatusOf(err), { error: rpcCodeName(code), message: (err as Error).message });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (opts.tokens.length > 0) {
      const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
      if (!m || !opts.tokens.includes(m[1])) {
        res.setHeader('www-authenticate', 'Bearer');
        throw new RpcError(RpcCode.unauthorized, 'send Authorization: Bearer <token>');
      }
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new RpcError(RpcCode.invalid, `malformed percent-encoding in ${url.pathname}`);
    }
    const q = url.searchParams;
    if (parts[0] !== 'tables') throw new RpcError(RpcCode.notFound, 'paths: /tables, /tables/:table/records[/:key], /tables/:table/multiget');
    if (parts.length === 1) {
      if (req.method === 'GET') return sendJson(res, 200, await client.tables());
      if (req.method === 'POST') return sendJson(res, 201, await client.createTable(await bodyJson<TableRequest>(req)));
      throw methodNotAllowed(req, 'GET, POST');
    }
    const table = parts[1];
    if (parts.length === 3 && parts[2] === 'multiget' && req.method === 'POST') {
      const body = await bodyJson<{ keys?: unknown; consistency?: unknown }>(req);
      if (!Array.isArray(body.keys) || body.keys.some((k) => typeof k !== 'string')) throw new RpcError(RpcCode.invalid, 'keys must be an array of strings');
      if (body.consistency !== undefined && body.consistency !== 'any' && body.consistency !== 'latest') throw new RpcError(RpcCode.invalid, 'consistency is "any" or "latest"');
      return sendJson(res, 200, { records: await client.multiget(table, body.keys as string[], { consistency: body.consistency as 'any' | 'latest' | undefined }) });
    }
    if (parts[2] !== 'records' || parts.length > 4) throw new RpcError(RpcCode.notFound, 'paths: /tables/:table/records[/:key], /tables/:table/multiget');
    if (parts.length === 3) {
      if (req.method !== 'GET') throw methodNotAllowed(req, 'GET');
      const limit = q.has('limit') ? Number(q.get('limit')) : 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new RpcError(RpcCode.invalid, 'limit is an integer from 1 to 10000');
      const token = q.get('continuation');
      const page = await client.scan(table, {
        start: q.get('start') ?? '',
        end: q.get('end') ?? '',
        limit,
        continuation: token ? Buffer.from(token, 'base64url').toString('utf8') : null,
      });
      return sendJson(res, 200, { records: page.records, continuation: page.continuation ? Buffer.from(page.continuation, 'utf8').toString('base64url') : null });
    }
    const key = parts[3];
    const ifVersion = q.get('ifVersion') ?? ifMatch(req);
    switch (req.method) {
      case 'GET': {
        const consistency = (q.get('consistency') ?? 'any') as ReadConsistency;
        if (!['any', 'critical', 'latest'].includes(consistency)) throw new RpcError(RpcCode.invalid, 'consistency is any, critical or latest');
        const version = q.get('version') ?? undefined;
        if (consistency === 'critical' && !version) throw new RpcError(RpcCode.invalid, 'consistency=critical needs version=<gen.ver>');
        const r = await client.read(table, key, consistency, version);
        const headers: Record<string, string> = r.version ? { etag: `"${r.version}"` } : {};
        return sendJson(res, r.exists ? 200 : 404, r.exists ? r : { error: 'notFound', message: 'no record', version: r.version }, headers);
      }
      case 'PUT':
      case 'PATCH': {
        const fields = await bodyJson<Record<string, unknown>>(req);
        const w = await client.write(table, key, fields, { replace: req.method === 'PUT', ...(ifVersion ? { ifVersion } : {}) });
        return sendJson(res, 200, w, { etag: `"${w.version}"` });
      }
      case 'DELETE': {
        const d = await client.delete(table, key, ifVersion ? { ifVersion } : {});
        if (!d) throw new RpcError(RpcCode.notFound, 'no record');
        return sendJson(res, 200, d, { etag: `"${d.version}"` });
      }
      default:
        throw methodNotAllowed(req, 'GET, PUT, PATCH, DELETE');
    }
  }

  return listenHttp(server, opts.host, opts.port);
}

function methodNotAllowed(req: http.IncomingMessage, allowed: string): RpcError {
  return new RpcError(RpcCode.invalid, `${req.method} is not allowed here (allowed: ${allowed})`);
}

function ifMatch(req: http.IncomingMessage): string | null {
  const h = req.headers['if-match'];
  if (typeof h !== 'string') return null;
  return h.replace(/^W\//, '').replace(/^"|"$/g, '');
}

async function bodyJson<T>(req: http.IncomingMessage): Promise<T> {
  const body = await readBody(req, MAX_BODY);
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as T;
  } catch {
    // reported below
  }
  throw new RpcError(RpcCode.invalid, 'the body must be a JSON object');
}
