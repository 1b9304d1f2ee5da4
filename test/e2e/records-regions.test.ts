import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdMissing } from '../helpers/etcd.js';
import { startRecordsCluster, waitForTabletOwners } from '../helpers/records-cluster.js';
import type { RecordResult } from '../../src/records/client.js';

async function eventually<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await get();
      if (ok(last)) return last;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${timeoutMs} ms; last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('three regions: replication, forwarding to the master, mastership migration after three remote writes', { skip: etcdMissing(), timeout: 120_000 }, async (t) => {
  const cluster = await startRecordsCluster(['west', 'central', 'east']);
  t.after(() => cluster.stop());
  const west = await cluster.client('west');
  const central = await cluster.client('central');
  const east = await cluster.client('east');

  await west.createTable({ name: 'users' });
  await waitForTabletOwners(west, 'users', ['west', 'central', 'east']);

  const w1 = await west.write('users', 'u1', { city: 'Seattle' });
  assert.deepEqual(w1, { version: '1.1', master: 'west' });
  const seen = await eventually('east sees the write', () => east.readAny('users', 'u1'), (r) => r.version === '1.1');
  assert.deepEqual(seen.value, { city: 'Seattle' });
  assert.equal(seen.region, 'east');

  // Writes from east go to the master (west); the third in a row moves the master to east.
  assert.deepEqual(await east.write('users', 'u1', { city: 'Boston' }), { version: '1.2', master: 'west' });
  assert.deepEqual(await east.write('users', 'u1', { n: 1 }), { version: '1.3', master: 'west' });
  assert.deepEqual(await east.write('users', 'u1', { n: 2 }), { version: '1.4', master: 'east' });
  assert.deepEqual(await east.write('users', 'u1', { n: 3 }), { version: '1.5', master: 'east' });

  const latest = await central.readLatest('users', 'u1');
  assert.equal(latest.version, '1.5');
  assert.deepEqual(latest.value, { city: 'Boston', n: 3 });
  // A write from west now goes to east.
  assert.deepEqual(await west.write('users', 'u1', { n: 4 }), { version: '1.6', master: 'east' });
  assert.equal((await west.readCritical('users', 'u1', '1.6')).version, '1.6');

  // Test-and-set across regions: exactly one of two racing writers on one version wins.
  const racers = await Promise.allSettled([west.testAndSetWrite('users', 'u1', '1.6', { by: 'west' }), central.testAndSetWrite('users', 'u1', '1.6', { by: 'central' })]);
  assert.equal(racers.filter((r) => r.status === 'fulfilled').length, 1);

  for (const c of [west, central, east]) {
    const r: RecordResult = await eventually('every region converges', () => c.readAny('users', 'u1'), (x) => x.version === '1.7');
    assert.equal(r.master, 'east');
  }
});
