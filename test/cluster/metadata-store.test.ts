import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { ManualClock } from '../../src/core/clock.js';
import { openEmbeddedStore } from '../../src/cluster/embedded-store.js';
import { openEtcdStore } from '../../src/cluster/etcd-store.js';
import { MetadataStoreError, type MetadataStore, type WatchEvent } from '../../src/cluster/metadata-store.js';
import { etcdMissing, startEtcd, storeKinds } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { eventually } from '../helpers/router.js';

const text = (b: Buffer | undefined) => b?.toString('utf8');

/** Collects watch events; `until(n)` polls until n have arrived. */
async function record(store: MetadataStore, prefix: string, afterRevision?: number) {
  const events: WatchEvent[] = [];
  const watcher = await store.watch(prefix, (ev) => events.push(ev), { afterRevision });
  return {
    events,
    watcher,
    until: (n: number) => eventually(`${n} watch events under ${prefix} (have ${events.length})`, () => events.length >= n, 5000),
  };
}

for (const kind of storeKinds()) {
  describe(`metadata store: ${kind.name}`, { skip: kind.skip }, () => {
    it('put, get, list and delete, with store-wide revisions', async (t) => {
      const { store } = await kind.open(t);
      assert.equal(await store.get('a/1'), null);
      const r1 = await store.put('a/2', 'two');
      const r2 = await store.put('a/1', Buffer.from([0, 1, 255]));
      const r3 = await store.put('b/1', 'other prefix');
      assert.ok(r1 < r2 && r2 < r3, `revisions rise: ${r1} ${r2} ${r3}`);
      const r4 = await store.put('a/2', 'two again');
      const kv = await store.get('a/2');
      assert.equal(text(kv?.value), 'two again');
      assert.equal(kv?.createRevision, r1);
      assert.equal(kv?.modRevision, r4);
      assert.equal(kv?.lease, undefined);
      assert.deepEqual((await store.get('a/1'))?.value, Buffer.from([0, 1, 255]));

      const listed = await store.list('a/');
      assert.deepEqual(listed.map((k) => [k.key, k.modRevision]), [['a/1', r2], ['a/2', r4]]);
      assert.deepEqual((await store.list('')).map((k) => k.key), ['a/1', 'a/2', 'b/1']);
      const snap = await store.snapshot('b/');
      assert.ok(snap.revision >= r4, `snapshot revision ${snap.revision} is at least the last write ${r4}`);
      assert.deepEqual(snap.kvs.map((k) => text(k.value)), ['other prefix']);

      assert.equal(await store.delete('a/1'), true);
      assert.equal(await store.delete('a/1'), false);
      assert.equal(await store.get('a/1'), null);
      const r5 = await store.put('a/1', 'back');
      assert.equal((await store.get('a/1'))?.createRevision, r5, 'a re-created key starts a new life');
      await assert.rejects(store.put('', 'x'), /non-empty/);
    });

    it('putIf and deleteIf compare the modRevision (0: absent)', async (t) => {
      const { store } = await kind.open(t);
      assert.equal(await store.putIf('k', 'first', 0), true);
      assert.equal(await store.putIf('k', 'second', 0), false, 'create-if-absent fails on an existing key');
      const rev = (await store.get('k'))!.modRevision;
      assert.equal(await store.putIf('k', 'stale', rev - 1), false);
      assert.equal(text((await store.get('k'))?.value), 'first');
      assert.equal(await store.putIf('k', 'second', rev), true);
      const rev2 = (await store.get('k'))!.modRevision;
      assert.ok(rev2 > rev);
      assert.equal(await store.deleteIf('k', rev), false, 'deleteIf with an old revision');
      assert.equal(await store.deleteIf('k', 0), false);
      assert.equal(await store.deleteIf('k', rev2), true);
      assert.equal(await store.get('k'), null);
      assert.equal(await store.deleteIf('k', rev2), false);
    });

    it('a watch still being set up when its store closes settles with a clear error, and nothing keeps running', { timeout: 20_000 }, async (t) => {
      const { client } = await kind.open(t);
      const store = await client();
      const pending = store.watch('w/', () => undefined);
      await store.close();
      const outcome = await pending.then(
        async (w) => {
          await w.close();
          return 'established';
        },
        (err: Error) => err.message,
      );
      // The embedded store sets a watch up at once; etcd's was cut off by the close.
      if (kind.name === 'etcd') assert.match(outcome, /closed/);
      await assert.rejects(store.watch('w/', () => undefined), /closed/);
    });

    it('watch delivers later changes under the prefix, in revision order, from every client', async (t) => {
      const { store, client } = await kind.open(t);
      const other = await client();
      await store.put('w/before', 'not seen');
      const seen = await record(store, 'w/');
      const revisions: number[] = [];
      revisions.push(await store.put('w/a', '1'));
      revisions.push(await other.put('w/b', '2'));
      await store.put('elsewhere', 'not seen');
      revisions.push(await store.put('w/a', '3'));
      await store.delete('w/b');
      revisions.push((await store.snapshot('w/')).revision);
      await seen.until(4);
      assert.deepEqual(
        seen.events.map((e) => (e.type === 'put' ? `put ${e.kv.key}=${text(e.kv.value)}@${e.kv.modRevision}` : `delete ${e.key}@${e.modRevision}`)),
        [`put w/a=1@${revisions[0]}`, `put w/b=2@${revisions[1]}`, `put w/a=3@${revisions[2]}`, `delete w/b@${revisions[3]}`],
      );
      await seen.watcher.close();
      await store.put('w/c', 'after close');
      await store.get('w/c');
      assert.equal(seen.events.length, 4, 'a closed watcher hears nothing more');
    });

    it('a watch from a snapshot revision misses nothing written in between', async (t) => {
      const { store } = await kind.open(t);
      await store.put('s/1', 'a');
      const snap = await store.snapshot('s/');
      const between = await store.put('s/2', 'b');
      const seen = await record(store, 's/', snap.revision);
      const later = await store.put('s/3', 'c');
      await seen.until(2);
      assert.deepEqual(
        seen.events.map((e) => e.type === 'put' && [e.kv.key, e.kv.modRevision]),
        [['s/2', between], ['s/3', later]],
      );
    });

    it('a watch callback may write to the store', async (t) => {
      const { store } = await kind.open(t);
      const echoed: string[] = [];
      await store.watch('ping/', (ev) => {
        if (ev.type === 'put') void store.put(`pong/${ev.kv.key.slice(5)}`, ev.kv.value);
      });
      await store.watch('pong/', (ev) => ev.type === 'put' && echoed.push(ev.kv.key));
      await store.put('ping/1', 'x');
      await store.put('ping/2', 'y');
      await eventually('both pongs', () => echoed.length === 2, 5000);
      assert.deepEqual(echoed, ['pong/1', 'pong/2']);
    });

    it('a lease keeps its keys while renewed and deletes them when it runs out', async (t) => {
      const { store, client, abandon, ttlMs } = await kind.open(t);
      const owner = await client();
      const lease = await owner.grantLease(ttlMs);
      assert.ok(lease.ttlMs >= ttlMs);
      await owner.put('l/a', 'leased', { lease });
      await owner.put('l/b', 'leased', { lease });
      await owner.put('l/kept', 'no lease');
      assert.equal((await store.get('l/a'))?.lease, lease.id);
      const seen = await record(store, 'l/');

      await abandon(owner, ttlMs);
      await eventually('leased keys deleted', async () => (await store.list('l/')).length === 1, 5000);
      assert.deepEqual((await store.list('l/')).map((k) => k.key), ['l/kept']);
      await seen.until(2);
      assert.deepEqual(seen.events.map((e) => e.type === 'delete' && e.key).sort(), ['l/a', 'l/b']);
      await lease.lost; // resolves, or the test times out
      assert.equal(lease.isLost, true);
    });

    it('revoking a lease deletes its keys at once; a lost lease cannot be used', async (t) => {
      const { store, ttlMs } = await kind.open(t);
      const lease = await store.grantLease(ttlMs);
      await store.put('r/a', '1', { lease });
      assert.equal(await store.putIf('r/b', '2', 0, { lease }), true);
      await store.put('r/b', 'rewritten without the lease');
      await lease.revoke();
      assert.equal(lease.isLost, true);
      await lease.lost;
      assert.equal(await store.get('r/a'), null);
      assert.equal(text((await store.get('r/b'))?.value), 'rewritten without the lease', 'a key rewritten without the lease stays');
      await assert.rejects(store.put('r/c', 'x', { lease }), (err: Error) => err instanceof MetadataStoreError && /lease .* not alive/.test(err.message));
      await lease.revoke(); // twice is harmless
    });

    it('a closed store refuses work and its leases are lost', async (t) => {
      const { client, ttlMs } = await kind.open(t);
      const store = await client();
      const lease = await store.grantLease(ttlMs);
      const watched: WatchEvent[] = [];
      await store.watch('', (ev) => watched.push(ev));
      await store.close();
      await store.close(); // twice is harmless
      await lease.lost;
      await assert.rejects(store.get('x'), /closed/);
      await assert.rejects(store.put('x', 'y'), /closed/);
    });
  });
}

describe('metadata store: embedded only', () => {
  const tempDir = (t: TestContext) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'strata-metadata-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it('survives a restart: keys, revisions and the revision counter; leased keys are gone', async (t) => {
    const dir = tempDir(t);
    const first = await openEmbeddedStore({ dir });
    await first.put('keep/1', 'one');
    const rev2 = await first.put('keep/2', Buffer.from([7, 8, 9]));
    const lease = await first.grantLease(60_000);
    await first.put('keep/1', 'leased now', { lease }); // rebinding a key to a lease: it goes with the lease
    const lastRevision = await first.put('owned', 'by a lease', { lease });
    await first.close();
    assert.equal(lease.isLost, true, 'closing the store loses its leases');

    const second = await openEmbeddedStore({ dir });
    t.after(() => second.close());
    assert.deepEqual(
      (await second.list('')).map((k) => [k.key, [...k.value], k.createRevision, k.modRevision]),
      [['keep/2', [7, 8, 9], rev2, rev2]],
    );
    assert.ok((await second.put('new', 'x')) > lastRevision, 'the revision counter continues');
    await assert.rejects(second.watch('', () => undefined, { afterRevision: 1 }), /no longer kept/);
  });

  it('a lease expires exactly at its TTL by the store clock, and only that lease', async (t) => {
    const dir = tempDir(t);
    const clock = new ManualClock();
    const store = await openEmbeddedStore({ dir, clock });
    t.after(() => store.close());
    const short = await store.grantLease(1000);
    const long = await store.grantLease(5000);
    await store.put('short', 's', { lease: short });
    await store.put('long', 'l', { lease: long });
    clock.advance(999);
    assert.notEqual(await store.get('short'), null, 'not expired before its TTL');
    clock.advance(1);
    assert.equal(await store.get('short'), null, 'expired at its TTL');
    assert.equal(short.isLost, true);
    assert.notEqual(await store.get('long'), null);
  });

  it('a lease on the system clock is kept alive past its TTL', async (t) => {
    const dir = tempDir(t);
    const store = await openEmbeddedStore({ dir });
    t.after(() => store.close());
    const lease = await store.grantLease(300);
    await store.put('alive', 'x', { lease });
    const until = Date.now() + 1000;
    await eventually('three TTLs to pass with the key present', async () => {
      assert.notEqual(await store.get('alive'), null, 'key lost while its lease was renewed');
      return Date.now() > until;
    });
    assert.equal(lease.isLost, false);
  });

  it('refuses a directory already open, and names the file it cannot read', async (t) => {
    const dir = tempDir(t);
    const store = await openEmbeddedStore({ dir });
    await assert.rejects(openEmbeddedStore({ dir }), /already open in this process/);
    await store.close();
    writeFileSync(path.join(dir, 'metadata.json'), '{"format":"strata-metadata","version":1,"revision":3,"keys":[{"key":"k"}]}');
    await assert.rejects(openEmbeddedStore({ dir }), (err: Error) => err instanceof MetadataStoreError && err.message.includes(path.join(dir, 'metadata.json')) && /bad key record/.test(err.message));
    writeFileSync(path.join(dir, 'metadata.json'), '{"revision":');
    await assert.rejects(openEmbeddedStore({ dir }), /cannot read .*metadata\.json/);
    writeFileSync(path.join(dir, 'LOCK'), '999999999\n'); // a dead process's lock is taken over
    rmSync(path.join(dir, 'metadata.json'));
    await (await openEmbeddedStore({ dir })).close();
    writeFileSync(path.join(dir, 'a-file'), '');
    const underAFile = path.join(dir, 'a-file', 'store');
    await assert.rejects(openEmbeddedStore({ dir: underAFile }), (err: Error) => err.message.startsWith(`embedded metadata store: cannot use directory ${underAFile}: ENOTDIR`));
  });
});

describe('metadata store: etcd only', { skip: etcdMissing() }, () => {
  it('keeps every key under its prefix', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const store = await openEtcdStore({ endpoints: [etcd.endpoint] });
    t.after(() => store.close());
    await store.put('nodes/n1', 'x');
    const raw = new Etcd3({ hosts: etcd.endpoint });
    t.after(() => raw.close());
    assert.deepEqual(Object.keys(await raw.getAll().strings()), ['/strata/nodes/n1']);
    await raw.put('/elsewhere').value('y');
    assert.deepEqual((await store.list('')).map((k) => k.key), ['nodes/n1']);
  });

  it('a lease is kept alive past its TTL, and lost soon after etcd dies', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const store = await openEtcdStore({ endpoints: [etcd.endpoint], timeoutMs: 500 });
    t.after(() => store.close());
    const lease = await store.grantLease(1000);
    await store.put('alive', 'x', { lease });
    const until = Date.now() + 2500;
    await eventually('2.5 TTLs to pass with the key present', async () => {
      assert.notEqual(await store.get('alive'), null, 'key lost while its lease was renewed');
      return Date.now() > until;
    });
    assert.equal(lease.isLost, false);

    etcd.kill();
    const killedAt = Date.now();
    await lease.lost;
    const after = Date.now() - killedAt;
    assert.ok(after <= 1500, `lost ${after} ms after etcd died (TTL 1000 ms)`);
    await assert.rejects(store.get('alive'), (err: Error) => err instanceof MetadataStoreError && err.message.startsWith(`etcd at ${etcd.endpoint}: get "/strata/alive":`));
  });

  it('says which endpoint it cannot reach', async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(openEtcdStore({ endpoints: [endpoint], timeoutMs: 1000 }), new RegExp(`cannot reach etcd at ${endpoint}`));
  });
});
