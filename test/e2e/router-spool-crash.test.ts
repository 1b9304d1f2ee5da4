import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startMemcached, freeze } from '../helpers/memcached.js';
import { ask } from '../helpers/text-session.js';
import { eventually } from '../helpers/router.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/** `strata router` as its own process (so it can be killed with SIGKILL); resolves with its port. */
async function startRouterProcess(routes: string, dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'router', '--routes', routes, '--port', '0', '--admin-port', '0', '--data-dir', dataDir, '--log-level', 'info'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`router did not start: ${buf}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"msg":"router listening".*?"port":(\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`router exited with ${code}: ${buf}`)));
  });
  return { child, port };
}

/**
 * Deletes for a server that does not answer are acknowledged only once they are on disk: kill the
 * router with SIGKILL at a random moment while deletes stream in, restart it on the same data
 * directory, wake the server, and every acknowledged delete must reach it.
 */
test('every acknowledged delete survives a SIGKILL of the router and is delivered after restart', async () => {
  const node = await startMemcached();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-spool-crash-'));
  const routes = path.join(dir, 'routes.json');
  writeFileSync(routes, JSON.stringify({ pools: { main: { servers: [`127.0.0.1:${node.port}`], timeoutMs: 100, failureLimit: 1, retryMs: 50 } }, route: 'main' }));
  const children: ChildProcess[] = [];
  try {
    let totalAcked = 0;
    for (let round = 0; round < 4; round++) {
      const keys = Array.from({ length: 5000 }, (_, i) => `r${round}k${i}`);
      assert.equal(await ask(node.port, keys.map((k) => `set ${k} 0 0 1 noreply\r\nx\r\n`).join('')), '');
      await freeze(node.child);
      const router = await startRouterProcess(routes, path.join(dir, 'data'));
      children.push(router.child);
      // Stream the deletes on one connection and count the DELETED replies as they come back.
      const acked = await new Promise<number>((resolve) => {
        const s = net.connect(router.port, '127.0.0.1');
        let replies = '';
        s.on('data', (d) => (replies += d.toString('latin1')));
        // At a random moment while deletes are being spooled (the server's timeout is 100 ms).
        setTimeout(() => router.child.kill('SIGKILL'), 110 + Math.random() * 250);
        s.on('error', () => {});
        s.on('close', () => resolve(replies.split('DELETED\r\n').length - 1));
        // Deletes trickle in (10 per millisecond or so), so the kill lands mid-stream.
        let sent = 0;
        const pump = setInterval(() => {
          if (sent >= keys.length || s.destroyed) return clearInterval(pump);
          s.write(keys.slice(sent, sent + 10).map((k) => `delete ${k}\r\n`).join(''));
          sent += 10;
        }, 1);
      });
      assert.ok(acked < keys.length, `killed while deletes were streaming (acked ${acked} of ${keys.length})`);
      totalAcked += acked;
      // Restart on the same spool, wake the server: the acknowledged deletes must arrive.
      const again = await startRouterProcess(routes, path.join(dir, 'data'));
      children.push(again.child);
      node.child.kill('SIGCONT');
      await eventually(
        `the ${acked} acknowledged deletes of round ${round} delivered`,
        async () => acked === 0 || (await ask(node.port, `get ${keys.slice(0, acked).join(' ')}\r\n`)) === 'END\r\n',
        20_000,
      );
      again.child.kill('SIGKILL');
    }
    assert.ok(totalAcked > 0, 'some deletes were acknowledged before the kills');
  } finally {
    node.child.kill('SIGCONT');
    for (const c of children) c.kill('SIGKILL');
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
