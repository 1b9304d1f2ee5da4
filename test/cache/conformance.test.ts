import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startStrataCache } from '../helpers/strata.js';

/**
 * libmemcached's conformance suite (Debian libmemcached-tools' memccapable), ascii (-a) and
 * binary (-b), against Strata with one thread and with two (worker threads on a shared store).
 */
const TIMEOUT_MS = 60_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  out: string;
}

function memccapable(port: number, mode: '-a' | '-b'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('memccapable', ['-h', '127.0.0.1', '-p', String(port), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // A hung run (a reply that never comes) is killed, and reported with what it printed so far.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, out });
    });
  });
}

for (const threads of [1, 2]) {
  for (const mode of ['-a', '-b'] as const) {
    test(`memccapable ${mode} passes every test against Strata with ${threads} thread(s)`, async () => {
      const cache = await startStrataCache({ threads });
      try {
        const run = await memccapable(cache.port, mode);
        assert.equal(run.timedOut, false, `memccapable did not finish within ${TIMEOUT_MS} ms:\n${run.out}`);
        assert.deepEqual([run.code, run.signal], [0, null], run.out);
        assert.match(run.out, /All tests passed/);
        assert.doesNotMatch(run.out, /\[(fail|skip)\]/);
        // 27 tests in each mode in libmemcached-tools 1.1.4 (Debian 12); a run that stops early has fewer.
        assert.equal(run.out.match(/\[pass\]/g)?.length ?? 0, 27, run.out);
      } finally {
        await cache.close();
      }
    });
  }
}
