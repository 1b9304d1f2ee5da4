import { createHash } from 'node:crypto';
import { md5First32 } from './md5.js';

/**
 * Ketama consistent hashing, placing keys exactly as libmemcached's weighted ketama
 * (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED), twemproxy/nutcracker (`hash: md5`, `distribution: ketama`)
 * and the npm `memcached` client (through the npm `hashring` package) do.
 *
 * Ring (all three):
 *   - each server gets `floor(share * 40 * serverCount) * 4` points, share = weight / total weight;
 *   - point group i (0-based) is md5(`${name}-${i}`); its 16 digest bytes give 4 points, each
 *     4-byte group read little-endian as a uint32;
 *   - a key goes to the first point >= md5(key)'s first 4 bytes (little-endian), wrapping to the
 *     first point of the ring.
 *
 * The server name hashed (all three, when no explicit name is configured) is "host" when the
 * port is 11211 and "host:port" otherwise (see `ketamaServerName`):
 *   - twemproxy src/nc_conf.c: an entry "host:port:weight" without a name gets name = host, or
 *     host:port when port != 11211 ("backward compatibility with libmemcached"); the weight is
 *     never part of it. An explicit name ("host:port:weight name") is hashed as given.
 *   - libmemcached: "%s-%u" hostname when port == MEMCACHED_DEFAULT_PORT, else "%s:%u-%u".
 *   - npm memcached 2.2.2 builds `new HashRing(servers, 'md5', { compatibility: 'ketama',
 *     'default port': 11211 })`; hashring hashes `host + '-' + i` for the default port and
 *     `server.string + '-' + i` otherwise, where server.string is the "host:port" string as
 *     given. Weights come from an object argument `{ 'host:port': weight }`.
 *
 * Differences between them (choose with `flavor`):
 *   - Points per server. libmemcached and twemproxy compute it in single precision:
 *       pct = (float)weight / (float)total;
 *       floorf((float)(pct * 160 / 4 * (float)n + 0.0000000001)) * 4
 *     (the 1e-10 is lost when the sum is rounded back to float). hashring computes
 *     `Math.floor(weight / total * 40 * n)` in double precision with no epsilon. With equal
 *     weights they disagree for some server counts: hashring gives 39 groups (156 points) for
 *     n = 7, 14, 28, 49, 56, ...; float32 gives 39 for n = 25, 47, 50, 55, 61, ...; 40 otherwise.
 *     Unequal weights can disagree likewise. `flavor: 'twemproxy'` (default) computes in float32,
 *     `flavor: 'hashring'` in double.
 *   - twemproxy formats `${name}-${i}` into an 86-byte buffer, so it hashes at most the first 85
 *     bytes (long names are truncated; libmemcached >= 1.0 uses a larger buffer). Emulated by
 *     the 'twemproxy' flavor.
 *   - Equal point values (md5 collisions on 32 bits, rare): hashring's stable sort keeps server
 *     order, libmemcached/twemproxy use qsort (order unspecified). Here the lower server index
 *     comes first, as in hashring.
 *   - hashring treats a weight of 0 (or not a number) as 1; twemproxy requires weight >= 1.
 *   - The npm memcached client skips the ring entirely when it has a single server (same result).
 *   - twemproxy hashes only the `hash_tag` part of a key when one is configured; not emulated.
 */

export type KetamaFlavor = 'twemproxy' | 'hashring';

export interface KetamaServer {
  /** The string hashed to place this server's points (see `ketamaServerName`). */
  name: string;
  /** Relative weight, > 0 (default 1). */
  weight?: number;
}

export interface KetamaOptions {
  /** How points per server are computed; see the module comment. Default 'twemproxy'. */
  flavor?: KetamaFlavor;
}

/** The default name a server is hashed by in libmemcached, twemproxy and npm memcached. */
export function ketamaServerName(host: string, port: number): string {
  return port === 11211 ? host : `${host}:${port}`;
}

/** The ketama hash of a key: md5, first 4 digest bytes little-endian, as a uint32. */
export function hashKey(key: string | Buffer): number {
  return md5First32(typeof key === 'string' ? Buffer.from(key) : key);
}

const TWEMPROXY_MAX_POINT_STRING = 85; // char host[KETAMA_MAX_HOSTLEN = 86] incl. the NUL

/** Number of points (a multiple of 4) a server of `weight` gets among `n` servers of `total` weight. */
export function ketamaPointCount(weight: number, total: number, n: number, flavor: KetamaFlavor = 'twemproxy'): number {
  if (flavor === 'hashring') return Math.floor((weight / total) * 40 * n) * 4;
  const f = Math.fround;
  const pct = f(f(weight) / f(total));
  // pct * KETAMA_POINTS_PER_SERVER / 4 * (float)n, every step in float, then + 1e-10 in double
  // and back to float.
  const groups = f(f(f(pct * 160) / 4) * f(n));
  return Math.floor(f(groups + 0.0000000001)) * 4;
}

export class KetamaRing {
  /** Point values, ascending. */
  readonly points: Uint32Array;
  /** owners[i] = index (into the constructor's `servers`) of the server owning points[i]. */
  readonly owners: Uint16Array;
  /** Points per server, by server index. */
  readonly pointCounts: readonly number[];
  readonly serverCount: number;

  constructor(servers: readonly KetamaServer[], options: KetamaOptions = {}) {
    const flavor = options.flavor ?? 'twemproxy';
    const n = servers.length;
    if (n === 0) throw new RangeError('KetamaRing needs at least one server');
    if (n > 0xffff) throw new RangeError(`KetamaRing supports at most 65535 servers, got ${n}`);
    let total = 0;
    for (const s of servers) {
      const w = s.weight ?? 1;
      if (!(w > 0) || !Number.isFinite(w)) throw new RangeError(`server ${s.name}: weight must be a positive number, got ${w}`);
      total += w;
    }
    const counts = servers.map((s) => ketamaPointCount(s.weight ?? 1, total, n, flavor));
    const size = counts.reduce((a, b) => a + b, 0);
    if (size === 0) throw new RangeError('KetamaRing: no server got any point (weights too uneven)');

    // value * 65536 + server index stays below 2^48, exact in a double: one numeric typed-array
    // sort orders by value, then by server index.
    const keyed = new Float64Array(size);
    let k = 0;
    for (let s = 0; s < n; s++) {
      const name = Buffer.from(servers[s].name);
      for (let g = 0; g < counts[s] / 4; g++) {
        let input = Buffer.concat([name, Buffer.from(`-${g}`)]);
        if (flavor === 'twemproxy' && input.length > TWEMPROXY_MAX_POINT_STRING) input = input.subarray(0, TWEMPROXY_MAX_POINT_STRING);
        const d = createHash('md5').update(input).digest();
        for (let j = 0; j < 4; j++) keyed[k++] = d.readUInt32LE(j * 4) * 65536 + s;
      }
    }
    keyed.sort();
    this.points = new Uint32Array(size);
    this.owners = new Uint16Array(size);
    for (let i = 0; i < size; i++) {
      const v = keyed[i];
      const owner = v % 65536;
      this.owners[i] = owner;
      this.points[i] = (v - owner) / 65536;
    }
    this.pointCounts = counts;
    this.serverCount = n;
  }

  /** Index of the first point >= `hash`, wrapping to 0. */
  pointFor(hash: number): number {
    const points = this.points;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  /** Index of the server owning the first point >= `hash` (wrapping to the first point). */
  serverForHash(hash: number): number {
    return this.owners[this.pointFor(hash)];
  }

  /** Index (into the constructor's `servers`) of the server that holds `key`. */
  serverFor(key: string | Buffer): number {
    return this.serverCount === 1 ? 0 : this.serverForHash(hashKey(key));
  }
}
