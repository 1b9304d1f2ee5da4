import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { startRouter, type TestRouter } from '../helpers/router.js';
import { runSteps } from '../helpers/peers.js';
import { CASES } from '../helpers/differential-cases.js';

/**
 * The cache's differential cases, sent to Debian's memcached directly and through `strata router`
 * (in front of another memcached): the router must be invisible, byte for byte, except where
 * listed below.
 */
let direct: RealMemcached;
let behind: RealMemcached;
let router: TestRouter;

before(async () => {
  direct = await startMemcached();
  behind = await startMemcached();
  router = await startRouter({ pools: { main: { servers: [`127.0.0.1:${behind.port}`] } }, route: 'main' });
});

after(async () => {
  await router?.close();
  await Promise.all([direct?.stop(), behind?.stop()]);
});

/** Where the router answers differently from memcached, and why. */
const ROUTER_DIFFERS: Record<string, string> = {
  'multiget with a key 251':
    'memcached 1.6.18 also drops the replies queued on the connection before the bad get line (a quirk); the router keeps them',
  'stats reset': 'the router answers stats itself, with its own counters; stats subcommands are not passed to the servers',
  'stats detail usage': 'the router answers stats itself, with its own counters; stats subcommands are not passed to the servers',
  'stats sizes': 'the router answers stats itself, with its own counters; stats subcommands are not passed to the servers',
};

for (const [name, steps] of CASES) {
  const why = ROUTER_DIFFERS[name];
  test(`through the router: ${name}`, { skip: why }, async () => {
    let expected: string[] = [];
    let actual: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      expected = await runSteps(direct.port, steps);
      actual = await runSteps(router.port, steps);
      if (JSON.stringify(expected) === JSON.stringify(actual)) break;
    }
    assert.deepEqual(actual, expected);
  });
}
