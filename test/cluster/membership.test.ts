import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { campaign, campaignUntilElected, currentLeader, joinAndStay, joinCluster, resign, type Membership } from '../../src/cluster/membership.js';
import { createLogger } from '../../src/core/log.js';
import { storeKinds } from '../helpers/etcd.js';
import { eventually } from '../helpers/router.js';

const settled = <T>(p: Promise<T>) => {
  const state = { done: false };
  p.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
};

for (const kind of storeKinds()) {
  describe(`membership and election: ${kind.name}`, { skip: kind.skip }, () => {
    it('members see each other join and leave; a node id is held by one live node', async (t) => {
      const { store, client, ttlMs } = await kind.open(t);
      const a = await joinCluster(store, { nodeId: 'a', info: { port: 9001 }, ttlMs });
      const changes: string[][] = [];
      a.on('change', (members) => changes.push([...members.keys()].sort()));
      const b = await joinCluster(await client(), { nodeId: 'b', info: { port: 9002 }, ttlMs });
      await eventually('a sees b', () => a.members().has('b'), 5000);
      assert.deepEqual(a.members().get('b'), { port: 9002 });
      assert.deepEqual([...b.members().keys()].sort(), ['a', 'b']);
      await assert.rejects(joinCluster(await client(), { nodeId: 'a', info: {}, ttlMs }), /node id a is taken/);
      await assert.rejects(joinCluster(store, { nodeId: 'bad/id', info: {}, ttlMs }), /must be non-empty/);

      await b.leave();
      await eventually('a sees b leave', () => !a.members().has('b'), 5000);
      assert.deepEqual(changes, [['a', 'b'], ['a']]);
      assert.equal(await store.get('nodes/b'), null, 'leaving deletes the registration');
      await a.leave();
      assert.equal(await store.get('nodes/a'), null);
    });

    it('a member whose lease runs out disappears from the others\' view', async (t) => {
      const { store, client, abandon, ttlMs } = await kind.open(t);
      const a = await joinCluster(store, { nodeId: 'a', info: {}, ttlMs: ttlMs * 6 });
      const bStore = await client();
      const b = await joinCluster(bStore, { nodeId: 'b', info: {}, ttlMs });
      await eventually('a sees b', () => a.members().has('b'), 5000);
      await abandon(bStore, ttlMs);
      await eventually('b gone from a\'s view', async () => {
        await store.get('nodes/b'); // lets the embedded store notice the clock moved
        return !a.members().has('b');
      }, 5000);
      await b.lost;
      assert.deepEqual([...a.members().keys()], ['a']);
      assert.equal(a.lease.isLost, false);
      await a.leave();
    });

    it('exactly one candidate wins; another wins once the leader resigns its lease', async (t) => {
      const { client, ttlMs } = await kind.open(t);
      const key = 'log/partitions/orders/0/leader';
      const candidates = await Promise.all(
        ['n1', 'n2', 'n3'].map(async (node) => {
          const store = await client();
          return { node, store, lease: await store.grantLease(ttlMs) };
        }),
      );
      const value = (node: string, epoch: number) => JSON.stringify({ node, epoch });
      const won = await Promise.all(candidates.map((c) => campaign(c.store, key, value(c.node, 1), c.lease)));
      assert.equal(won.filter(Boolean).length, 1, `one winner: ${won}`);
      const leader = candidates[won.indexOf(true)];
      const record = await currentLeader(leader.store, key);
      assert.equal(record?.value.toString(), value(leader.node, 1));
      assert.equal(record?.lease, leader.lease.id);

      const others = candidates.filter((c) => c !== leader);
      const abort = new AbortController();
      const waiting = others.map((c) => campaignUntilElected(c.store, key, value(c.node, 2), c.lease, abort.signal));
      const states = waiting.map(settled);
      assert.equal(await resign(others[0].store, key, others[0].lease), false, 'a non-leader cannot resign');
      assert.equal(await resign(leader.store, key, leader.lease), true);
      await eventually('a new leader', () => states.some((s) => s.done), 5000);
      const second = others[states.findIndex((s) => s.done)];
      assert.equal((await currentLeader(second.store, key))?.value.toString(), value(second.node, 2));
      assert.equal(states.filter((s) => s.done).length, 1, 'the other candidate still waits');
      abort.abort(new Error('test over'));
      await assert.rejects(waiting[states.findIndex((s) => !s.done)], /test over/);
    });

    it('a lasting membership joins again under a new lease when its lease is lost, until it leaves', { timeout: 20_000 }, async (t) => {
      const { store, ttlMs } = await kind.open(t);
      const member = await joinAndStay(store, { nodeId: 'n1', info: { port: 1 }, ttlMs }, createLogger('silent'), 10);
      const first = member.current;
      const rejoins: Array<[Membership<{ port: number }>, Membership<{ port: number }>]> = [];
      member.onRejoin((now, lost) => rejoins.push([now, lost]));
      await first.lease.revoke(); // as if it had run out
      await eventually('joined again', () => rejoins.length === 1, 5000);
      const [now, lost] = rejoins[0];
      assert.equal(lost, first);
      assert.equal(member.current, now);
      assert.notEqual(now.lease.id, first.lease.id);
      assert.equal(now.lease.isLost, false);
      assert.deepEqual(JSON.parse((await store.get('nodes/n1'))!.value.toString()), { port: 1 });
      assert.equal((await store.get('nodes/n1'))!.lease, now.lease.id);
      await member.leave();
      assert.equal(await store.get('nodes/n1'), null, 'leaving deletes the registration');
      assert.equal(rejoins.length, 1, 'no rejoin after leaving');
    });

    it('a campaign aborted while it is campaigning rejects with the abort\'s reason', { timeout: 20_000 }, async (t) => {
      const { client, ttlMs } = await kind.open(t);
      const key = 'log/partitions/orders/2/leader';
      const holder = await client();
      assert.equal(await campaign(holder, key, 'n1', await holder.grantLease(ttlMs * 6)), true);
      const other = await client();
      const abort = new AbortController();
      const waiting = campaignUntilElected(other, key, 'n2', await other.grantLease(ttlMs * 6), abort.signal);
      abort.abort(new Error('stopped mid-campaign')); // the first campaign attempt is in flight
      await assert.rejects(waiting, /stopped mid-campaign/);
    });

    it('another candidate wins when the leader\'s lease runs out', async (t) => {
      const { client, abandon, ttlMs } = await kind.open(t);
      const key = 'log/partitions/orders/1/leader';
      const leaderStore = await client();
      const leaderLease = await leaderStore.grantLease(ttlMs);
      assert.equal(await campaign(leaderStore, key, 'n1', leaderLease), true);
      const followerStore = await client();
      const followerLease = await followerStore.grantLease(ttlMs * 6);
      const elected = campaignUntilElected(followerStore, key, 'n2', followerLease);
      const state = settled(elected);
      await abandon(leaderStore, ttlMs);
      await eventually('the follower leads', async () => {
        await followerStore.get(key); // lets the embedded store notice the clock moved
        return state.done;
      }, 5000);
      await elected;
      assert.equal((await currentLeader(followerStore, key))?.value.toString(), 'n2');
      await leaderLease.lost;
    });
  });
}
