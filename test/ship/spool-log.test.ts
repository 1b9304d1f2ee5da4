import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { SpoolLog, spooledSize } from '../../src/ship/spool-log.js';

const log = createLogger('silent');
const line = (i: number) => ({ value: Buffer.from(`line-${String(i).padStart(4, '0')}`), timestamp: 1_700_000_000_000 + i });
const SIZE = spooledSize(line(0).value);

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const readAll = (s: SpoolLog, from: number) => {
  const out: string[] = [];
  for (let at = from; ; ) {
    const got = s.read(at, 100);
    if (got.length === 0) return out;
    out.push(...got.map((r) => r.value.toString()));
    at = got[got.length - 1].offset + 1;
  }
};

test('spool: lines read back in order across segments, with their timestamps; reads are bounded', (t) => {
  const s = SpoolLog.open(tempDir(t), { segmentBytes: SIZE * 10, log });
  t.after(() => s.close());
  for (let i = 0; i < 35; i++) s.append([line(i)]);
  assert.equal(s.endOffset, 35);
  assert.equal(s.bytes, 35 * SIZE);
  assert.deepEqual(readAll(s, 0), Array.from({ length: 35 }, (_, i) => line(i).value.toString()));
  const some = s.read(12, SIZE * 3);
  assert.deepEqual(some.map((r) => r.offset), [12, 13, 14]);
  assert.equal(some[0].timestamp, line(12).timestamp);
  assert.equal(s.read(0, 1).length, 1, 'at least one line, however small the limit');
  assert.deepEqual(s.read(35, 1000), []);
});

test('spool: forwarded segments are deleted whole; everything forwarded leaves one empty segment', (t) => {
  const dir = tempDir(t);
  const s = SpoolLog.open(dir, { segmentBytes: SIZE * 10, log });
  t.after(() => s.close());
  s.append(Array.from({ length: 25 }, (_, i) => line(i)));
  s.append([line(25)]);
  for (let i = 26; i < 30; i++) s.append([line(i)]);
  // One append of 25 lines is one frame batch in one segment; then segments of 10.
  assert.equal(s.deleteBelow(20), 0, 'the first segment holds 0..24');
  assert.equal(s.deleteBelow(25), 25 * SIZE);
  assert.equal(s.startOffset, 25);
  assert.equal(s.deleteBelow(30), 5 * SIZE);
  assert.equal(s.bytes, 0);
  assert.equal(s.startOffset, 30);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.log')), ['00000000000000000030.log']);
  s.append([line(30)]);
  assert.deepEqual(readAll(s, 0), ['line-0030']);
});

test('spool: dropping the oldest segment to make room', (t) => {
  const s = SpoolLog.open(tempDir(t), { segmentBytes: SIZE * 4, log });
  t.after(() => s.close());
  for (let i = 0; i < 10; i++) s.append([line(i)]);
  assert.deepEqual(s.dropOldest(), { from: 0, to: 4, bytes: 4 * SIZE });
  assert.deepEqual(s.dropOldest(), { from: 4, to: 8, bytes: 4 * SIZE });
  assert.deepEqual(s.dropOldest(), { from: 8, to: 10, bytes: 2 * SIZE }, 'the active segment is sealed and dropped too');
  assert.equal(s.dropOldest(), null);
  assert.equal(s.endOffset, 10);
});

test('spool: reopened after a crash, a torn last line is cut and the rest kept', (t) => {
  const dir = tempDir(t);
  const s = SpoolLog.open(dir, { segmentBytes: SIZE * 4, log });
  for (let i = 0; i < 6; i++) s.append([line(i)]);
  s.close();
  appendFileSync(path.join(dir, '00000000000000000004.log'), Buffer.from([40, 0, 0, 0, 1, 2, 3]));
  const again = SpoolLog.open(dir, { segmentBytes: SIZE * 4, log });
  t.after(() => again.close());
  assert.equal(again.endOffset, 6);
  assert.equal(again.bytes, 6 * SIZE);
  assert.deepEqual(readAll(again, 0), Array.from({ length: 6 }, (_, i) => line(i).value.toString()));
  again.append([line(6)]);
  assert.equal(again.read(6, 100)[0].value.toString(), 'line-0006');
});
