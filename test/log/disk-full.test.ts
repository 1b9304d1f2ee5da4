// The log service when its disk fills up: producers get a storage error saying so, the server
// keeps running, every acknowledged record survives (in order, once) across a restart, and
// publishing works again once space is freed. Needs root (a 2 MB tmpfs is mounted); skipped
// otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { startLogService, type LogService, type LogSettings } from '../../src/log/service.js';
import { RpcClient } from '../../src/net/rpc-client.js';
import { RpcCode, RpcError } from '../../src/net/rpc-frame.js';
import { LogMethod, ProduceBatch, decodeFetchReply, decodeProduceReply, encodeFetch, encodeJson, encodeProduce } from '../../src/log/protocol.js';
import { decodeFrame, frames } from '../../src/storage/record.js';

function settings(dataDir: string): LogSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    httpPort: -1,
    dataDir,
    nodeId: 'disk-full',
    etcd: [],
    autoCreateTopics: true,
    maxConnections: 100,
    offsetsPartitions: 1,
    sessionTtlMs: 5000,
    replicaLagMs: 10_000,
    minInsync: 1,
    defaults: { partitions: 1, replicas: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 256 * 1024, tombstoneRetentionMs: 60_000 },
  };
}

/** Cleanups run last-registered first (stop the service before unmounting its disk). */
function cleanups(t: { after(fn: () => unknown): void }): (fn: () => unknown) => void {
  const stack: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of stack.reverse()) await fn();
  });
  return (fn) => stack.push(fn);
}

function sh(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Mount a 2 MB tmpfs; null (with the reason) when this machine cannot. */
function mountSmallTmpfs(defer: (fn: () => unknown) => void): { dir: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-disk-full-'));
  if (!sh('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir])) {
    rmSync(dir, { recursive: true, force: true });
    return 'mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)';
  }
  defer(() => {
    sh('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir };
}

/**
 * Keep the embedded metadata store off the small disk (a bind mount from the ordinary temp dir),
 * so this test is about the partition logs only; the next test covers the store on a full disk.
 */
function bindMetadataElsewhere(defer: (fn: () => unknown) => void, dataDir: string): boolean {
  const real = mkdtempSync(path.join(tmpdir(), 'strata-disk-full-meta-'));
  const target = path.join(dataDir, 'log', 'metadata');
  mkdirSync(target, { recursive: true });
  if (!sh('mount', ['--bind', real, target])) return false;
  defer(() => {
    sh('umount', ['-l', target]);
    rmSync(real, { recursive: true, force: true });
  });
  return true;
}

interface Acked {
  offset: number;
  value: string;
}

async function readAll(rpc: RpcClient, topic: string): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = [];
  let offset = 0;
  for (;;) {
    const reply = decodeFetchReply(await rpc.call(LogMethod.fetch, encodeFetch({ topic, partition: 0, offset, maxBytes: 256 * 1024, maxWaitMs: 0 }), 5000));
    for (const f of frames(reply.frames)) {
      const r = decodeFrame(reply.frames, f.pos, f.size);
      out.push({ offset: r.offset, value: r.value!.toString() });
    }
    if (reply.frames.length === 0 || reply.next >= reply.highWatermark) return out;
    offset = reply.next;
  }
}

/** The log holds exactly the acknowledged records, contiguous from 0 (a short message if not). */
function assertExactly(got: Array<{ offset: number; value: string }>, acked: Acked[], when: string): void {
  const want = [...acked].sort((a, b) => a.offset - b.offset);
  want.forEach((a, i) => assert.equal(a.offset, i, `${when}: acknowledged offsets are contiguous from 0`));
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    assert.equal(got[i].offset, want[i].offset, `${when}: record ${i} has offset ${got[i].offset}, acknowledged ${want[i].offset}`);
    assert.equal(got[i].value, want[i].value, `${when}: value at offset ${got[i].offset} intact`);
  }
  const extra = got.slice(want.length).map((r) => `${r.offset} (${r.value.slice(0, 16)}…)`);
  assert.equal(got.length, want.length, `${when}: ${got.length} records, ${want.length} acknowledged; not acknowledged: ${extra.join(', ')}`);
}

let seq = 0;
const value = (i: number) => `rec-${i}-` + 'x'.repeat(100 + ((i * 7919) % 400));

/**
 * Publish with fsync until the disk is full; several requests in flight at once. Returns the
 * acknowledged records and the errors of the refused ones.
 */
async function fillUp(rpc: RpcClient, topic: string): Promise<{ acked: Acked[]; errors: RpcError[] }> {
  const acked: Acked[] = [];
  const errors: RpcError[] = [];
  for (let round = 0; round < 2000 && errors.length < 12; round++) {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const n = 1 + (seq % 13);
        const batch = new ProduceBatch();
        const values: string[] = [];
        for (let i = 0; i < n; i++) {
          const v = value(seq++);
          values.push(v);
          batch.add(Buffer.from(v), null, 0);
        }
        try {
          const base = decodeProduceReply(await rpc.call(LogMethod.produce, encodeProduce(topic, 0, 'fsync', batch), 10_000));
          values.forEach((v, i) => acked.push({ offset: base + i, value: v }));
        } catch (err) {
          errors.push(err as RpcError);
        }
      }),
    );
  }
  return { acked, errors };
}

test('disk full: producers get a storage error, nothing acknowledged is lost, publishing resumes once space is freed', async (t) => {
  const defer = cleanups(t);
  const mounted = mountSmallTmpfs(defer);
  if (typeof mounted === 'string') return t.skip(mounted);
  const dir = mounted.dir;
  if (!bindMetadataElsewhere(defer, dir)) return t.skip('mount --bind failed');

  let service: LogService = await startLogService(settings(dir), createLogger('silent'), systemClock);
  defer(() => service.close());
  let rpc = await RpcClient.connect({ host: '127.0.0.1', port: service.port });
  defer(() => rpc.close());

  // Another topic's data on the same disk, to delete later.
  await rpc.call(LogMethod.createTopic, encodeJson({ name: 'ballast' }), 5000);
  const ballast = new ProduceBatch();
  for (let i = 0; i < 100; i++) ballast.add(Buffer.alloc(4000, 0x42), null, 0);
  await rpc.call(LogMethod.produce, encodeProduce('ballast', 0, 'fsync', ballast), 5000);
  await rpc.call(LogMethod.createTopic, encodeJson({ name: 'full' }), 5000);

  const { acked, errors } = await fillUp(rpc, 'full');
  assert.ok(acked.length > 50, `some records fit first (${acked.length})`);
  assert.ok(errors.length > 0, 'the disk filled up');
  for (const e of errors) {
    assert.ok(e instanceof RpcError, String(e));
    assert.equal(e.code, RpcCode.storage, `storage error, got ${e.code}: ${e.message}`);
    assert.match(e.message, /full\/0: cannot write to the log: disk full/);
  }

  // Still serving, and the partition holds exactly what was acknowledged.
  await rpc.call(LogMethod.metadata, Buffer.alloc(0), 5000);
  assertExactly(await readAll(rpc, 'full'), acked, 'live, disk full');

  // A restart on the full disk recovers exactly the acknowledged records.
  rpc.close();
  await service.close();
  service = await startLogService(settings(dir), createLogger('silent'), systemClock);
  rpc = await RpcClient.connect({ host: '127.0.0.1', port: service.port });
  await t.test('after a restart, exactly the acknowledged records (no refused record reappears)', async () => {
    assertExactly(await readAll(rpc, 'full'), acked, 'reopened');
  });
  const reopened = await readAll(rpc, 'full');
  assert.deepEqual(
    reopened.slice(0, acked.length).map((r) => r.value),
    [...acked].sort((a, b) => a.offset - b.offset).map((r) => r.value),
    'every acknowledged record is there, in order, once',
  );

  // Free space: delete the other topic. Publishing works again, offsets go on where they were.
  const deleted = JSON.parse((await rpc.call(LogMethod.deleteTopic, encodeJson({ name: 'ballast' }), 5000)).toString());
  assert.deepEqual(deleted, { deleted: true });
  const after: Acked[] = [];
  for (let i = 0; i < 20; i++) {
    const v = value(seq++);
    const batch = new ProduceBatch();
    batch.add(Buffer.from(v), null, 0);
    const base = decodeProduceReply(await rpc.call(LogMethod.produce, encodeProduce('full', 0, 'fsync', batch), 5000));
    after.push({ offset: base, value: v });
  }
  assert.equal(after[0].offset, reopened.length, 'offsets continue after the last record in the log');
  assert.deepEqual(
    after.map((a) => a.offset),
    after.map((_, i) => reopened.length + i),
  );
  const all = await readAll(rpc, 'full');
  assert.deepEqual(
    all.slice(reopened.length).map((r) => r.value),
    after.map((a) => a.value),
  );

  // Fill it again, then a last restart: everything acknowledged is there.
  const second = await fillUp(rpc, 'full');
  assert.ok(second.errors.every((e) => e.code === RpcCode.storage));
  rpc.close();
  await service.close();
  service = await startLogService(settings(dir), createLogger('silent'), systemClock);
  rpc = await RpcClient.connect({ host: '127.0.0.1', port: service.port });
  const final = await readAll(rpc, 'full');
  const byOffset = new Map(final.map((r) => [r.offset, r.value]));
  for (const a of [...acked, ...after, ...second.acked]) assert.equal(byOffset.get(a.offset), a.value, `acknowledged offset ${a.offset}`);
  assert.deepEqual(
    final.map((r) => r.offset),
    final.map((_, i) => i),
    'offsets contiguous, each once',
  );
});

test('disk full with the metadata store on the same disk: deleting a topic frees space and the service keeps working', async (t) => {
  const defer = cleanups(t);
  const mounted = mountSmallTmpfs(defer);
  if (typeof mounted === 'string') return t.skip(mounted);
  const dir = mounted.dir;
  const service: LogService = await startLogService(settings(dir), createLogger('silent'), systemClock);
  defer(() => service.close());
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port: service.port });
  defer(() => rpc.close());
  await rpc.call(LogMethod.createTopic, encodeJson({ name: 'ballast' }), 5000);
  const ballast = new ProduceBatch();
  for (let i = 0; i < 100; i++) ballast.add(Buffer.alloc(4000, 0x42), null, 0);
  await rpc.call(LogMethod.produce, encodeProduce('ballast', 0, 'fsync', ballast), 5000);
  await rpc.call(LogMethod.createTopic, encodeJson({ name: 'full' }), 5000);
  const { errors } = await fillUp(rpc, 'full');
  assert.ok(errors.length > 0 && errors.every((e) => e.code === RpcCode.storage));
  // A metadata change while the disk is full is refused (fine) ...
  const refused = await rpc.call(LogMethod.createTopic, encodeJson({ name: 'while-full', partitions: 1 }), 5000).then(
    () => null,
    (err: RpcError) => err,
  );
  if (refused) assert.match(refused.message, /ENOSPC|no space|disk full/i);
  // ... and once space is freed, metadata changes work again.
  await rpc.call(LogMethod.deleteTopic, encodeJson({ name: 'ballast' }), 5000);
  // Space is free again: creating a topic and publishing work.
  await rpc.call(LogMethod.createTopic, encodeJson({ name: 'later' }), 5000);
  const batch = new ProduceBatch();
  batch.add(Buffer.from('x'), null, 0);
  await rpc.call(LogMethod.produce, encodeProduce('full', 0, 'fsync', batch), 5000);
});
