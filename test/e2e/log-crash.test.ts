import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLogNode, type LogNode } from '../helpers/log-node.js';
import { freePort } from '../helpers/ports.js';
import { LogClient } from '../../src/log/client.js';
import { LATEST, LogMethod, encodeListOffsets } from '../../src/log/protocol.js';

const ROUNDS = 10;
const PRODUCERS = 4;
const PARTITIONS = 3;

/** Each producer publishes ids `p<producer>-<n>` to its own partition's share, recording what was acknowledged. */
async function produceUntilKilled(port: number, round: number, acked: Map<string, { partition: number; offset: number }>): Promise<void> {
  const client = await LogClient.connect({ port, retryTimeoutMs: 0 });
  const producers = Array.from({ length: PRODUCERS }, () => client.producer({ durability: 'fsync', maxBatchBytes: 8 * 1024 }));
  await Promise.all(
    producers.map(async (producer, i) => {
      for (let n = 0; ; n++) {
        const id = `r${round}-p${i}-${n}`;
        // A few publishes in flight at once, so kills land mid-batch.
        const batch = Array.from({ length: 8 }, (_, j) => `${id}-${j}`);
        const results = await Promise.allSettled(batch.map((v) => producer.publish('crash', v, { partition: (i + n) % PARTITIONS })));
        let failed = false;
        results.forEach((r, j) => {
          if (r.status === 'fulfilled') acked.set(batch[j], r.value);
          else failed = true;
        });
        if (failed) return;
      }
    }),
  );
  await client.close();
}

test('SIGKILL while producers publish with fsync acks: every acknowledged record survives exactly once, in order', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'strata-log-crash-'));
  const port = await freePort();
  let node: LogNode | null = null;
  t.after(async () => {
    await node?.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const acked = new Map<string, { partition: number; offset: number }>();
  node = await startLogNode({ dataDir, port });
  const setup = await LogClient.connect({ port });
  await setup.createTopic('crash', { partitions: PARTITIONS, segmentBytes: 64 * 1024 });
  await setup.close();
  for (let round = 0; round < ROUNDS; round++) {
    const producing = produceUntilKilled(port, round, acked);
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
    await node.kill();
    await producing;
    node = await startLogNode({ dataDir, port });
  }
  // Read every partition to its end and check.
  const client = await LogClient.connect({ port });
  t.after(() => client.close());
  const found = new Map<string, { partition: number; offset: number }>();
  for (let p = 0; p < PARTITIONS; p++) {
    const ac = new AbortController();
    const end = await endOffset(client, p);
    let expected = 0;
    if (end > 0) {
      for await (const r of client.consume('crash', { partition: p, from: 'earliest', signal: ac.signal })) {
        assert.equal(r.offset, expected++, 'offsets have no gaps');
        const id = r.value!.toString();
        assert.ok(!found.has(id), `${id} stored once`);
        found.set(id, { partition: p, offset: r.offset });
        if (r.offset === end - 1) ac.abort();
      }
    }
    assert.equal(expected, end, `partition ${p} reads to its end`);
  }
  t.diagnostic(`${ROUNDS} kills: ${acked.size} records acknowledged, ${found.size} stored`);
  assert.ok(acked.size > 500, `enough acknowledged records to mean something (${acked.size})`);
  for (const [id, where] of acked) assert.deepEqual(found.get(id), where, `acknowledged ${id} is where its ack said`);
  // Per producer and partition, records are in publish order.
  const last = new Map<string, number>();
  for (const [id, where] of [...found].sort((a, b) => a[1].partition - b[1].partition || a[1].offset - b[1].offset)) {
    const [round, producer, n, j] = id.split('-');
    const key = `${round}-${producer}-${where.partition}`;
    const seq = Number(n) * 8 + Number(j);
    assert.ok((last.get(key) ?? -1) < seq, `${id} after the previous record of its producer`);
    last.set(key, seq);
  }
});

async function endOffset(client: LogClient, partition: number): Promise<number> {
  const rpc = await client.leaderConnection('crash', partition);
  return (await rpc.call(LogMethod.listOffsets, encodeListOffsets('crash', partition, LATEST))).readUInt32LE(0);
}
