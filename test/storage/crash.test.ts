import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartitionLog, DEFAULT_PARTITION_OPTIONS } from '../../src/storage/partition-log.js';
import { frames, decodeFrame } from '../../src/storage/record.js';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';

const WRITER = new URL('../helpers/log-writer.ts', import.meta.url).pathname;
const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Run the writer until SIGKILL at a random moment; the highest offset it saw acknowledged. */
function runAndKill(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      // Kill at a random point once it is writing.
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), Math.random() * 400);
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (_code, signal) => {
      clearTimeout(guard);
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited by itself: ${err}`));
      const acks = [...out.matchAll(/ack (\d+)\n/g)].map((m) => Number(m[1]));
      resolve(acks.length ? Math.max(...acks) : -1);
    });
  });
}

test('kill -9 while producers append with fsync acknowledgement: every acknowledged record survives, once, in order', async () => {
  let acknowledged = -1;
  for (let round = 0; round < 12; round++) {
    acknowledged = Math.max(acknowledged, await runAndKill());
    const log = PartitionLog.open(dir, { ...DEFAULT_PARTITION_OPTIONS, segmentBytes: 64 * 1024, indexIntervalBytes: 1024, clock: systemClock, log: createLogger('silent') });
    try {
      assert.ok(log.endOffset > acknowledged, `round ${round}: end ${log.endOffset}, acknowledged up to ${acknowledged}`);
      // Read to the end: offsets contiguous from 0, each value the one written for its offset.
      let next = 0;
      for (;;) {
        const r = log.read(next, 64 * 1024);
        if (r.bytes.length === 0) break;
        for (const f of frames(r.bytes)) {
          const d = decodeFrame(r.bytes, f.pos, f.size);
          assert.equal(d.offset, next, 'offsets contiguous');
          assert.equal(d.key?.toString(), `k${next}`);
          assert.equal(d.value?.toString(), `v${next}:${'x'.repeat(next % 300)}`);
          next++;
        }
      }
      assert.equal(next, log.endOffset, 'readable to the end');
    } finally {
      log.close();
    }
  }
  assert.ok(acknowledged > 100, `the writer got going (acknowledged up to ${acknowledged})`);
});
