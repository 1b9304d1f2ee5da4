import { before, after } from 'node:test';
import { startMemcached, type RealMemcached } from './memcached.js';
import { startStrataCache } from './strata.js';
import { TextSession, CasNormalizer } from './text-session.js';
import type { CacheService } from '../../src/cache/server.js';

/** Debian's memcached and Strata's cache, started before the file's tests and stopped after. */
export function memcachedAndStrata(): { memcached: RealMemcached; strata: CacheService } {
  const peers = {} as { memcached: RealMemcached; strata: CacheService };
  before(async () => {
    peers.memcached = await startMemcached();
    peers.strata = await startStrataCache();
  });
  after(async () => {
    await peers.memcached?.stop();
    await peers.strata?.close();
  });
  return peers;
}

/**
 * Send text-protocol steps one after another on one connection (after a flush_all) and return
 * each step's reply with CAS values normalized; `{CAS}` in a step is replaced by the last CAS
 * this server returned.
 */
export async function runSteps(port: number, steps: string[], timeoutMs = 3000): Promise<string[]> {
  const session = await TextSession.open(port);
  const cas = new CasNormalizer();
  const out: string[] = [];
  try {
    await session.send('flush_all\r\n');
    for (const step of steps) {
      const r = await session.send(Buffer.from(step.replaceAll('{CAS}', cas.last || '0'), 'latin1'), timeoutMs);
      out.push(cas.normalize(r.reply) + (r.closed ? '<closed>' : '') + (r.timedOut ? '<timeout>' : ''));
      if (r.closed || r.timedOut) break;
    }
  } finally {
    session.close();
  }
  return out;
}
