import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { LineSplitter } from '../../src/ship/line-splitter.js';
import { TailFollower, type FileLine, type TailOptions } from '../../src/ship/tail-follower.js';
import { eventually } from '../helpers/router.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-tail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Run a follower in the background, collecting its lines and log messages. */
function follow(file: string, t: { after(fn: () => Promise<void> | void): void }, opts: Partial<TailOptions> = {}) {
  const lines: FileLine[] = [];
  const messages: string[] = [];
  const log = createLogger('debug', {}, (l) => messages.push((JSON.parse(l) as { msg: string }).msg));
  const follower = new TailFollower(file, { pollMs: 10, maxLineBytes: 1024, chunkBytes: 16, log, ...opts });
  const stop = new AbortController();
  const running = (async () => {
    for await (const batch of follower.batches(stop.signal)) lines.push(...batch);
  })();
  t.after(async () => {
    stop.abort();
    await running;
  });
  const values = () => lines.map((l) => l.value.toString());
  return { follower, lines, values, messages };
}

test('line splitter: lines without their newline, a partial line held back, long lines cut in pieces', () => {
  const s = new LineSplitter(8);
  assert.deepEqual(s.push(Buffer.from('ab\ncd\r\nef')).map((l) => [l.value.toString(), l.end]), [['ab', 3], ['cd\r', 7]]);
  assert.equal(s.pendingBytes, 2);
  assert.equal(s.position, 7);
  assert.deepEqual(s.push(Buffer.from('g\n\n')).map((l) => l.value.toString()), ['efg', '']);
  assert.deepEqual(s.push(Buffer.from('0123456789abcdefghij\n')).map((l) => l.value.toString()), ['01234567', '89abcdef', 'ghij']);
  assert.deepEqual(s.push(Buffer.from('tail')), []);
  assert.equal(s.flush()!.value.toString(), 'tail');
  assert.equal(s.flush(), null);
  assert.equal(s.position, 3 + 4 + 4 + 1 + 21 + 4);
});

test('a followed file: lines as they are appended; a last line without newline waits for it', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'one\ntwo\npar');
  const f = follow(file, t);
  await eventually('the complete lines and the partial one read', () => f.values().length === 2 && f.follower.readPosition === statSync(file).size);
  assert.deepEqual(f.values(), ['one', 'two']);
  appendFileSync(file, 'tial\nthree\n');
  await eventually('the completed line', () => f.values().length === 4);
  assert.deepEqual(f.values(), ['one', 'two', 'partial', 'three']);
  assert.deepEqual(f.lines.map((l) => l.end), [4, 8, 16, 22]);
  assert.ok(f.lines.every((l) => l.ino === statSync(file).ino), 'positions name the file');
});

test('a file waited for until it exists', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'late.log');
  const f = follow(file, t);
  writeFileSync(file, 'here\n');
  await eventually('the line of the new file', () => f.values().length === 1);
  assert.deepEqual(f.values(), ['here']);
});

test('rotation by rename: the old file is read to its end (its partial last line included), then the new one from its start', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'a1\na2\n');
  const f = follow(file, t);
  await eventually('first lines', () => f.values().length === 2);
  const oldIno = statSync(file).ino;
  renameSync(file, file + '.1');
  // A writer still holding the old file writes a little more, the last line unfinished.
  appendFileSync(file + '.1', 'a3\na4-unfinished');
  writeFileSync(file, 'b1\nb2\n');
  await eventually('lines of both files', () => f.values().length === 6);
  assert.deepEqual(f.values(), ['a1', 'a2', 'a3', 'a4-unfinished', 'b1', 'b2']);
  assert.deepEqual(f.lines.map((l) => l.ino === oldIno), [true, true, true, true, false, false]);
  assert.ok(f.messages.includes('followed file was replaced (rotated); reading the new one'), 'the rotation is logged');
  appendFileSync(file, 'b3\n');
  await eventually('the new file keeps being followed', () => f.values().length === 7);
});

test('truncation: the file is read again from its start', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'long line one\nlong line two\n');
  const f = follow(file, t);
  await eventually('first lines', () => f.values().length === 2);
  truncateSync(file, 0);
  await eventually('the truncation noticed', () => f.messages.includes('followed file was truncated; reading it again from the start'));
  appendFileSync(file, 'new\n');
  await eventually('the line written after truncation', () => f.values().length === 3);
  assert.deepEqual(f.values(), ['long line one', 'long line two', 'new']);
  assert.equal(f.lines[2].end, 4);
});

test('resuming at a saved position, in the same file or in the one it was rotated to while stopped', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'app.log');
  writeFileSync(file, 'x1\nx2\nx3\n');
  const ino = statSync(file).ino;
  const same = follow(file, t, { start: { ino, offset: 3 } });
  await eventually('lines after the position', () => same.values().length === 2);
  assert.deepEqual(same.values(), ['x2', 'x3']);

  renameSync(file, file + '.1');
  writeFileSync(file, 'y1\n');
  const rotated = follow(file, t, { start: { ino, offset: 6 } });
  await eventually('rest of the old file, then the new one', () => rotated.values().length === 2);
  assert.deepEqual(rotated.values(), ['x3', 'y1']);
  assert.ok(rotated.messages.includes('followed file was rotated while stopped; reading the rest of the old one first'), 'the rotation while stopped is logged');

  const truncated = follow(file, t, { start: { ino: statSync(file).ino, offset: 100 } });
  await eventually('a file shorter than the position is read from its start', () => truncated.values().length === 1);
  assert.deepEqual(truncated.values(), ['y1']);
});
