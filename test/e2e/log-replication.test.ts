import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEtcd, etcdMissing, type RealEtcd } from '../helpers/etcd.js';
import { startLogNode, type LogNode } from '../helpers/log-node.js';
import { freePort } from '../helpers/ports.js';
import { LogClient } from '../../src/log/client.js';

const PARTITIONS = 3;
const NODE_ARGS = ['--log-replicas', '3', '--log-session-ttl-ms', '3000', '--log-replica-lag-ms', '2000', '--log-offsets-partitions', '2', '--log-level', 'info'];

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('three brokers and etcd: the leader is killed under load, nothing acknowledged as replicated is lost', { skip: etcdMissing() }, async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'strata-log-repl-'));
  let etcd: RealEtcd | null = null;
  const nodes = new Map<string, LogNode>();
  t.after(async () => {
    for (const n of nodes.values()) await n.kill();
    await etcd?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  t.after(() => {
    if (!process.env.LOG_DEBUG) return;
    for (const [id, n] of nodes) for (const line of n.output().split('\n')) if (!line.includes('offsets not saved')) console.log(id, line.slice(0, 1500));
  });
  etcd = await startEtcd();
  const ports = new Map<string, number>();
  const start = async (id: string) => {
    if (!ports.has(id)) ports.set(id, await freePort());
    nodes.set(id, await startLogNode({ dataDir: path.join(root, id), port: ports.get(id), nodeId: id, etcd: etcd!.endpoint, args: NODE_ARGS }));
  };
  await Promise.all(['n1', 'n2', 'n3'].map(start));
  const brokers = [...ports.values()].map((port) => ({ host: '127.0.0.1', port }));
  const client = await LogClient.connect({ brokers, retryTimeoutMs: 20_000 });
  let producing = true;
  t.after(() => {
    producing = false; // also when the test fails early: the load loop must end
    return client.close();
  });
  await client.createTopic('orders', { partitions: PARTITIONS, replicas: 3 });

  // Load: producers with replicated acks, and a consumer group acknowledging what it gets.
  const acked = new Map<string, { partition: number; offset: number }>();
  const failed: string[] = [];
  const producer = client.producer({ durability: 'replicated', lingerMs: 1 });
  const load = (async () => {
    for (let n = 0; producing; n++) {
      const ids = Array.from({ length: 20 }, (_, j) => `m${n}-${j}`);
      const results = await Promise.allSettled(ids.map((id) => producer.publish('orders', id, { key: id })));
      results.forEach((r, j) => (r.status === 'fulfilled' ? acked.set(ids[j], r.value) : failed.push(ids[j])));
      if (results.every((r) => r.status === 'rejected')) await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const seen = new Map<string, number>();
  const consumerClient = await LogClient.connect({ brokers, retryTimeoutMs: 20_000 });
  t.after(() => consumerClient.close());
  const group = consumerClient.group('billing', { subscriptions: ['orders'], batch: 200, sessionTimeoutMs: 3000 });
  const consuming = (async () => {
    for await (const r of group) {
      const id = r.value!.toString();
      seen.set(id, (seen.get(id) ?? 0) + 1);
      r.ack();
    }
  })();

  await until(() => acked.size > 1500 && seen.size > 500, 'load to be under way');
  await client.refreshMetadata();
  const leader = client.topic('orders')!.partitionInfo[0].leader!;
  const ackedBeforeKill = acked.size;
  t.diagnostic(`killing ${leader}, the leader of orders/0, after ${ackedBeforeKill} acknowledged records`);
  await nodes.get(leader)!.kill();
  nodes.delete(leader);

  // Every partition gets a leader among the survivors, and writes go on.
  await until(async () => {
    await client.refreshMetadata();
    return client.topic('orders')!.partitionInfo.every((p) => p.leader && p.leader !== leader);
  }, 'new leaders for every partition');
  await until(() => acked.size > ackedBeforeKill + 1500, 'writes to go on after the failover');
  producing = false;
  await load;
  await producer.flush();
  t.diagnostic(`${acked.size} acknowledged, ${failed.length} failed (allowed: not acknowledged)`);

  // The consumer group resumes on the new coordinator from its committed offsets.
  await until(() => [...acked.keys()].every((id) => seen.has(id)), 'the group to see every acknowledged record');
  const redelivered = [...seen.values()].filter((n) => n > 1).length;
  t.diagnostic(`group saw ${seen.size} records, ${redelivered} more than once`);
  assert.ok(redelivered < acked.size / 4, `a failover redelivers only what was not yet committed (${redelivered})`);
  await group.close();
  await consuming;

  // The killed node comes back, catches up and rejoins every in-sync set.
  await start(leader);
  await until(async () => {
    await client.refreshMetadata();
    return client.topic('orders')!.partitionInfo.every((p) => p.isr.length === 3);
  }, 'the restarted node back in every ISR');

  // Read every partition from its leader: each acknowledged record is where its ack said.
  const stored = new Map<string, { partition: number; offset: number }>();
  for (let p = 0; p < PARTITIONS; p++) {
    const ac = new AbortController();
    const ends = Math.max(...[...acked.values()].filter((a) => a.partition === p).map((a) => a.offset));
    for await (const r of client.consume('orders', { partition: p, from: 'earliest', signal: ac.signal })) {
      stored.set(r.value!.toString(), { partition: p, offset: r.offset });
      if (r.offset >= ends) ac.abort();
    }
  }
  const lost = [...acked].filter(([id, where]) => stored.get(id)?.offset !== where.offset || stored.get(id)?.partition !== where.partition);
  assert.deepEqual(lost.slice(0, 5), [], `${lost.length} acknowledged records missing or moved`);
});
