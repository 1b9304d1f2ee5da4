import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startStrataCache } from '../helpers/strata.js';

/** libmemcached's conformance suite (Debian libmemcached-tools), text and binary, 1 and 2 threads. */
function memccapable(port: number, mode: '-a' | '-b'): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('memccapable', ['-h', '127.0.0.1', '-p', String(port), mode], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, out: stdout + stderr });
    });
  });
}

for (const threads of [1, 2]) {
  for (const mode of ['-a', '-b'] as const) {
    test(`memccapable ${mode} passes every test against Strata with ${threads} thread(s)`, async () => {
      const cache = await startStrataCache({ threads });
      try {
        const { code, out } = await memccapable(cache.port, mode);
        const passed = out.match(/\[pass\]/g)?.length ?? 0;
        assert.equal(code, 0, out);
        assert.match(out, /All tests passed/);
        assert.equal(passed, 27, out);
        assert.doesNotMatch(out, /\[fail\]/);
      } finally {
        await cache.close();
      }
    });
  }
}
