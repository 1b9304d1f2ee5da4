import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startLog } from './service-helper.js';
import type { LogRecord } from '../../src/log/client.js';
import { RpcError, RpcCode } from '../../src/net/rpc-frame.js';

async function take(it: AsyncIterable<LogRecord>, n: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  if (n === 0) return out;
  for await (const r of it) {
    out.push(r);
    if (out.length === n) break;
  }
  return out;
}

test('published records come back in order with their offsets, keys and timestamps', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('orders', { partitions: 3 });
  const producer = log.client.producer({ durability: 'fsync' });
  const acks = await Promise.all(
    Array.from({ length: 300 }, (_, i) => producer.publish('orders', `v${i}`, { key: `k${i % 7}`, timestamp: 1000 + i })),
  );
  // A key always lands on the same partition; offsets per partition count up from 0.
  const byPartition = new Map<number, number[]>();
  for (const [i, a] of acks.entries()) {
    assert.equal(acks.find((_, j) => j % 7 === i % 7)!.partition, a.partition);
    byPartition.set(a.partition, [...(byPartition.get(a.partition) ?? []), a.offset]);
  }
  for (const offsets of byPartition.values()) assert.deepEqual(offsets, offsets.map((_, i) => i));
  for (const [p, offsets] of byPartition) {
    const got = await take(log.client.consume('orders', { partition: p, from: 'earliest' }), offsets.length);
    assert.deepEqual(got.map((r) => r.offset), offsets);
    for (const r of got) {
      const i = Number(r.value!.toString().slice(1));
      assert.equal(r.key!.toString(), `k${i % 7}`);
      assert.equal(r.timestamp, 1000 + i);
    }
  }
  await producer.close();
});

test('consumers start at earliest, latest, an offset or a time', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  const producer = log.client.producer({ durability: 'none' });
  for (let i = 0; i < 10; i++) await producer.publish('events', `e${i}`, { timestamp: 10_000 + i * 100, partition: 0 });
  const values = (rs: LogRecord[]) => rs.map((r) => r.value!.toString());
  assert.deepEqual(values(await take(log.client.consume('events', { partition: 0, from: 'earliest' }), 10)), [...Array(10).keys()].map((i) => `e${i}`));
  assert.deepEqual(values(await take(log.client.consume('events', { partition: 0, from: { offset: 7 } }), 3)), ['e7', 'e8', 'e9']);
  assert.deepEqual(values(await take(log.client.consume('events', { partition: 0, from: { time: 10_450 } }), 5)), ['e5', 'e6', 'e7', 'e8', 'e9']);
  const latest = log.client.consume('events', { partition: 0, from: 'latest' })[Symbol.asyncIterator]();
  const next = latest.next();
  await new Promise((r) => setTimeout(r, 50));
  await producer.publish('events', 'after', { partition: 0 });
  assert.equal((await next).value!.value!.toString(), 'after');
  await latest.return?.();
});

test('all partitions of a topic can be consumed merged', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('merged', { partitions: 4 });
  const producer = log.client.producer();
  await Promise.all(Array.from({ length: 200 }, (_, i) => producer.publish('merged', String(i), { key: `k${i}` })));
  const got = await take(log.client.consume('merged', { from: 'earliest' }), 200);
  assert.deepEqual(got.map((r) => Number(r.value!.toString())).sort((a, b) => a - b), [...Array(200).keys()]);
  assert.ok(new Set(got.map((r) => r.partition)).size > 1, 'records spread over partitions');
});

test('unknown topics, bad partitions and bad names are refused with clear errors', async (t) => {
  const log = await startLog({ autoCreateTopics: false });
  t.after(() => log.stop());
  const producer = log.client.producer();
  await assert.rejects(producer.publish('nope', 'x', { partition: 0 }), (err: RpcError) => err.code === RpcCode.notFound && /nope/.test(err.message));
  await log.client.createTopic('one', { partitions: 1 });
  await assert.rejects(producer.publish('one', 'x', { partition: 5 }), (err: RpcError) => err.code === RpcCode.invalid && /partitions 0\.\.0/.test(err.message));
  await assert.rejects(log.client.createTopic('bad name!'), (err: RpcError) => err.code === RpcCode.invalid);
  await assert.rejects(log.client.createTopic('__mine'), (err: RpcError) => err.code === RpcCode.invalid && /reserved/.test(err.message));
  await assert.rejects(log.client.createTopic('one', { partitions: 2 }), (err: RpcError) => err.code === RpcCode.invalid && /exists with 1/.test(err.message));
});

test('a full producer buffer makes publish wait instead of growing', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('bp', { partitions: 1 });
  const producer = log.client.producer({ maxBufferedBytes: 64 * 1024, maxBatchBytes: 16 * 1024 });
  const value = Buffer.alloc(1000);
  let maxSeen = 0;
  const pending: Array<Promise<unknown>> = [];
  for (let i = 0; i < 2000; i++) {
    // Each publish is awaited only for room: the promise of its ack is kept.
    const p = producer.publish('bp', value);
    pending.push(p);
    maxSeen = Math.max(maxSeen, producer.bufferedBytes);
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(pending);
  assert.ok(maxSeen <= 64 * 1024 + 1100, `buffer stayed bounded (max ${maxSeen})`);
  const got = await take(log.client.consume('bp', { partition: 0, from: 'earliest' }), 2000);
  assert.equal(got.length, 2000);
});

test('records survive a restart of the service on the same directory', async (t) => {
  const first = await startLog();
  const dir = first.dir;
  await first.client.createTopic('durable', { partitions: 2 });
  const producer = first.client.producer({ durability: 'fsync' });
  await Promise.all(Array.from({ length: 100 }, (_, i) => producer.publish('durable', String(i), { key: String(i) })));
  await first.client.close();
  await first.service.close();
  const again = await startLog({ dataDir: dir } as never);
  t.after(() => again.stop());
  const got = await take(again.client.consume('durable', { from: 'earliest' }), 100);
  assert.deepEqual(got.map((r) => Number(r.value!.toString())).sort((a, b) => a - b), [...Array(100).keys()]);
});

test('durable-only consumers get records once they are on disk, also those published without fsync', async (t) => {
  const log = await startLog();
  t.after(() => log.stop());
  await log.client.createTopic('d', { partitions: 1 });
  const producer = log.client.producer({ durability: 'none' });
  const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => producer.publish('d', `v${i}`)));
  const got = await take(log.client.consume('d', { from: 'earliest', durableOnly: true, maxWaitMs: 200 }), 20);
  assert.deepEqual(got.map((r) => r.value!.toString()), Array.from({ length: 20 }, (_, i) => `v${i}`));
  const partition = log.service.broker.partitions.get('d/0')!;
  assert.ok(partition.log.durableOffset > acks[19].offset, 'what a durable-only consumer saw is on disk');
});
