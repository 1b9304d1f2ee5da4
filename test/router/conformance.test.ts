import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memccapable, TIMEOUT_MS } from '../helpers/memccapable.js';
import { startMemcached } from '../helpers/memcached.js';
import { startStrataCache } from '../helpers/strata.js';
import { startRouter } from '../helpers/router.js';

/** libmemcached's ascii conformance suite through `strata router`, in front of memcached and of Strata's cache, each a pool of two. */
for (const peer of ['memcached', 'strata'] as const) {
  test(`memccapable -a passes every test through the router in front of ${peer}`, async () => {
    const nodes = peer === 'memcached' ? [await startMemcached(), await startMemcached()] : [await startStrataCache(), await startStrataCache()];
    const stops = nodes.map((n) => ('stop' in n ? () => n.stop() : () => n.close()));
    const router = await startRouter({ pools: { main: { servers: nodes.map((n) => `127.0.0.1:${n.port}`) } }, route: 'main' });
    try {
      const run = await memccapable(router.port, '-a');
      assert.equal(run.timedOut, false, `memccapable did not finish within ${TIMEOUT_MS} ms:\n${run.out}`);
      assert.deepEqual([run.code, run.signal], [0, null], run.out);
      assert.equal(run.out.match(/\[pass\]/g)?.length ?? 0, 27, run.out);
      assert.doesNotMatch(run.out, /\[(fail|skip)\]/);
    } finally {
      await router.close();
      await Promise.all(stops.map((s) => s()));
    }
  });
}
