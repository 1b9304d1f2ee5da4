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

/**
 * Run the steps on both servers; if the replies differ, run them once more. memcached's clock
 * ticks on a once-a-second timer and Strata's follows the wall clock, so when a step's commands
 * straddle one server's tick and not the other's, a relative time (`t`, `la=`) can differ by one
 * second. That race does not repeat on the second try; a real difference does.
 */
export async function compareSteps(
  peers: { memcached: RealMemcached; strata: CacheService },
  steps: string[],
  timeoutMs = 3000,
): Promise<{ expected: string[]; actual: string[] }> {
  let expected: string[] = [];
  let actual: string[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    expected = await runSteps(peers.memcached.port, steps, timeoutMs);
    actual = await runSteps(peers.strata.port, steps, timeoutMs);
    if (JSON.stringify(expected) === JSON.stringify(actual)) break;
  }
  return { expected, actual };
}
