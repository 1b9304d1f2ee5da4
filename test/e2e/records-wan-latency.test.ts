import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdMissing } from '../helpers/etcd.js';
import { startRecordsCluster, waitForTabletOwners } from '../helpers/records-cluster.js';
import { ReadYourWrites } from '../../src/records/client.js';

const ONE_WAY_MS = 100;

async function timed<T>(samples: number[], fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const out = await fn();
  samples.push(performance.now() - start);
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * With a 100 ms one-way delay between regions: writes to records mastered locally and read-any
 * never cross the WAN (their median stays under one one-way delay); writes to a record mastered
 * in another region pay at least one round trip (the proxy makes that a hard lower bound); after
 * three writes from east a record's master moves there and east's writes become local.
 */
test('WAN delay: local writes and read-any stay local, remote-mastered writes pay a round trip, migration makes them local', { skip: etcdMissing(), timeout: 180_000 }, async (t) => {
  const cluster = await startRecordsCluster(['west', 'east']);
  t.after(() => cluster.stop());
  const west = await cluster.client('west');
  const east = await cluster.client('east');
  await west.createTable({ name: 'users', homeRegion: 'west' });
  await waitForTabletOwners(west, 'users', ['west', 'east']);
  for (let i = 0; i < 10; i++) await west.write('users', `w${i}`, { i });
  await east.write('users', 'warm-up', { x: 1 });
  cluster.setDelay(ONE_WAY_MS);

  const localWrites: number[] = [];
  for (let i = 0; i < 15; i++) await timed(localWrites, () => west.write('users', `w${i % 10}`, { n: i }));
  const readAny: number[] = [];
  for (let i = 0; i < 15; i++) await timed(readAny, () => east.readAny('users', `w${i % 10}`));
  const remoteWrites: number[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await timed(remoteWrites, () => east.write('users', `w${i}`, { from: 'east' }));
    assert.equal(r.master, 'west');
  }
  const readLatest: number[] = [];
  for (let i = 0; i < 5; i++) await timed(readLatest, () => east.readLatest('users', `w${i}`));

  // The mover: created in west, then written from east three times: its master moves to east.
  await west.write('users', 'mover', { home: 'west' });
  const masters: string[] = [];
  for (let i = 0; i < 3; i++) masters.push((await east.write('users', 'mover', { step: i })).master);
  assert.deepEqual(masters, ['west', 'west', 'east']);
  const movedWrites: number[] = [];
  for (let i = 0; i < 15; i++) await timed(movedWrites, () => east.write('users', 'mover', { after: i }));

  // Read-your-writes across regions: a user's write in west, then a read in east (whose copy lags
  // by at least the one-way delay) through the session cookie returns that write or newer.
  for (let i = 0; i < 5; i++) {
    const inWest = ReadYourWrites.fromCookie(west, undefined);
    const written = await inWest.write('users', `ryw${i}`, { i });
    const inEast = ReadYourWrites.fromCookie(east, inWest.toCookie());
    const read = await inEast.read('users', `ryw${i}`);
    assert.equal(read.version, written.version);
    assert.deepEqual(read.value, { i });
  }

  const figures = {
    oneWayDelayMs: ONE_WAY_MS,
    medianMs: { localWrite: median(localWrites), readAny: median(readAny), remoteWrite: median(remoteWrites), readLatestRemote: median(readLatest), writeAfterMigration: median(movedWrites) },
  };
  t.diagnostic(JSON.stringify(figures));
  assert.ok(Math.min(...remoteWrites) >= 2 * ONE_WAY_MS, `a remote-mastered write took less than a round trip: ${JSON.stringify(figures)}`);
  assert.ok(Math.min(...readLatest) >= 2 * ONE_WAY_MS, `a remote read-latest took less than a round trip: ${JSON.stringify(figures)}`);
  assert.ok(figures.medianMs.localWrite < ONE_WAY_MS, `local writes crossed the WAN: ${JSON.stringify(figures)}`);
  assert.ok(figures.medianMs.readAny < ONE_WAY_MS, `read-any crossed the WAN: ${JSON.stringify(figures)}`);
  assert.ok(figures.medianMs.writeAfterMigration < ONE_WAY_MS, `writes after migration still crossed the WAN: ${JSON.stringify(figures)}`);
});
