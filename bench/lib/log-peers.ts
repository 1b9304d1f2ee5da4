/**
 * Servers of the log bench, each a child process with its own temporary data directory on a free
 * 127.0.0.1 port: nats-server with JetStream (file storage), redis-server with the append-only file
 * (appendfsync everysec), and `strata server` with its log service. Every child is tracked by
 * bench/lib/procs.ts, so it is killed however the bench ends; stop() also removes the directory.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopChild, hasExited, tailOf } from './procs.js';
import { canConnect, freePort } from './memc.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const NATS_SERVER = '/usr/sbin/nats-server';
export const REDIS_SERVER = '/usr/bin/redis-server';

export type PeerKind = 'nats' | 'redis' | 'strata';

export interface RunningPeer {
  kind: PeerKind;
  port: number;
  pid: number;
  child: ChildProcess;
  /** The data directory (removed by stop()). */
  dir: string;
  /** The command line as run, with the port and directory replaced by PORT and $DIR. */
  command: string;
  alive(): boolean;
  /** The last lines the server printed (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** The first line a command prints (stdout, else stderr), or why it could not run. */
export function versionOf(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return `unavailable (${r.error?.message ?? `exit ${r.status}`})`;
  return (r.stdout.trim() || r.stderr.trim()).split('\n')[0];
}

/** One RESP command on a fresh connection; resolves with the raw reply once `done(reply)` holds. */
function respRequest(port: number, args: string[], done: (reply: string) => boolean, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from 127.0.0.1:${port} in ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (done(reply)) finish();
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`connection to ${port} closed before the reply was complete`)));
  });
}

/** `INFO section` of a Redis server as a name → value map. */
export async function redisInfo(port: number, section: string): Promise<Record<string, string>> {
  const reply = await respRequest(port, ['INFO', section], (r) => {
    const m = /^\$(\d+)\r\n/.exec(r);
    return !!m && Buffer.byteLength(r, 'latin1') >= m[0].length + Number(m[1]) + 2;
  });
  const out: Record<string, string> = {};
  for (const line of reply.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

interface Launch {
  cmd: string;
  args: string[];
  /** The documented form of the command line. */
  shown: string;
}

async function waitUntil(child: ChildProcess, what: string, output: () => string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child)) throw new Error(`${what} exited during start (${child.exitCode ?? child.signalCode}): ${output().slice(-600)}`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${output().slice(-600)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function startFixedPort(kind: 'nats' | 'redis', timeoutMs: number): Promise<RunningPeer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `strata-log-bench-${kind}-`));
  const port = await freePort();
  const launch: Launch =
    kind === 'nats'
      ? {
          cmd: NATS_SERVER,
          args: ['-a', '127.0.0.1', '-p', String(port), '-m', '0', '-js', '-sd', dir],
          shown: `${NATS_SERVER} -a 127.0.0.1 -p PORT -m 0 -js -sd $DIR`,
        }
      : {
          cmd: REDIS_SERVER,
          args: ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', dir],
          shown: `${REDIS_SERVER} --bind 127.0.0.1 --port PORT --save "" --appendonly yes --appendfsync everysec --dir $DIR`,
        };
  const child = spawnTracked(launch.cmd, launch.args, { cwd: dir });
  const errTail = tailOf(child.stderr);
  const outTail = tailOf(child.stdout);
  const output = () => `${outTail()}${errTail()}`;
  const pid = child.pid ?? -1;
  const peer: RunningPeer = {
    kind, port, pid, child, dir, command: launch.shown, output,
    alive: () => !hasExited(child),
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntil(child, kind, output, timeoutMs, () => canConnect(port));
    if (kind === 'redis') {
      // The port may have been taken by someone else meanwhile: the server must report our child's pid.
      const reported = Number((await redisInfo(port, 'server')).process_id);
      if (reported !== pid) throw new Error(`port ${port} answered with pid ${reported}, not redis-server's ${pid}`);
    } else {
      // nats-server prints "Listening for client connections on 127.0.0.1:PORT" once it is ours; JetStream is up after "Server is ready".
      await waitUntil(child, kind, output, timeoutMs, async () => output().includes(`client connections on 127.0.0.1:${port}`) && output().includes('Server is ready'));
    }
    return peer;
  } catch (err) {
    await peer.stop();
    throw err;
  }
}

/** The Strata server's log port, read from its JSON log lines ({"msg":"log listening","port":N}). */
function strataLogPort(stderrText: string): number {
  for (const line of stderrText.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'log listening' && typeof rec.port === 'number') return rec.port;
    } catch {
      // a partial line
    }
  }
  return 0;
}

async function startStrata(timeoutMs: number): Promise<RunningPeer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-log-bench-strata-'));
  const main = `${REPO}src/cli/main.ts`;
  const args = ['--import', 'tsx', main, 'server', '--data-dir', dir, '--log-port', '0', '--cache-enabled', 'false', '--admin-port', '0', '--log-http-port', '0', '--records-enabled', 'false'];
  const child = spawnTracked(process.execPath, args, { cwd: REPO });
  let stderrText = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (stderrText.length < 200_000) stderrText += d.toString('utf8');
  });
  const errTail = tailOf(child.stderr);
  const outTail = tailOf(child.stdout);
  const output = () => `${outTail()}${errTail()}`;
  const pid = child.pid ?? -1;
  let port = 0;
  const peer: RunningPeer = {
    kind: 'strata', port: 0, pid, child, dir, output,
    command: 'node --import tsx src/cli/main.ts server --data-dir $DIR --log-port 0 --cache-enabled false --admin-port 0 --log-http-port 0',
    alive: () => !hasExited(child),
    stop: async () => {
      await stopChild(child, 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitUntil(child, 'strata', output, timeoutMs, async () => (port = strataLogPort(stderrText)) > 0);
    peer.port = port;
    return peer;
  } catch (err) {
    await peer.stop();
    throw err;
  }
}

/** Start a server; a fixed-port server is retried on another port up to 3 times (a port can be taken between probe and bind). */
export async function startPeer(kind: PeerKind, timeoutMs = 20_000): Promise<RunningPeer> {
  if (kind === 'strata') return startStrata(timeoutMs);
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startFixedPort(kind, timeoutMs);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
