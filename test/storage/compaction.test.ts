import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { PartitionLog, type PartitionLogOptions } from '../../src/storage/partition-log.js';
import { compact, type CompactionOptions } from '../../src/storage/compaction.js';
import { frames, decodeFrame } from '../../src/storage/record.js';
import { ManualClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';

const dirs: string[] = [];
/** On tmpfs when there is one: the many fsyncs of small rewrites cost nothing there. */
const tempRoot = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const tempDir = () => {
  const d = mkdtempSync(path.join(tempRoot, 'strata-compact-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const RETENTION = 1000;

interface Rec {
  offset: number;
  key: string | null;
  value: string | null;
  timestamp: number;
}

const logOptions = (clock: ManualClock, o: Partial<PartitionLogOptions> = {}): PartitionLogOptions => ({
  segmentBytes: 300, indexIntervalBytes: 64, retentionBytes: 0, retentionMs: 0, clock, log: createLogger('silent'), ...o,
});

const compactOptions = (clock: ManualClock, o: Partial<CompactionOptions> = {}): CompactionOptions => ({ tombstoneRetentionMs: RETENTION, clock, ...o });

function readAll(log: PartitionLog): Rec[] {
  const out: Rec[] = [];
  let next = 0;
  for (;;) {
    const r = log.read(next, 500);
    if (r.bytes.length === 0) return out;
    for (const f of frames(r.bytes)) {
      const d = decodeFrame(r.bytes, f.pos, f.size);
      out.push({ offset: d.offset, key: d.key?.toString() ?? null, value: d.value?.toString() ?? null, timestamp: d.timestamp });
    }
    next = r.next;
  }
}

async function append(log: PartitionLog, model: Rec[], clock: ManualClock, batch: Array<{ key: string | null; value: string | null }>): Promise<void> {
  const inputs = batch.map((r) => ({ key: r.key === null ? null : Buffer.from(r.key), value: r.value === null ? null : Buffer.from(r.value) }));
  const { baseOffset } = await log.append(inputs, 'none');
  batch.forEach((r, i) => model.push({ offset: baseOffset + i, ...r, timestamp: clock.nowMs() }));
}

/** Segment bases on disk, oldest first (the last is the active segment). */
const segmentBases = (dir: string): number[] =>
  readdirSync(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);

/** Offsets of each sealed segment's last record: one before the next segment's base. */
const sealedTails = (dir: string): Set<number> => new Set(segmentBases(dir).slice(1).map((b) => b - 1));

const latestByKey = (records: Rec[]): Map<string, Rec> => new Map(records.filter((r) => r.key !== null).map((r) => [r.key!, r]));

/**
 * What compaction must leave, whatever it removed: records read back unchanged and in order,
 * every keyless record, and each key's latest record unless it is a tombstone that expired
 * (then no value of that key is left).
 */
function checkSurvivors(log: PartitionLog, model: Rec[], lastPassAt: number): Rec[] {
  const got = readAll(log);
  got.forEach((r, i) => {
    assert.deepEqual(r, model[r.offset]);
    if (i > 0) assert.ok(r.offset > got[i - 1].offset, 'offsets grow');
  });
  const offsets = new Set(got.map((r) => r.offset));
  for (const r of model) if (r.key === null) assert.ok(offsets.has(r.offset), `keyless record ${r.offset} kept`);
  const survivors = latestByKey(got);
  for (const [key, latest] of latestByKey(model)) {
    const mayBeGone = latest.value === null && lastPassAt - latest.timestamp >= RETENTION;
    if (!mayBeGone) assert.equal(survivors.get(key)?.offset, latest.offset, `latest record of ${key} kept`);
    else assert.equal(survivors.get(key)?.value ?? null, null, `no value of deleted key ${key} comes back`);
  }
  assert.equal(log.endOffset, model.length);
  return got;
}

/**
 * After compaction caught up with every sealed segment (and a pass after that): below the active
 * segment each key has one record besides segments' last records, and an expired tombstone is
 * left only as a segment's last record or after a value of its key that is one.
 */
function checkCompacted(dir: string, got: Rec[], now: number): void {
  const bases = segmentBases(dir);
  const activeBase = bases[bases.length - 1];
  const tails = sealedTails(dir);
  const byKey = new Map<string, Rec[]>();
  for (const r of got) if (r.key !== null && r.offset < activeBase) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  for (const [key, records] of byKey) {
    const last = records[records.length - 1];
    for (const r of records.slice(0, -1)) assert.ok(tails.has(r.offset), `superseded ${key}@${r.offset} survives only as a segment's last record`);
    if (last.value !== null || now - last.timestamp < RETENTION || tails.has(last.offset)) continue;
    const pinned = records.some((r) => r.value !== null && tails.has(r.offset));
    assert.ok(pinned, `expired tombstone ${key}@${last.offset} is gone unless an older value of it must stay`);
  }
}

/** Leave the files a crash in the middle of a rewrite can leave, for the first sealed segment. */
function leaveUnfinishedRewrite(dir: string, afterLogRename: boolean): void {
  const bases = segmentBases(dir);
  if (bases.length < 2) return;
  const name = (ext: string) => path.join(dir, String(bases[0]).padStart(20, '0') + ext);
  if (afterLogRename) {
    // The old index files are gone, the log renamed, the new index files not yet.
    rmSync(name('.index'), { force: true });
    rmSync(name('.timeindex'), { force: true });
  } else {
    const log = readFileSync(name('.log'));
    writeFileSync(name('.log.cleaned'), log.subarray(0, log.length >> 1));
  }
  writeFileSync(name('.index.cleaned'), Buffer.from([1, 0, 0, 0, 9, 0, 0, 0]));
}

const key = fc.option(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), { nil: null, freq: 8 });
const value = fc.option(fc.string({ maxLength: 40 }), { nil: null, freq: 4 });
const op = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), batch: fc.array(fc.record({ key, value }), { minLength: 1, maxLength: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.nat(800) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), maxKeys: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), crash: fc.constantFrom('none', 'beforeRename', 'afterRename') }) },
);

test('model: compaction keeps the latest record per key, drops expired tombstones, and the log reopens and grows', async () => {
  const exercised = { recordsRemoved: 0, tombstonesRemoved: 0 };
  const run = (log: PartitionLog, clock: ManualClock, maxKeys?: number) => {
    const r = compact(log, compactOptions(clock, { maxKeys }));
    exercised.recordsRemoved += r.recordsRemoved;
    exercised.tombstonesRemoved += r.tombstonesRemoved;
  };
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 60 }), async (ops) => {
      const dir = tempDir();
      const clock = new ManualClock();
      let log = PartitionLog.open(dir, logOptions(clock));
      const model: Rec[] = [];
      let lastPassAt = 0;
      for (const o of ops) {
        if (o.kind === 'append') await append(log, model, clock, o.batch);
        else if (o.kind === 'advance') clock.advance(o.ms);
        else if (o.kind === 'compact') {
          run(log, clock, o.maxKeys);
          lastPassAt = clock.nowMs();
          checkSurvivors(log, model, lastPassAt);
        } else {
          const before = readAll(log);
          log.close();
          if (o.crash !== 'none') leaveUnfinishedRewrite(dir, o.crash === 'afterRename');
          log = PartitionLog.open(dir, logOptions(clock));
          assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.cleaned')), [], 'leftovers removed on open');
          assert.deepEqual(readAll(log), before);
        }
      }
      // Catch up (one pass without a key limit), then one more pass to expire tombstones.
      run(log, clock);
      run(log, clock);
      lastPassAt = clock.nowMs();
      const got = checkSurvivors(log, model, lastPassAt);
      checkCompacted(dir, got, lastPassAt);
      log.close();
      log = PartitionLog.open(dir, logOptions(clock));
      assert.deepEqual(readAll(log), got, 'reopens to the same records');
      await append(log, model, clock, [{ key: 'a', value: 'after' }]);
      assert.deepEqual(readAll(log), [...got, model[model.length - 1]], 'appends continue');
      log.close();
    }),
    { numRuns: 80 },
  );
  assert.ok(exercised.recordsRemoved > 0 && exercised.tombstonesRemoved > 0, 'the runs removed records and tombstones');
});

async function logOf(dir: string, clock: ManualClock, records: Array<[key: string | null, value: string | null]>, segmentBytes: number): Promise<{ log: PartitionLog; model: Rec[] }> {
  const log = PartitionLog.open(dir, logOptions(clock, { segmentBytes }));
  const model: Rec[] = [];
  for (const [key, value] of records) await append(log, model, clock, [{ key, value }]);
  return { log, model };
}

const offsetsOf = (log: PartitionLog) => readAll(log).map((r) => r.offset);

test('example: superseded records go, segment tails and keyless records stay, a tombstone expires unless an older value pins it', async () => {
  const dir = tempDir();
  const clock = new ManualClock();
  // 140 bytes a segment: [0..3] [4..7] [8..11], then 12 in the active segment.
  const { log } = await logOf(dir, clock, [
    ['a', 'a1'], ['b', 'b1'], ['a', 'a2'], ['c', 'c1'],
    ['a', 'a3'], ['b', null], [null, 'x1'], ['d', 'd1'],
    ['c', 'c2'], ['d', null], ['e', 'e1'], ['a', 'a4'],
    ['e', 'e2'],
  ], 140);
  assert.deepEqual(segmentBases(dir), [0, 4, 8, 12]);

  const first = compact(log, compactOptions(clock));
  assert.deepEqual({ ...first, bytesBefore: 0, bytesAfter: 0 }, { segmentsRewritten: 2, recordsRemoved: 4, tombstonesRemoved: 0, bytesBefore: 0, bytesAfter: 0, cleanOffset: 12 });
  assert.ok(first.bytesAfter < first.bytesBefore);
  // c1 (3) and d1 (7) end their segments; the tombstones of b (5) and d (9) are kept for now.
  assert.deepEqual(offsetsOf(log), [3, 5, 6, 7, 8, 9, 10, 11, 12]);

  clock.advance(RETENTION - 1);
  assert.equal(compact(log, compactOptions(clock)).recordsRemoved, 0, 'not expired yet');
  clock.advance(1);
  const second = compact(log, compactOptions(clock));
  assert.equal(second.tombstonesRemoved, 1);
  // b's tombstone goes; d's stays, as d1 must stay as the last record of its segment.
  assert.deepEqual(offsetsOf(log), [3, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(compact(log, compactOptions(clock)), { segmentsRewritten: 0, recordsRemoved: 0, tombstonesRemoved: 0, bytesBefore: 0, bytesAfter: 0, cleanOffset: 12 }, 'nothing left to do');

  log.close();
  const reopened = PartitionLog.open(dir, logOptions(clock, { segmentBytes: 140 }));
  assert.deepEqual(offsetsOf(reopened), [3, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal((await reopened.append([{ key: Buffer.from('b'), value: Buffer.from('b3') }], 'none')).baseOffset, 13);
  reopened.close();
});

test('maxKeys bounds a pass; the next pass goes on where it stopped, until all is compacted', async () => {
  const dir = tempDir();
  const clock = new ManualClock();
  const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
  // 144 bytes a segment: four records each; 20 opens the active segment.
  const { log } = await logOf(dir, clock, [...keys.map((k): [string, string] => [k, 'r1']), ...keys.map((k): [string, string] => [k, 'r2']), ['k0', 'r3']], 144);
  assert.deepEqual(segmentBases(dir), [0, 4, 8, 12, 16, 20]);
  const cleanOffsets: number[] = [];
  while (log.compaction.cleanOffset < 20) cleanOffsets.push(compact(log, compactOptions(clock, { maxKeys: 3 })).cleanOffset);
  assert.deepEqual(cleanOffsets, [3, 6, 9, 12, 15, 18, 20]);
  // Every first-round record is superseded; 3 and 7 end their segments.
  assert.deepEqual(offsetsOf(log), [3, 7, ...Array.from({ length: 11 }, (_, i) => 10 + i)]);
  log.close();
});

test('only segments below maxOffset and before one an fdatasync runs on are compacted', async () => {
  const dir = tempDir();
  const clock = new ManualClock();
  const { log } = await logOf(dir, clock, [['a', 'a1'], ['b', 'b1'], ['a', 'a2'], ['b', 'b2'], ['a', 'a3']], 70);
  assert.deepEqual(segmentBases(dir), [0, 2, 4]);
  assert.equal(compact(log, compactOptions(clock, { maxOffset: 3 })).recordsRemoved, 0, 'a2 (2) is in a segment that reaches past 3');
  // An fsync append to the active segment, then a roll seals that segment while its fdatasync runs.
  const synced = log.append([{ key: Buffer.from('a'), value: Buffer.from('a6') }], 'fsync');
  void log.append([{ key: Buffer.from('a'), value: Buffer.from('a7') }], 'none');
  assert.deepEqual(segmentBases(dir), [0, 2, 4, 6]);
  compact(log, compactOptions(clock));
  assert.deepEqual(offsetsOf(log), [1, 2, 3, 4, 5, 6], 'segment 4 is left alone while it is synced');
  await synced;
  compact(log, compactOptions(clock));
  assert.deepEqual(offsetsOf(log), [1, 3, 5, 6]);
  log.close();
});

test('segments are read in chunks: frames across chunk boundaries and frames larger than a chunk', async () => {
  const dir = tempDir();
  const clock = new ManualClock();
  const big = (c: string, n: number) => c.repeat(n);
  const records: Array<[string, string]> = [['a', big('A', 1_500_000)], ...Array.from({ length: 12 }, (_, i): [string, string] => ['abc'[i % 3], big(String(i % 10), 333_333)])];
  const { log, model } = await logOf(dir, clock, records, 4 * 1024 * 1024);
  assert.ok(segmentBases(dir).length >= 2);
  const result = compact(log, compactOptions(clock));
  assert.ok(result.recordsRemoved > 0);
  checkCompacted(dir, checkSurvivors(log, model, clock.nowMs()), clock.nowMs());
  log.close();
});

test('truncating below the compacted offset makes compaction look at those offsets again', async () => {
  const dir = tempDir();
  const clock = new ManualClock();
  const { log } = await logOf(dir, clock, [['a', 'a1'], ['a', 'a2'], ['a', 'a3'], ['a', 'a4'], ['a', 'a5']], 70);
  assert.equal(compact(log, compactOptions(clock)).cleanOffset, 4);
  log.truncateTo(3);
  assert.equal(log.compaction.cleanOffset, 3);
  log.resetTo(10);
  assert.equal(log.compaction.cleanOffset, 10);
  log.close();
});
