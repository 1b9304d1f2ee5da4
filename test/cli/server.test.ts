import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextSession } from '../helpers/text-session.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function runCli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Wait (bounded) until the child's stderr has logged `msg`; returns that JSON log record. */
function waitForLog(child: ReturnType<typeof runCli>, msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no "${msg}" log within ${timeoutMs} ms: ${buf}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        try {
          const rec = JSON.parse(line) as Record<string, unknown>;
          if (rec.msg === msg) {
            clearTimeout(timer);
            resolve(rec);
            return;
          }
        } catch {
          /* partial line */
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${buf}`)));
  });
}

test('strata server serves memcached clients, /metrics and /healthz, and stops on SIGTERM', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'strata-cli-')), 'data');
  const child = runCli(['server', '--cache-port', '0', '--admin-port', '0', '--log-port', '0', '--log-http-port', '0', '--records-port', '0', '--records-http-port', '0', '--data-dir', dataDir], { STRATA_CACHE_THREADS: '2' });
  try {
    const cacheLog = waitForLog(child, 'cache listening');
    const adminLog = waitForLog(child, 'admin listening');
    const cache = await cacheLog;
    const admin = await adminLog;
    assert.equal(cache.threads, 2, 'environment variable applied');
    const session = await TextSession.open(cache.port as number);
    const r = await session.send('set hello 0 0 5\r\nworld\r\nget hello\r\n');
    session.close();
    assert.equal(r.reply.toString(), 'STORED\r\nVALUE hello 0 5\r\nworld\r\nEND\r\n');
    const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
    assert.match(metrics, /^strata_cache_cmd_set_total 1$/m);
    assert.match(metrics, /^strata_cache_get_hits_total 1$/m);
    assert.match(metrics, /^strata_cache_curr_items 1$/m);
    const health = await fetch(`http://127.0.0.1:${admin.port}/healthz`);
    assert.equal(health.status, 200);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('a bad setting stops strata with a message naming it', async () => {
  const child = runCli(['server', '--cache-memory', 'lots']);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(err, /invalid setting cache\.memory = "lots" \(from flag --cache-memory\)/);
});

test('strata version and --help', async () => {
  const out = async (args: string[]) => {
    const child = runCli(args);
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    await new Promise((resolve) => child.once('exit', resolve));
    return text;
  };
  assert.match(await out(['version']), /^\d+\.\d+\.\d+\n$/);
  const help = await out(['server', '--help']);
  assert.match(help, /--cache-port <value>/);
  assert.match(help, /STRATA_CACHE_MEMORY/);
});
