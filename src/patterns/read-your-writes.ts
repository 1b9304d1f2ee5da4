import { systemClock, type Clock } from '../core/clock.js';
import { appendCookie, parseCookies, sign, toSecrets, unsign, type CookieAttributes, type RequestLike, type ResponseLike, type Secrets } from './cookies.js';

export type ReadTarget = 'primary' | 'replica';

/** A read replica and how far it has applied the primary's changes (LSN, GTID sequence, version...). */
export interface Replica {
  name: string;
  appliedVersion(): bigint | number;
}

/** node:http-style middleware, as Express and Connect use it (and Fastify with `request.raw`, `reply.raw`). */
export type Middleware = (req: RequestLike, res: ResponseLike, next: (err?: unknown) => void) => void;

export interface ReadYourWritesOptions {
  /** HMAC-SHA256 key(s), at least 16 bytes each; the first signs, all verify (for rotation). */
  secret: string | Buffer | readonly (string | Buffer)[];
  /** How long a write pins the client's reads to the primary. Default 15 s (django-multidb-router's). */
  pinMs?: number | undefined;
  /** How long a remembered version is honoured. Default 5 minutes. */
  versionMaxAgeMs?: number | undefined;
  /** Cookie names: `strata_pin` and `strata_ver` by default. */
  pinCookie?: string | undefined;
  versionCookie?: string | undefined;
  cookie?: CookieAttributes | undefined;
  clock?: Clock | undefined;
  /** For choosing among eligible replicas (default Math.random). */
  random?: (() => number) | undefined;
}

/** Methods that do not pin: everything else is taken as a write (as django-multidb-router). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * Read-your-writes across replicas, two ways:
 * - pinning: after a write, a signed cookie sends the client's reads to the primary for `pinMs`;
 * - version tokens: the write's version in a signed cookie; reads go to a replica that has
 *   applied at least that version, else to the primary.
 * The methods are bound: `const { pinAfterWrite, readTarget } = new ReadYourWrites({ secret })`.
 */
export class ReadYourWrites {
  private readonly secrets: Secrets;
  private readonly clock: Clock;
  private readonly pinMs: number;
  private readonly versionMaxAgeMs: number;
  private readonly pinName: string;
  private readonly versionName: string;

  constructor(private readonly options: ReadYourWritesOptions) {
    this.secrets = toSecrets(options.secret);
    this.clock = options.clock ?? systemClock;
    this.pinMs = options.pinMs ?? 15_000;
    this.versionMaxAgeMs = options.versionMaxAgeMs ?? 300_000;
    this.pinName = options.pinCookie ?? 'strata_pin';
    this.versionName = options.versionCookie ?? 'strata_ver';
  }

  /** Middleware: a request with a method other than GET/HEAD/OPTIONS/TRACE sets `strata_pin=<until ms>` (signed). */
  readonly pinAfterWrite: Middleware = (req, res, next) => {
    if (!SAFE.has((req.method ?? 'GET').toUpperCase())) {
      const until = this.clock.nowMs() + this.pinMs;
      appendCookie(res, this.pinName, sign(this.secrets, this.pinName, String(until)), this.pinMs, this.options.cookie ?? {});
    }
    next();
  };

  /** When this client's pin ends (ms since the epoch), or null if it is not pinned. */
  readonly pinnedUntil = (req: RequestLike): number | null => {
    let best: number | null = null;
    for (const signed of parseCookies(req).get(this.pinName) ?? []) {
      const payload = unsign(this.secrets, this.pinName, signed);
      const until = payload !== null && /^\d{1,16}$/.test(payload) ? Number(payload) : NaN;
      if (until > this.clock.nowMs() && (best === null || until > best)) best = until;
    }
    return best;
  };

  /** 'primary' for a write, or while the client is pinned; else 'replica'. */
  readonly readTarget = (req: RequestLike): ReadTarget =>
    !SAFE.has((req.method ?? 'GET').toUpperCase()) || this.pinnedUntil(req) !== null ? 'primary' : 'replica';

  /** After a write: remember the version it produced (signed cookie `strata_ver=<version>.<expires>`). */
  readonly rememberVersion = (res: ResponseLike, version: bigint | number): void => {
    const v = BigInt(version);
    if (v < 0n) throw new RangeError('a version cannot be negative');
    const payload = `${v}.${this.clock.nowMs() + this.versionMaxAgeMs}`;
    appendCookie(res, this.versionName, sign(this.secrets, this.versionName, payload), this.versionMaxAgeMs, this.options.cookie ?? {});
  };

  /** The version this client must see (the highest valid, unexpired token), or null. */
  readonly minVersion = (req: RequestLike): bigint | null => {
    let best: bigint | null = null;
    for (const signed of parseCookies(req).get(this.versionName) ?? []) {
      const m = /^(\d{1,40})\.(\d{1,16})$/.exec(unsign(this.secrets, this.versionName, signed) ?? '');
      if (!m || Number(m[2]) <= this.clock.nowMs()) continue;
      const v = BigInt(m[1]);
      if (best === null || v > best) best = v;
    }
    return best;
  };

  /** A replica that has applied at least the client's version (any replica if it has none), else the primary. */
  readonly pickReplica = <R extends Replica, P>(req: RequestLike, replicas: readonly R[], primary: P): R | P => {
    const min = this.minVersion(req);
    const eligible = min === null ? replicas : replicas.filter((r) => BigInt(r.appliedVersion()) >= min);
    if (eligible.length === 0) return primary;
    return eligible[Math.min(eligible.length - 1, Math.floor((this.options.random ?? Math.random)() * eligible.length))];
  };
}
