import { readFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { createLogger, type Logger } from '../core/log.js';
import { StrataError } from '../core/errors.js';
import { parseRouterConfig, type RouterConfig } from './config.js';
import { DeleteSpool } from './delete-spool.js';
import { Router } from './router.js';
import { type Op, type Request, getRequest } from './protocol/request.js';
import { type Reply, startsWith, valueSize } from './protocol/reply.js';

export interface CacheClientOptions {
  clock?: Clock;
  log?: Logger;
  /** Keep deletes that cannot reach their server on disk here and replay them (the router's delete spool). */
  spoolDir?: string;
}

export interface Item {
  value: Buffer;
  flags: number;
  /** Present for `gets`. */
  cas?: bigint;
}

export interface StoreOptions {
  /** Seconds (memcached exptime; 0 = no expiry). */
  ttl?: number;
  flags?: number;
  signal?: AbortSignal;
}

export type MetaCode = 'VA' | 'HD' | 'EN' | 'NF' | 'NS' | 'EX' | 'MN' | 'ME';

export interface MetaReply {
  code: MetaCode;
  /** Returned flags: letter → token ('' for a flag without one), e.g. c → '123', W → ''. */
  flags: Map<string, string>;
  value: Buffer | null;
}

/** A server could not be reached, or answered with an error line. */
export class CacheError extends StrataError {
  constructor(message: string) {
    super('CACHE', message);
    this.name = 'CacheError';
  }
}

/**
 * The router, embedded in a Node process: the same route configuration and routing as
 * `strata router`, without the extra hop. Promise-based; every call takes an AbortSignal.
 */
export class CacheClient {
  private constructor(
    private readonly router: Router,
    private readonly spool: DeleteSpool | null,
  ) {}

  /** From a route configuration (object, JSON text, or a file path), or a plain list of servers (one ketama pool). */
  static create(config: RouterConfig | string | { servers: string[] }, options: CacheClientOptions = {}): CacheClient {
    let parsed: RouterConfig;
    if (typeof config === 'string') parsed = parseRouterConfig(config.trimStart().startsWith('{') ? config : readFileSync(config, 'utf8'));
    else if ('route' in config) parsed = config;
    else parsed = parseRouterConfig(JSON.stringify({ pools: { main: { servers: config.servers } }, route: 'main' }));
    const log = options.log ?? createLogger('warn', { service: 'cache-client' });
    const spool = options.spoolDir ? new DeleteSpool(path.resolve(options.spoolDir), log) : null;
    const router = new Router(options.clock ?? systemClock, log, spool);
    router.configure(parsed);
    return new CacheClient(router, spool);
  }

  /** Send one request through the routes; resolves with the routed reply. */
  request(req: Request, signal?: AbortSignal): Promise<Reply> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.router.route(req, (reply) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(reply);
      });
    });
  }

  /**
   * The item, or null on a miss. A server that cannot answer is also a miss (as through
   * `strata router`: the application refills, it does not fail); routes with failover decide where
   * the refill goes.
   */
  async get(key: string, opts: { signal?: AbortSignal; cas?: boolean } = {}): Promise<Item | null> {
    checkKey(key);
    const reply = await this.request(getRequest(opts.cas ? 'gets' : 'get', Buffer.from(key)), opts.signal);
    return reply.status === 'ok' ? parseValue(reply.bytes) : null;
  }

  async getMulti(keys: string[], opts: { signal?: AbortSignal } = {}): Promise<Map<string, Item>> {
    const items = await Promise.all(keys.map((k) => this.get(k, opts)));
    const out = new Map<string, Item>();
    keys.forEach((k, i) => items[i] && out.set(k, items[i]!));
    return out;
  }

  private async store(op: Op, key: string, value: Buffer | string, opts: StoreOptions, extra = ''): Promise<string> {
    const data = typeof value === 'string' ? Buffer.from(value) : value;
    const line = `${op} ${key} ${opts.flags ?? 0} ${opts.ttl ?? 0} ${data.length}${extra}`;
    return this.lineCall(op, key, line, opts.signal, data);
  }

  /** Store; true when STORED. */
  async set(key: string, value: Buffer | string, opts: StoreOptions = {}): Promise<boolean> {
    return (await this.store('set', key, value, opts)) === 'STORED';
  }

  /** Store only if absent; false when something is there (NOT_STORED). */
  async add(key: string, value: Buffer | string, opts: StoreOptions = {}): Promise<boolean> {
    return (await this.store('add', key, value, opts)) === 'STORED';
  }

  async replace(key: string, value: Buffer | string, opts: StoreOptions = {}): Promise<boolean> {
    return (await this.store('replace', key, value, opts)) === 'STORED';
  }

  /** Compare-and-swap: 'stored', 'exists' (changed since read) or 'not-found'. */
  async cas(key: string, value: Buffer | string, cas: bigint, opts: StoreOptions = {}): Promise<'stored' | 'exists' | 'not-found'> {
    const r = await this.store('cas', key, value, opts, ` ${cas}`);
    return r === 'STORED' ? 'stored' : r === 'EXISTS' ? 'exists' : 'not-found';
  }

  /** True when the key was there. A delete the router had to keep for a down server also answers true. */
  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.lineCall('delete', key, `delete ${key}`, opts.signal)) === 'DELETED';
  }

  async incr(key: string, by: bigint | number = 1, opts: { signal?: AbortSignal } = {}): Promise<bigint | null> {
    const r = await this.lineCall('incr', key, `incr ${key} ${by}`, opts.signal);
    return r === 'NOT_FOUND' ? null : BigInt(r);
  }

  async decr(key: string, by: bigint | number = 1, opts: { signal?: AbortSignal } = {}): Promise<bigint | null> {
    const r = await this.lineCall('decr', key, `decr ${key} ${by}`, opts.signal);
    return r === 'NOT_FOUND' ? null : BigInt(r);
  }

  async touch(key: string, ttl: number, opts: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.lineCall('touch', key, `touch ${key} ${ttl}`, opts.signal)) === 'TOUCHED';
  }

  /**
   * A meta command (mg, ms, md, ma) with its flags, e.g. `meta('mg', k, ['v', 'c', 'N30'])`:
   * the building block of leases (docs/router.md). Throws CacheError on a failure or error line.
   */
  async meta(cmd: 'mg' | 'ms' | 'md' | 'ma', key: string, flags: string[], value?: Buffer | string, signal?: AbortSignal): Promise<MetaReply> {
    checkKey(key);
    for (const f of flags) if (f.length === 0 || /[\s\x00-\x1f]/.test(f)) throw new CacheError(`invalid meta flag ${JSON.stringify(f)}`);
    const k = Buffer.from(key);
    const data = value === undefined ? null : typeof value === 'string' ? Buffer.from(value) : value;
    const line = [cmd, key, ...(cmd === 'ms' ? [String(data?.length ?? 0)] : []), ...flags].join(' ');
    const req: Request = { op: cmd, key: k, line: Buffer.from(line), data: data ? Buffer.concat([data, CRLF]) : null, shape: 'meta' };
    const reply = await this.request(req, signal);
    if (reply.status === 'failed') throw new CacheError(reply.reason ?? 'unavailable');
    return parseMeta(reply.bytes);
  }

  private async lineCall(op: Op, key: string, line: string, signal?: AbortSignal, data?: Buffer): Promise<string> {
    checkKey(key);
    const req: Request = { op, key: Buffer.from(key), line: Buffer.from(line), data: data ? Buffer.concat([data, CRLF]) : null, shape: 'line' };
    const reply = await this.request(req, signal);
    if (reply.status === 'failed') throw new CacheError(reply.reason ?? 'unavailable');
    const text = reply.bytes.toString('latin1').trimEnd();
    if (reply.status === 'error' || text === 'ERROR' || text.startsWith('CLIENT_ERROR')) throw new CacheError(text);
    return text;
  }

  async close(): Promise<void> {
    this.router.close();
    await this.spool?.close();
  }
}

const CRLF = Buffer.from('\r\n');

/** Keys as memcached takes them: 1 to 250 bytes, no spaces or control characters. */
function checkKey(key: string): void {
  if (key.length === 0 || Buffer.byteLength(key) > 250 || /[\s\x00-\x1f]/.test(key)) throw new CacheError(`invalid key ${JSON.stringify(key)}`);
}

/** An Item from a `VALUE <key> <flags> <bytes> [<cas>]\r\n<data>\r\n` block. */
export function parseValue(block: Buffer): Item {
  const nl = block.indexOf(10);
  const tokens = block.toString('latin1', 0, nl).trim().split(' ');
  const size = valueSize(block, 0, nl);
  const item: Item = { value: Buffer.from(block.subarray(nl + 1, nl + 1 + size)), flags: Number(tokens[2]) };
  if (tokens[4] !== undefined) item.cas = BigInt(tokens[4]);
  return item;
}

/** A MetaReply from a meta reply's bytes. */
export function parseMeta(bytes: Buffer): MetaReply {
  const nl = bytes.indexOf(10);
  const line = bytes.toString('latin1', 0, nl).trimEnd();
  if (startsWith(bytes, 'SERVER_ERROR') || startsWith(bytes, 'CLIENT_ERROR') || line === 'ERROR') throw new CacheError(line);
  const tokens = line.split(' ');
  const code = tokens[0] as MetaCode;
  const flags = new Map<string, string>();
  let value: Buffer | null = null;
  let first = 1;
  if (code === 'VA') {
    const size = Number(tokens[1]);
    value = Buffer.from(bytes.subarray(nl + 1, nl + 1 + size));
    first = 2;
  }
  for (let i = first; i < tokens.length; i++) if (tokens[i].length > 0) flags.set(tokens[i][0], tokens[i].slice(1));
  return { code, flags, value };
}
