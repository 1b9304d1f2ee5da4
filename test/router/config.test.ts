import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRouterConfig } from '../../src/router/config.js';
import { ConfigError } from '../../src/core/errors.js';

const pools = { main: { servers: ['127.0.0.1:11211', '10.0.0.2:11212:3', { address: '[::1]:11213', weight: 2 }] }, g: { servers: ['127.0.0.1:1'] } };

test('a full configuration parses, servers named as libmemcached and twemproxy hash them', () => {
  const c = parseRouterConfig(JSON.stringify({
    pools,
    route: { type: 'prefix', routes: { 'a:': { type: 'failover', children: ['main', { type: 'pool', pool: 'main', choice: 1 }, 'g'], exptime: 5 } }, default: { type: 'shadow', main: 'main', shadow: 'g', fraction: 0.5 } },
  }));
  assert.deepEqual(c.pools.get('main')!.servers.map((s) => [s.host, s.port, s.weight, s.name]), [
    ['127.0.0.1', 11211, 1, '127.0.0.1'],
    ['10.0.0.2', 11212, 3, '10.0.0.2:11212'],
    ['::1', 11213, 2, '::1:11213'],
  ]);
  assert.equal(c.route.type, 'prefix');
});

test('every mistake is refused with where it is', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ pools, route: 'nope' }, /route: no pool named "nope"/],
    [{ pools: {}, route: 'x' }, /pools: at least one pool/],
    [{ pools: { p: { servers: [] } }, route: 'p' }, /pools\.p\.servers: expected a non-empty list/],
    [{ pools: { p: { servers: ['host'] } }, route: 'p' }, /pools\.p\.servers\[0\]: expected "host:port"/],
    [{ pools: { p: { servers: ['h:99999'] } }, route: 'p' }, /port out of range/],
    [{ pools: { p: { servers: ['h:1'], timeoutMs: -1 } }, route: 'p' }, /pools\.p\.timeoutMs: expected a number from 1/],
    [{ pools: { p: { servers: ['h:1'], colour: 1 } }, route: 'p' }, /unknown field "colour"/],
    [{ pools, route: { type: 'failover', children: [] } }, /route\.children: expected a non-empty list/],
    [{ pools, route: { type: 'replicated', children: ['main'], writes: 'maybe' } }, /route\.writes/],
    [{ pools, route: { type: 'pool', pool: 'g', choice: 1 } }, /route\.choice: pool g has only 1 servers/],
    [{ pools, route: { type: 'teleport' } }, /unknown route type "teleport"/],
    [{ pools, route: { type: 'shadow', main: 'main', shadow: 'g', fraction: 2 } }, /route\.fraction/],
    [{ pools }, /route: missing/],
  ];
  for (const [doc, message] of cases) {
    assert.throws(() => parseRouterConfig(JSON.stringify(doc)), (err: unknown) => err instanceof ConfigError && message.test(err.message), String(message));
  }
  assert.throws(() => parseRouterConfig('{ not json'), /not valid JSON/);
});
