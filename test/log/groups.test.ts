import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startLog } from './service-helper.js';
import { LogClient, type GroupConsumer } from '../../src/log/client.js';
import { assignPartitions } from '../../src/log/group-assignment.js';

/** Run a member in the background: collects (and acks) what it gets until stopped. */
function runMember(group: GroupConsumer, seen: Map<string, number>, opts: { ack?: boolean; onRecord?: () => void } = {}) {
  let stop = false;
  const done = (async () => {
    for await (const r of group) {
      const id = r.value!.toString();
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (opts.ack !== false) r.ack();
      opts.onRecord?.();
      if (stop) break;
    }
  })();
  return {
    async stop() {
      stop = true;
      await group.close();
      await done;
    },
    done,
  };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('assignment gives each partition to exactly one member whose patterns match', () => {
  const plan = assignPartitions(
    [
      { id: 'b', patterns: ['orders.*'] },
      { id: 'a', patterns: ['orders.*', 'logs.>'] },
      { id: 'c', patterns: ['logs.>'] },
    ],
    [
      { name: 'orders.eu', partitions: 3 },
      { name: 'logs.web.access', partitions: 2 },
      { name: 'other', partitions: 2 },
    ],
  );
  const all = [...plan.values()].flat().map((r) => `${r.topic}/${r.partition}`).sort();
  assert.deepEqual(all, ['logs.web.access/0', 'logs.web.access/1', 'orders.eu/0', 'orders.eu/1', 'orders.eu/2']);
  assert.ok(plan.get('c')!.every((r) => r.topic.startsWith('logs.')));
  assert.ok(plan.get('b')!.every((r) => r.topic === 'orders.eu'));
  const sizes = [...plan.values()].map((v) => v.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced: ${sizes}`);
});

test('members joining and leaving during consumption: every record exactly once', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('jobs', { partitions: 6 });
  const producer = log.client.producer({ durability: 'fsync', lingerMs: 2 });
  const total = 3000;
  const seen = new Map<string, number>();
  let received = 0;
  const count = () => received++;
  const clients = await Promise.all([1, 2, 3].map(() => LogClient.connect({ port: log.service.port })));
  t.after(() => Promise.all(clients.map((c) => c.close())));
  const m1 = runMember(clients[0].group('workers', { subscriptions: ['jobs'], batch: 50 }), seen, { onRecord: count });
  const publishing = (async () => {
    for (let i = 0; i < total; i++) {
      await producer.publish('jobs', String(i), { key: String(i) });
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
    }
  })();
  await until(() => received >= 500, '500 records');
  const m2 = runMember(clients[1].group('workers', { subscriptions: ['jobs'], batch: 50 }), seen, { onRecord: count });
  await until(() => received >= 1200, '1200 records');
  const m3 = runMember(clients[2].group('workers', { subscriptions: ['jobs'], batch: 50 }), seen, { onRecord: count });
  await until(() => received >= 1800, '1800 records');
  await m1.stop();
  await publishing;
  await until(() => seen.size === total, `all ${total} records (have ${seen.size})`);
  await m2.stop();
  await m3.stop();
  const dupes = [...seen].filter(([, n]) => n > 1);
  assert.deepEqual(dupes, [], 'no record delivered twice');
});

test('a member that dies or stops acknowledging: its records are delivered again, none lost', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('tasks', { partitions: 4 });
  const producer = log.client.producer();
  const total = 1000;
  await Promise.all(Array.from({ length: total }, (_, i) => producer.publish('tasks', String(i), { key: String(i) })));
  const seen = new Map<string, number>();
  // The first member takes records and never acknowledges; then its process "dies" (connection drops).
  const doomed = await LogClient.connect({ port: log.service.port });
  const silent = doomed.group('crew', { subscriptions: ['tasks'], ackWaitMs: 60_000, batch: 100 });
  const it = silent[Symbol.asyncIterator]();
  const unacked = new Set<string>();
  for (let i = 0; i < 150; i++) unacked.add((await it.next()).value!.value!.toString());
  // A second member that stops acknowledging after a while, with a short ack wait.
  const lazyClient = await LogClient.connect({ port: log.service.port });
  t.after(() => lazyClient.close());
  const lazySeen = new Map<string, number>();
  let lazyCount = 0;
  const lazy = runMember(lazyClient.group('crew', { subscriptions: ['tasks'], ackWaitMs: 300, batch: 20 }), lazySeen, { ack: false, onRecord: () => lazyCount++ });
  await until(() => lazyCount >= 20, 'the lazy member to get records');
  await doomed.close(); // no leave: the broker notices the connection drop
  const goodClient = await LogClient.connect({ port: log.service.port });
  t.after(() => goodClient.close());
  const good = runMember(goodClient.group('crew', { subscriptions: ['tasks'], batch: 100 }), seen);
  await until(() => seen.size > 0, 'records at the good member');
  // Redeliveries go to a partition's owner: the lazy member gets its own again until it leaves.
  const lazyBefore = lazyCount;
  await until(() => lazyCount > lazyBefore + 20, 'redeliveries to the lazy member');
  await lazy.stop();
  await until(() => seen.size === total, `every record at the good member (have ${seen.size})`);
  await good.stop();
  assert.ok([...unacked].every((id) => seen.has(id)), 'the dead member\'s records were redelivered');
  assert.ok([...lazySeen.keys()].some((id) => seen.has(id)), 'the lazy member\'s unacknowledged records were redelivered');
});

test('committed offsets survive a restart: a new member goes on where the group was', async (t) => {
  const first = await startLog();
  await first.client.createTopic('ledger', { partitions: 2 });
  const producer = first.client.producer();
  await Promise.all(Array.from({ length: 400 }, (_, i) => producer.publish('ledger', String(i), { key: String(i) })));
  const seen = new Map<string, number>();
  let n = 0;
  for await (const r of first.client.group('audit', { subscriptions: ['ledger'], batch: 10 })) {
    seen.set(r.value!.toString(), 1);
    r.ack();
    if (++n === 150) break; // close(): acks flushed, unprocessed records released, offsets saved
  }
  await first.client.close();
  await first.service.close();
  const again = await startLog({ dataDir: first.dir } as never);
  t.after(() => again.stop());
  const rest = new Map<string, number>();
  for await (const r of again.client.group('audit', { subscriptions: ['ledger'], batch: 10 })) {
    rest.set(r.value!.toString(), (rest.get(r.value!.toString()) ?? 0) + 1);
    r.ack();
    if (rest.size + seen.size >= 400) break;
  }
  assert.deepEqual([...rest.keys()].filter((k) => seen.has(k)), [], 'nothing acknowledged before the restart came again');
  assert.equal(rest.size + seen.size, 400);
});

test('wildcard subscriptions follow topics, including ones created later', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  const producer = log.client.producer();
  for (const topic of ['orders.eu', 'orders.us', 'orders.eu.returns', 'logs.web', 'logs.web.access', 'misc']) await producer.publish(topic, topic);
  const got = (patterns: string[], n: number) =>
    (async () => {
      const out: string[] = [];
      for await (const r of log.client.group(`g-${patterns.join().replace(/[^a-z]/g, '')}`, { subscriptions: patterns })) {
        out.push(r.value!.toString());
        r.ack();
        if (out.length === n) break;
      }
      return out.sort();
    })();
  assert.deepEqual(await got(['orders.*'], 2), ['orders.eu', 'orders.us']);
  assert.deepEqual(await got(['logs.>'], 2), ['logs.web', 'logs.web.access']);
  const later = got(['new.*'], 1);
  await new Promise((r) => setTimeout(r, 100));
  await producer.publish('new.topic', 'fresh');
  assert.deepEqual(await later, ['fresh']);
});
