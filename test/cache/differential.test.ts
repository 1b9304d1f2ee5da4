import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memcachedAndStrata, compareSteps } from '../helpers/peers.js';
import { CASES } from '../helpers/differential-cases.js';

/**
 * The same command sequences go to Debian's memcached 1.6.18 and to Strata; the replies must be
 * the same bytes (CAS values compared by identity, see CasNormalizer). A case is a list of steps
 * sent one after another on one connection; `{CAS}` in a step is replaced by the last CAS that
 * server returned.
 */
const peers = memcachedAndStrata();

for (const [name, steps] of CASES) {
  test(`differential: ${name}`, async () => {
    const { expected, actual } = await compareSteps(peers, steps);
    assert.deepEqual(actual, expected);
  });
}
