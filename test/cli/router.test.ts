import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextSession } from '../helpers/text-session.js';
import { startMemcached } from '../helpers/memcached.js';
import { eventually } from '../helpers/router.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

function runCli(args: string[]) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Collect the child's JSON log records as they arrive. */
function logRecords(child: ReturnType<typeof runCli>): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        records.push({ msg: line });
      }
    }
  });
  return records;
}

test('strata router serves clients, reloads its route file on SIGHUP, exports /metrics, stops on SIGTERM', async () => {
  const [m1, m2] = [await startMemcached(), await startMemcached()];
  const dir = mkdtempSync(join(tmpdir(), 'strata-router-cli-'));
  const routes = join(dir, 'routes.json');
  writeFileSync(routes, JSON.stringify({ pools: { a: { servers: [`127.0.0.1:${m1.port}`] } }, route: 'a' }));
  const child = runCli(['router', '--routes', routes, '--port', '0', '--admin-port', '0', '--watch-ms', '0', '--data-dir', join(dir, 'data')]);
  const logs = logRecords(child);
  const find = (msg: string) => logs.find((r) => r.msg === msg);
  try {
    await eventually('router and admin listening', () => !!find('router listening') && !!find('admin listening'), 20_000);
    const port = find('router listening')!.port as number;
    const s = await TextSession.open(port);
    try {
      assert.equal((await s.send('set k 0 0 1\r\n1\r\n')).reply.toString(), 'STORED\r\n');
      writeFileSync(routes, JSON.stringify({ pools: { b: { servers: [`127.0.0.1:${m2.port}`] } }, route: 'b' }));
      child.kill('SIGHUP');
      await eventually('reloaded', () => !!find('route config reloaded'));
      assert.equal((await s.send('get k\r\n')).reply.toString(), 'END\r\n', 'now routed to the second server');
    } finally {
      s.close();
    }
    const metrics = await (await fetch(`http://127.0.0.1:${find('admin listening')!.port as number}/metrics`)).text();
    assert.match(metrics, new RegExp(`strata_router_server_up\\{server="127\\.0\\.0\\.1:${m2.port}"\\} 1`));
    assert.match(metrics, /strata_router_get_keys_total 1/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
    await Promise.all([m1.stop(), m2.stop()]);
  }
});

test('strata router without a route file, or with a bad one, exits with a message naming the problem', async () => {
  const run = (args: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = runCli(['router', '--port', '0', '--admin-port', '0', ...args]);
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (code) => resolve({ code, err }));
    });
  const missing = await run([]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /router\.routes/);
  const dir = mkdtempSync(join(tmpdir(), 'strata-router-cli-'));
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ pools: { a: { servers: ['nohost'] } }, route: 'a' }));
  const bad = await run(['--routes', join(dir, 'bad.json')]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /pools\.a\.servers\[0\]: expected "host:port"/);
});
