import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memccapable, TIMEOUT_MS } from '../helpers/memccapable.js';
import { startStrataCache } from '../helpers/strata.js';

/**
 * libmemcached's conformance suite (Debian libmemcached-tools' memccapable), ascii (-a) and
 * binary (-b), against Strata with one thread and with two (worker threads on a shared store).
 */
for (const threads of [1, 2]) {
  for (const mode of ['-a', '-b'] as const) {
    test(`memccapable ${mode} passes every test against Strata with ${threads} thread(s)`, async () => {
      const cache = await startStrataCache({ threads });
      try {
        const run = await memccapable(cache.port, mode);
        assert.equal(run.timedOut, false, `memccapable did not finish within ${TIMEOUT_MS} ms:\n${run.out}`);
        assert.deepEqual([run.code, run.signal], [0, null], run.out);
        assert.match(run.out, /All tests passed/);
        assert.doesNotMatch(run.out, /\[(fail|skip)\]/);
        // 27 tests in each mode in libmemcached-tools 1.1.4 (Debian 12); a run that stops early has fewer.
        assert.equal(run.out.match(/\[pass\]/g)?.length ?? 0, 27, run.out);
      } finally {
        await cache.close();
      }
    });
  }
}
