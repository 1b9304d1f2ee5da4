import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { createLogger } from '../../src/core/log.js';
import { ManualClock } from '../../src/core/clock.js';
import { LocalStore } from '../../src/records/local-store.js';
import { StorageUnit, nextMaster, type Mutation } from '../../src/records/storage-unit.js';
import { resolveTableRequest } from '../../src/records/table-def.js';
import type { StoredRecord } from '../../src/records/record-codec.js';

const defaults = { region: 'west', partitions: 2, tablets: 2 };

function unit(t: { after(fn: () => Promise<void>): void }, publish: (r: StoredRecord) => Promise<void> = async () => {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-su-'));
  const store = LocalStore.open(dir);
  const published: StoredRecord[] = [];
  const su = new StorageUnit('west', store, async (_def, _key, r) => {
    await publish(r);
    published.push(r);
  }, new ManualClock(), createLogger('silent'));
  t.after(async () => {
    su.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { su, published };
}

const write = (fields: Record<string, unknown> | null, over: Partial<Mutation> = {}): Mutation => ({ fields, replace: false, ifVersion: null, origin: 'west', ...over });

test('a record whose versions are used up refuses the next write instead of hanging', async (t) => {
  const { su } = unit(t);
  const def = resolveTableRequest({ name: 't' }, defaults);
  su.apply(def, 'k', { gen: 1, ver: 0xffffffff, master: 'west', origins: [], deleted: false, writtenAt: 1, expiresAt: 0, fieldsJson: Buffer.from('{}') });
  await assert.rejects(su.write(def, 'k', write({ a: 1 })), /used up its versions/);
  await assert.rejects(su.write(def, 'k', write(null)), /used up its versions/);
  assert.equal((await su.write(def, 'other', write({ a: 1 }))).kind, 'ok');
});

test('versions: writes to one key get consecutive versions in call order, a delete ends a generation, a field named __proto__ is kept', async (t) => {
  const { su, published } = unit(t, () => new Promise((r) => setTimeout(r, Math.random() * 5)));
  const def = resolveTableRequest({ name: 't' }, defaults);
  const outs = await Promise.all([1, 2, 3, 4].map((i) => su.write(def, 'k', write({ i }))));
  assert.deepEqual(outs.map((o) => (o.kind === 'ok' ? `${o.record.gen}.${o.record.ver}` : o.kind)), ['1.1', '1.2', '1.3', '1.4']);
  // Published concurrently (each built on the one before): any order, each version once.
  assert.deepEqual(published.map((r) => r.ver).sort(), [1, 2, 3, 4]);
  assert.deepEqual(JSON.parse(published.find((r) => r.ver === 4)!.fieldsJson.toString()), { i: 4 });
  assert.equal((await su.write(def, 'k', write(null))).kind, 'ok');
  assert.equal((await su.write(def, 'k', write(null))).kind, 'absent');
  const again = await su.write(def, 'k', write(JSON.parse('{"__proto__": 5, "x": 1}') as Record<string, unknown>));
  assert.ok(again.kind === 'ok');
  assert.equal(`${again.record.gen}.${again.record.ver}`, '2.1');
  assert.deepEqual(JSON.parse(again.record.fieldsJson.toString()), JSON.parse('{"__proto__": 5, "x": 1}'));
  assert.equal((await su.write(def, 'k', write({ y: 1 }, { ifVersion: [1, 4] }))).kind, 'conflict');
  assert.equal((await su.write(def, 'new', write({ y: 1 }, { ifVersion: [0, 3] }))).kind, 'conflict');
  assert.equal((await su.write(def, 'new', write({ y: 1 }, { ifVersion: [0, 0] }))).kind, 'ok');
});

test('mastership: pinned tables stay put; otherwise the master moves after N consecutive writes from one other region', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('west', 'east', 'asia'), { maxLength: 30 }), fc.integer({ min: 0, max: 5 }), fc.boolean(), (origins, n, pinned) => {
      const def = resolveTableRequest({ name: 't', mastership: { migrateAfter: n, ...(pinned ? { pinned: 'asia' } : {}) } }, defaults);
      let master = pinned ? 'asia' : 'west';
      let recent: string[] = [];
      for (const o of origins) {
        recent = [...recent, o].slice(-Math.max(n, 1));
        const next = nextMaster(def, master, recent);
        if (pinned) assert.equal(next, 'asia');
        else if (next !== master) {
          assert.ok(n > 0 && recent.length === n && recent.every((r) => r === next), `moved to ${next} after ${recent}`);
        } else if (n > 0 && recent.length === n && recent.every((r) => r === recent[0])) assert.equal(recent[0], master);
        master = next;
      }
    }),
  );
});

test('local store: the split check counts a tablet in chunks, and the table size without a walk', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-ls-'));
  const store = LocalStore.open(dir);
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const keys = Array.from({ length: 250 }, (_, i) => `k${String(i).padStart(4, '0')}`);
  await Promise.all(keys.map((k) => store.put('tbl', k, Buffer.from('v'))));
  assert.equal(store.entryCount('tbl'), 250);
  // [k0050, k0150) holds 100 keys; chunks of 7 and 100 must agree with the plain count on every limit
  assert.equal(store.count('tbl', 'k0050', 'k0150'), 100);
  for (const chunk of [7, 100, 1000]) {
    for (const limit of [0, 6, 7, 99, 100, 101]) {
      assert.equal(await store.holdsMoreThan('tbl', 'k0050', 'k0150', limit, chunk), 100 > limit, `chunk ${chunk}, limit ${limit}`);
    }
  }
  assert.equal(await store.holdsMoreThan('tbl', 'k0200', '', 49, 7), true, 'an open end: 50 keys');
  assert.equal(await store.holdsMoreThan('tbl', 'k0200', '', 50, 7), false);
});
