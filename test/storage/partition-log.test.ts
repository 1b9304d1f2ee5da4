import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, statSync, truncateSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { PartitionLog, type PartitionLogOptions } from '../../src/storage/partition-log.js';
import { frames, decodeFrame, type RecordInput } from '../../src/storage/record.js';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'strata-plog-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const clock = new ManualClock(1_700_000_000_000);
const options = (o: Partial<PartitionLogOptions> = {}): PartitionLogOptions => ({
  segmentBytes: 4096, indexIntervalBytes: 256, retentionBytes: 0, retentionMs: 0, clock, log: createLogger('silent'), ...o,
});

/** Every record from `from` to the end, through read() in steps of `maxBytes`. */
function readAll(log: PartitionLog, from: number, maxBytes = 1000): Array<{ offset: number; key: string | null; value: string | null; timestamp: number }> {
  const out = [];
  let next = from;
  for (;;) {
    const r = log.read(next, maxBytes);
    if (r.bytes.length === 0) break;
    for (const f of frames(r.bytes)) {
      const d = decodeFrame(r.bytes, f.pos, f.size);
      out.push({ offset: d.offset, key: d.key?.toString() ?? null, value: d.value?.toString() ?? null, timestamp: d.timestamp });
    }
    next = r.next;
  }
  return out;
}

const record = fc.record({
  key: fc.option(fc.string({ maxLength: 12 }), { nil: null }),
  value: fc.option(fc.string({ maxLength: 700 }), { nil: null }),
});

test('appends, reads from any offset, rolls segments and reopens: the log equals the model', () => {
  fc.assert(
    fc.property(fc.array(fc.array(record, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(40)), fc.nat(300), (batches, reopenAt, maxBytes) => {
      const dir = tempDir();
      let log = PartitionLog.open(dir, options());
      const model: Array<{ key: string | null; value: string | null }> = [];
      batches.forEach((batch, b) => {
        const inputs: RecordInput[] = batch.map((r) => ({ key: r.key === null ? null : Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value) }));
        void log.append(inputs, 'none');
        model.push(...batch);
        if (reopenAt.includes(b)) {
          log.close();
          log = PartitionLog.open(dir, options());
        }
      });
      assert.equal(log.endOffset, model.length);
      const from = model.length ? maxBytes % model.length : 0;
      const got = readAll(log, from, 1 + maxBytes * 4);
      assert.deepEqual(got.map((r) => [r.offset, r.key, r.value]), model.slice(from).map((r, i) => [from + i, r.key, r.value]));
      log.close();
    }),
    { numRuns: 60 },
  );
});

test('fsync appends from many producers share fdatasyncs and resolve in order', async () => {
  const log = PartitionLog.open(tempDir(), options({ segmentBytes: 1 << 20 }));
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append([{ value: Buffer.from(`m${i}`) }], 'fsync')));
  assert.deepEqual(results.map((r) => r.baseOffset), Array.from({ length: 500 }, (_, i) => i));
  assert.equal(log.durableOffset, 500);
  log.close();
});

test('a torn or corrupt tail is cut back to the last intact record on open', () => {
  const dir = tempDir();
  const log = PartitionLog.open(dir, options({ segmentBytes: 1 << 20 }));
  for (let i = 0; i < 50; i++) void log.append([{ key: Buffer.from(`k${i}`), value: Buffer.from(`value ${i}`) }], 'none');
  log.close();
  const file = path.join(dir, readdirSync(dir).find((f) => f.endsWith('.log'))!);
  truncateSync(file, statSync(file).size - 5); // the last record cut short
  let reopened = PartitionLog.open(dir, options({ segmentBytes: 1 << 20 }));
  assert.equal(reopened.endOffset, 49);
  reopened.close();
  const bytes = readFileSync(file);
  bytes[bytes.length - 20] ^= 0x40; // a flipped bit in record 48
  writeFileSync(file, bytes);
  reopened = PartitionLog.open(dir, options({ segmentBytes: 1 << 20 }));
  assert.equal(reopened.endOffset, 48);
  void reopened.append([{ value: Buffer.from('after') }], 'none');
  const all = readAll(reopened, 0);
  assert.equal(all.length, 49);
  assert.equal(all[48].value, 'after');
  reopened.close();
});

test('retention by size and by age deletes whole old segments; reads start at the first kept offset', () => {
  const dir = tempDir();
  const log = PartitionLog.open(dir, options({ segmentBytes: 1000, retentionBytes: 3000 }));
  for (let i = 0; i < 200; i++) void log.append([{ value: Buffer.alloc(100, i) }], 'none');
  const kept = readdirSync(dir).filter((f) => f.endsWith('.log')).length;
  assert.ok(kept <= 5, `segments kept: ${kept}`);
  assert.ok(log.startOffset > 0);
  const all = readAll(log, 0);
  assert.equal(all[0].offset, log.startOffset);
  assert.equal(all[all.length - 1].offset, 199);
  log.close();

  const aged = PartitionLog.open(tempDir(), options({ segmentBytes: 1000, retentionMs: 60_000 }));
  for (let i = 0; i < 30; i++) void aged.append([{ value: Buffer.alloc(100) }], 'none');
  clock.advance(120_000);
  for (let i = 0; i < 30; i++) void aged.append([{ value: Buffer.alloc(100) }], 'none');
  assert.ok(aged.startOffset >= 27, `old segments gone: start ${aged.startOffset}`);
  aged.close();
});

test('offsetForTime finds the first record at or after a time (from the time index)', () => {
  const log = PartitionLog.open(tempDir(), options());
  for (let i = 0; i < 100; i++) void log.append([{ value: Buffer.alloc(50), timestamp: 1000 + i * 10 }], 'none');
  for (const ts of [0, 1000, 1455, 1990]) {
    const o = log.offsetForTime(ts);
    const first = readAll(log, o).find((r) => r.timestamp >= ts)!;
    assert.ok(o <= first.offset && first.offset - o < 20, `ts ${ts}: ${o} vs ${first.offset}`);
  }
  assert.equal(log.offsetForTime(5000), 100);
  log.close();
});

test('a record larger than the read size is still returned whole', () => {
  const log = PartitionLog.open(tempDir(), options({ segmentBytes: 1 << 20 }));
  void log.append([{ value: Buffer.alloc(10) }, { value: Buffer.alloc(5000, 7) }, { value: Buffer.alloc(10) }], 'none');
  const r = log.read(1, 100);
  const [f] = [...frames(r.bytes)];
  assert.equal(decodeFrame(r.bytes, f.pos, f.size).value?.length, 5000);
  assert.equal(r.next, 2);
  log.close();
});
