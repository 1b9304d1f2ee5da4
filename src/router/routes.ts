import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { crc32c } from '../core/crc32c.js';
import type { Destination } from './destination.js';
import type { DeleteSpool } from './delete-spool.js';
import { type KetamaRing, hashKey } from './ketama.js';
import { type Request, isRead, isDelete, lineTokens, withLine } from './protocol/request.js';
import { type Reply, isFailure, lineReply, startsWith } from './protocol/reply.js';

export type Done = (reply: Reply) => void;

/** A route handle, as in mcrouter: decides where one request goes and which reply the client gets. */
export interface Route {
  route(req: Request, done: Done): void;
}

export interface RouteContext {
  clock: Clock;
  log: Logger;
  spool: DeleteSpool | null;
}

const ignore: Done = () => {};

/** A pool of servers; a key's server is its ketama point. */
export class Pool {
  constructor(
    readonly name: string,
    readonly ring: KetamaRing,
    readonly destinations: Destination[],
  ) {}
}

/**
 * Hash the key onto the pool (choice 0: the key's server; choice n: the n-th other server
 * clockwise on the ring, for failing over to the next server). A delete that cannot reach the
 * server is kept in the delete spool and answered as done.
 */
export class PoolRoute implements Route {
  constructor(
    private readonly pool: Pool,
    private readonly choice: number,
    private readonly ctx: RouteContext,
  ) {}

  route(req: Request, done: Done): void {
    const index = this.choice === 0 ? this.pool.ring.serverFor(req.key) : nthServerFor(this.pool.ring, req.key, this.choice);
    const dest = this.pool.destinations[index];
    if (!isDelete(req.op) || this.ctx.spool === null) return dest.send(req, done);
    const spool = this.ctx.spool;
    dest.send(req, (reply) => {
      if (!isFailure(reply) || req.line === null) return done(reply);
      spool.append(dest.name, req.line).then(
        () => done(lineReply(req.op === 'md' ? 'HD' : 'DELETED')),
        (err: Error) => done(lineReply(`SERVER_ERROR cannot keep delete for ${dest.name}: ${err.message}`)),
      );
    });
  }
}

/**
 * Try the children in order while they fail (an error or no answer; a miss is an answer), as
 * mcrouter's FailoverRoute. Requests that reach a later child have their TTL capped at
 * `exptime` seconds, so what lands in a gutter pool expires soon (Facebook's Gutter). Deletes
 * go to the first child only; a gutter copy lives at most `exptime` seconds.
 */
export class FailoverRoute implements Route {
  constructor(
    private readonly children: Route[],
    private readonly exptime: number,
    private readonly clock: Clock,
  ) {}

  route(req: Request, done: Done): void {
    if (isDelete(req.op)) return this.children[0].route(req, done);
    const attempt = (i: number): void => {
      const r = i === 0 ? req : capExptime(req, this.exptime, this.clock);
      this.children[i].route(r, (reply) => {
        if (isFailure(reply) && i + 1 < this.children.length) attempt(i + 1);
        else done(reply);
      });
    };
    attempt(0);
  }
}

/**
 * A replicated pool: writes go to every child (sync: the answer waits for all and the worst
 * reply wins; async: the first child's answer, the others in the background); reads go to one child
 * and fail over to the next on a miss or failure (mcrouter's AllSync/AllAsync + MissFailover).
 */
export class ReplicatedRoute implements Route {
  constructor(
    private readonly children: Route[],
    private readonly writes: 'sync' | 'async',
    private readonly reads: 'first' | 'random',
  ) {}

  route(req: Request, done: Done): void {
    const n = this.children.length;
    if (isRead(req.op)) {
      const start = this.reads === 'random' ? Math.floor(Math.random() * n) : 0;
      let last: Reply | null = null;
      const attempt = (k: number): void => {
        if (k === n) return done(last!);
        this.children[(start + k) % n].route(req, (reply) => {
          if (reply.status === 'ok') return done(reply);
          // A miss beats a failure as the final answer: the client should refill.
          if (last === null || last.status !== 'miss') last = reply;
          attempt(k + 1);
        });
      };
      return attempt(0);
    }
    if (this.writes === 'async') {
      this.children[0].route(req, done);
      for (let i = 1; i < n; i++) this.children[i].route(req, ignore);
      return;
    }
    const replies: Reply[] = new Array(n);
    let left = n;
    for (let i = 0; i < n; i++) {
      this.children[i].route(req, (reply) => {
        replies[i] = reply;
        if (--left > 0) return;
        done(worst(replies));
      });
    }
  }
}

/**
 * Fill a cold pool from a warm one (mcrouter's WarmUpRoute, Facebook's cold cluster warm-up):
 * gets go to cold; a miss there is asked of warm, and a warm hit is added to cold with
 * `exptime` in the background. Everything else goes to cold only.
 */
export class WarmUpRoute implements Route {
  constructor(
    private readonly cold: Route,
    private readonly warm: Route,
    private readonly exptime: number,
  ) {}

  route(req: Request, done: Done): void {
    if (req.op !== 'get' && req.op !== 'mg') return this.cold.route(req, done);
    this.cold.route(req, (reply) => {
      if (reply.status !== 'miss' && !isFailure(reply)) return done(reply);
      this.warm.route(req, (warmReply) => {
        if (warmReply.status !== 'ok') return done(reply.status === 'miss' ? reply : warmReply);
        done(warmReply);
        if (req.op === 'get') {
          const add = addFromValue(warmReply.bytes, this.exptime);
          if (add) this.cold.route(add, ignore);
        }
      });
    });
  }
}

/** Choose a route by the longest matching key prefix (mcrouter's PrefixSelectorRoute). */
export class PrefixRoute implements Route {
  private readonly prefixes: Array<[Buffer, Route]>;

  constructor(
    routes: Array<[string, Route]>,
    private readonly fallback: Route,
  ) {
    this.prefixes = routes.map(([p, r]) => [Buffer.from(p), r] as [Buffer, Route]).sort((a, b) => b[0].length - a[0].length);
  }

  route(req: Request, done: Done): void {
    for (const [prefix, route] of this.prefixes) {
      if (req.key.length >= prefix.length && req.key.compare(prefix, 0, prefix.length, 0, prefix.length) === 0) return route.route(req, done);
    }
    this.fallback.route(req, done);
  }
}

/**
 * Send the client's requests to `main`, and a copy of a fixed share of keys (chosen by key
 * hash, so a shadowed key is always shadowed) to `shadow`, whose answers are dropped: for
 * trying a new pool with real traffic.
 */
export class ShadowRoute implements Route {
  private readonly threshold: number;

  constructor(
    private readonly main: Route,
    private readonly shadow: Route,
    fraction: number,
    private readonly readsOnly: boolean,
  ) {
    this.threshold = Math.round(fraction * 0x1_0000_0000);
  }

  route(req: Request, done: Done): void {
    this.main.route(req, done);
    if (this.readsOnly && !isRead(req.op)) return;
    if (crc32c(req.key) < this.threshold) this.shadow.route(req, ignore);
  }
}

/** mcrouter's AllSync rule: the worst reply wins (no answer, then an error, then a refusal, then success). */
function worst(replies: Reply[]): Reply {
  let pick = replies[0];
  for (const r of replies) if (severity(r) > severity(pick)) pick = r;
  return pick;
}

function severity(r: Reply): number {
  if (r.status === 'failed') return 3;
  if (r.status === 'error') return 2;
  const b = r.bytes;
  const success = startsWith(b, 'STORED') || startsWith(b, 'DELETED') || startsWith(b, 'TOUCHED') || startsWith(b, 'OK') || startsWith(b, 'HD') || startsWith(b, 'VA') || (b[0] >= 48 && b[0] <= 57);
  return success ? 0 : 1;
}

const MAX_RELATIVE = 60 * 60 * 24 * 30;

/** The request with its TTL capped at `cap` seconds (0, never expiring, becomes `cap`). */
export function capExptime(req: Request, cap: number, clock: Clock): Request {
  const capped = (raw: string): string => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) return raw;
    let rel = n;
    if (n > MAX_RELATIVE) rel = n - Math.floor(clock.nowMs() / 1000);
    if (n === 0 || rel > cap) return String(cap);
    return raw;
  };
  const t = lineTokens(req);
  switch (req.op) {
    case 'set': case 'add': case 'replace': case 'cas':
      t[3] = capped(t[3]);
      return withLine(req, t);
    case 'touch':
      t[2] = capped(t[2]);
      return withLine(req, t);
    case 'gat': case 'gats':
      t[1] = capped(t[1]);
      return withLine(req, t);
    case 'ms': case 'mg': case 'ma': {
      let hasT = false;
      for (let i = 2; i < t.length; i++) {
        if (t[i][0] === 'T' || t[i][0] === 'N') {
          hasT ||= t[i][0] === 'T';
          t[i] = t[i][0] + capped(t[i].slice(1));
        }
      }
      if (!hasT && req.op === 'ms') t.push('T' + cap);
      return withLine(req, t);
    }
    default:
      return req;
  }
}

/** An `add` of a VALUE block (`VALUE <key> <flags> <bytes>\r\n<data>\r\n`) with the given TTL. */
function addFromValue(block: Buffer, exptime: number): Request | null {
  if (!startsWith(block, 'VALUE ')) return null;
  const nl = block.indexOf(10);
  const [, key, flags, bytes] = block.toString('latin1', 0, nl).trim().split(' ');
  const data = block.subarray(nl + 1);
  if (data.length !== Number(bytes) + 2) return null;
  return { op: 'add', key: Buffer.from(key, 'latin1'), line: Buffer.from(`add ${key} ${flags} ${exptime} ${bytes}`, 'latin1'), data, shape: 'line' };
}

/** The n-th distinct server after the key's own, walking the ring clockwise (n < server count). */
export function nthServerFor(ring: KetamaRing, key: Buffer, n: number): number {
  const { points, owners } = ring;
  const lo = ring.pointFor(hashKey(key));
  const seen: number[] = [];
  for (let i = 0; i < points.length; i++) {
    const owner = owners[(lo + i) % points.length];
    if (seen.includes(owner)) continue;
    if (seen.length === n) return owner;
    seen.push(owner);
  }
  return seen[seen.length - 1];
}
