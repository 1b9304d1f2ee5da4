import { randomBytes } from 'node:crypto';
import { before, after } from 'node:test';
import { CacheClient } from '../../../src/router/client.js';
import { startMemcached, type RealMemcached } from '../../helpers/memcached.js';
import { startStrataCache } from '../../helpers/strata.js';
import type { CacheService } from '../../../src/cache/server.js';
import type { Clock } from '../../../src/core/clock.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A key no other test (or earlier run against the same server) uses. */
export const uniqueKey = (prefix: string): string => `${prefix}:${randomBytes(6).toString('hex')}`;

export interface Server {
  name: 'memcached' | 'strata';
  port: number;
}

/**
 * Debian's memcached and Strata's cache (optionally on a given clock), started before the file's
 * tests and stopped after; clients made with `client()` are closed after too.
 */
export function cacheServers(strataClock?: Clock): { servers: Server[]; client(server: Server): CacheClient } {
  const servers: Server[] = [];
  const clients: CacheClient[] = [];
  let memcached: RealMemcached | undefined;
  let strata: CacheService | undefined;
  before(async () => {
    memcached = await startMemcached();
    strata = await startStrataCache({}, strataClock);
    servers.push({ name: 'memcached', port: memcached.port }, { name: 'strata', port: strata.port });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await memcached?.stop();
    await strata?.close();
  });
  return {
    servers,
    client(server) {
      const c = CacheClient.create({ servers: [`127.0.0.1:${server.port}`] });
      clients.push(c);
      return c;
    },
  };
}

export const SERVER_NAMES = ['memcached', 'strata'] as const;
