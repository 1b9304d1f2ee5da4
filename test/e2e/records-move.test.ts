import { test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdMissing } from '../helpers/etcd.js';
import { compareVersions, parseVersion } from '../../src/records/version.js';
import { startRecordsCluster, waitForTabletOwners } from '../helpers/records-cluster.js';
import type { RecordsClient } from '../../src/records/client.js';

const cmp = (a: string, b: string) => compareVersions(parseVersion(a), parseVersion(b));

test('moving every tablet of a region to the other node under writes from two regions loses no acknowledged write', { skip: etcdMissing(), timeout: 180_000 }, async (t) => {
  const cluster = await startRecordsCluster(['west', 'east'], { nodesPerRegion: 2 });
  t.after(() => cluster.stop());
  const west = await cluster.client('west');
  const east = await cluster.client('east');
  await west.createTable({ name: 'm', homeRegion: 'west' });
  await waitForTabletOwners(west, 'm', ['west', 'east']);
  const before = (await west.tables()).tables.find((x) => x.def.name === 'm')!;

  // Writers: each key's highest acknowledged version and its value.
  const acked = new Map<string, { version: string; value: number }>();
  const unknown = new Set<string>();
  let stop = false;
  let seq = 0;
  const writer = async (c: RecordsClient, prefix: string) => {
    while (!stop) {
      const key = `${prefix}${seq % 20}`;
      const value = seq++;
      try {
        const w = await c.write('m', key, { value }, { replace: true });
        const known = acked.get(key);
        if (!known || cmp(w.version, known.version) > 0) acked.set(key, { version: w.version, value });
      } catch {
        unknown.add(key);
      }
    }
  };
  const writers = [writer(west, 'w'), writer(east, 'e'), writer(east, 'w')];
  const writesReach = async (n: number) => {
    for (let i = 0; seq < n; i++) {
      assert.ok(i < 600, `writes stalled at ${seq}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await writesReach(60);

  for (const tablet of before.tablets) {
    const to = tablet.owners.west === 'west-1' ? 'west-2' : 'west-1';
    await west.moveTablet('m', tablet.id, to);
    for (let i = 0; ; i++) {
      const tb = (await west.tables()).tables.find((x) => x.def.name === 'm')!.tablets.find((x) => x.id === tablet.id)!;
      if (!tb.moving && tb.owners.west === to) break;
      assert.ok(i < 600, `tablet ${tablet.id} did not finish moving: ${JSON.stringify(tb)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await writesReach(seq + 30);
  stop = true;
  await Promise.all(writers);
  assert.ok(acked.size >= 30, `only ${acked.size} keys written`);
  for (const [key, a] of acked) {
    const r = await west.readLatest('m', key);
    assert.ok(cmp(r.version!, a.version) >= 0, `${key}: read ${r.version} after ${a.version} was acknowledged`);
    if (!unknown.has(key) && r.version === a.version) assert.deepEqual(r.value, { value: a.value });
    const any = await west.readAny('m', key);
    assert.ok(any.version !== null, `${key}: west's new node has no copy`);
  }
  t.diagnostic(`keys ${acked.size}, writes ${seq}, unknown outcomes on ${unknown.size} keys`);
});
