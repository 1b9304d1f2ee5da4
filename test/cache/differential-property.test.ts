import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memcachedAndStrata, compareSteps } from '../helpers/peers.js';

/**
 * Random command sequences, valid and invalid, sent to memcached 1.6.18 and to Strata on one
 * connection each: the replies must be the same bytes. Time-dependent output (stats, me, delayed
 * flush) is left out, and so is `mn`, which the harness uses to frame replies; CAS values in requests never match a real CAS on either server.
 */

const key = fc.constantFrom('a', 'b', 'c', 'key:1', 'k'.repeat(250), 'k'.repeat(251));
const num = fc.oneof(
  fc.constantFrom('0', '1', '-1', '+5', '10', '4294967295', '4294967296', '18446744073709551615', '18446744073709551616', 'x', '1x', '2592000', '2592001'),
  fc.integer({ min: 0, max: 100000 }).map(String),
);
const smallTtl = fc.constantFrom('0', '100', '-1', '3000', 'abc');
const noreply = fc.constantFrom('', ' noreply', ' bogus');
const valueBytes = fc.oneof(
  fc.constantFrom('', '0', '42', '18446744073709551615', ' 7', 'hello', 'a\r\nb'),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')),
);

/** A storage command with a data block; sometimes the block is longer than announced (bad chunk). */
const storage = fc
  .tuple(fc.constantFrom('set', 'add', 'replace', 'append', 'prepend', 'cas'), key, num, smallTtl, valueBytes, fc.boolean(), noreply)
  .map(([cmd, k, flags, ttl, v, bad, nr]) => {
    const cas = cmd === 'cas' ? ' 999999999999' : '';
    const data = bad ? v + 'XY' : v;
    return `${cmd} ${k} ${flags} ${ttl} ${Buffer.byteLength(v, 'latin1')}${cas}${nr}\r\n${data}\r\n`;
  });

const retrieval = fc
  .tuple(fc.constantFrom('get', 'gets', 'gat 100', 'gats 0', 'gat x'), fc.array(key, { minLength: 0, maxLength: 4 }))
  .map(([cmd, keys]) => `${cmd}${keys.map((k) => ' ' + k).join('')}\r\n`);

const other = fc.oneof(
  fc.tuple(fc.constantFrom('incr', 'decr'), key, num, noreply).map(([c, k, n, nr]) => `${c} ${k} ${n}${nr}\r\n`),
  fc.tuple(key, fc.constantFrom('', ' 0', ' 10', ' 0 noreply', ' noreply', ' x y z')).map(([k, rest]) => `delete ${k}${rest}\r\n`),
  fc.tuple(key, smallTtl, noreply).map(([k, t, nr]) => `touch ${k} ${t}${nr}\r\n`),
  fc.constantFrom('flush_all\r\n', 'flush_all 0\r\n', 'flush_all noreply\r\n', 'flush_all x\r\n', 'version\r\n', 'verbosity 1\r\n', 'verbosity\r\n', 'bogus\r\n', '\r\n', 'GET a\r\n', 'x\r\n'),
);

const metaFlag = fc.constantFrom('v', 'k', 'c', 'f', 's', 't', 'h', 'q', 'O1', 'Oopaque', 'T30', 'T-1', 'N30', 'R30', 'u', 'b', 'I', 'F5', 'F-1', 'C999999999999', 'MS', 'ME', 'MA', 'MP', 'MR', 'MI', 'MD', 'M+', 'Mz', 'D5', 'J7', 'Dx', 'x', '!', 'S1', 'E5');
const metaFlags = fc.uniqueArray(metaFlag, { maxLength: 4, selector: (f) => f[0] }).map((fl) => fl.map((f) => ' ' + f).join(''));
const metaKey = fc.constantFrom('a', 'b', 'YQ==', 'Yg==', 'c', '!!');
const meta = fc.oneof(
  fc.tuple(fc.constantFrom('mg', 'md', 'ma'), metaKey, metaFlags).map(([c, k, f]) => `${c} ${k}${f}\r\n`),
  fc.tuple(metaKey, valueBytes, metaFlags).map(([k, v, f]) => `ms ${k} ${Buffer.byteLength(v, 'latin1')}${f}\r\n${v}\r\n`),
);

const command = fc.oneof({ weight: 3, arbitrary: storage }, { weight: 3, arbitrary: retrieval }, { weight: 2, arbitrary: other }, { weight: 3, arbitrary: meta });

const peers = memcachedAndStrata();

test('random command sequences get the same replies from Strata as from memcached', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 12 }), async (commands) => {
      const { expected, actual } = await compareSteps(peers, commands, 2000);
      assert.deepEqual(actual, expected, `commands: ${JSON.stringify(commands)}`);
    }),
    { numRuns: Number(process.env.STRATA_PROPERTY_RUNS ?? 150) },
  );
});
