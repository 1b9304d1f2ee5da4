/**
 * Processes of the router bench: the proxies in front of the cache nodes — `strata router` and
 * twemproxy (nutcracker) — each a child process on a free 127.0.0.1 port, checked to be the one
 * listening there, and stopped at the end (bench/lib/procs.ts kills every tracked child however
 * the bench ends). The cache nodes themselves are bench/lib/servers.ts memcached servers.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopChild, hasExited, tailOf } from './procs.js';
import { canConnect, freePort, stats } from './memc.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const STRATA_MAIN = `${REPO}dist/cli/main.js`;

export type ProxyKind = 'router' | 'twemproxy';

export interface RunningProxy {
  kind: ProxyKind;
  port: number;
  pid: number;
  child: ChildProcess;
  /** The command line, as run. */
  command: string;
  alive(): boolean;
  output(): string;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  /** "127.0.0.1:PORT" of each cache node, in ring order. */
  servers: string[];
  /** Scratch directory (config files, logs, the router's data dir). */
  dir: string;
  /** Extra node flags for the router (e.g. --cpu-prof). */
  nodeFlags?: string[];
}

/** Inodes of the TCP sockets listening on 127.0.0.1:port or *:port. */
function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && f[1].endsWith(`:${hexPort}`)) out.add(f[9]);
    }
  }
  return out;
}

/** True if process `pid` holds the socket listening on `port`. */
export function listensOn(pid: number, port: number): boolean {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return false;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      let link = '';
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) return true;
    }
  } catch {
    return false;
  }
  return false;
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function commandFor(kind: ProxyKind, o: ProxyOptions, port: number, statsPort: number): [string, string[]] {
  if (kind === 'router') {
    const routes = path.join(o.dir, 'routes.json');
    writeFileSync(routes, `${JSON.stringify({ pools: { main: { servers: o.servers, connections: 1 } }, route: 'main' }, null, 2)}\n`);
    return [process.execPath, [...(o.nodeFlags ?? []), STRATA_MAIN, 'router', '--routes', routes, '--port', String(port),
      '--data-dir', path.join(o.dir, 'router-data'), '--log-level', 'warn']];
  }
  const conf = path.join(o.dir, 'nutcracker.yml');
  writeFileSync(conf, [
    'bench:',
    `  listen: 127.0.0.1:${port}`,
    '  hash: md5',
    '  distribution: ketama',
    '  auto_eject_hosts: false',
    '  server_connections: 1',
    '  servers:',
    ...o.servers.map((s) => `    - ${s}:1`),
    '',
  ].join('\n'));
  return ['nutcracker', ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', path.join(o.dir, 'nutcracker.log'),
    '-p', path.join(o.dir, 'nutcracker.pid')]];
}

async function startOnce(kind: ProxyKind, o: ProxyOptions, timeoutMs: number): Promise<RunningProxy> {
  const [port, statsPort] = await distinctFreePorts(2);
  const [cmd, args] = commandFor(kind, o, port, statsPort);
  const child = spawnTracked(cmd, args, { cwd: REPO });
  const output = tailOf(child.stderr);
  const stdout = tailOf(child.stdout);
  const pid = child.pid ?? -1;
  const proxy: RunningProxy = {
    kind, port, pid, child, command: [cmd === process.execPath ? 'node' : cmd, ...args].join(' '),
    alive: () => !hasExited(child),
    output: () => `${stdout()}${output()}`,
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (hasExited(child)) throw new Error(`${kind} exited during start (code ${child.exitCode}): ${proxy.output().slice(-500)}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) throw new Error(`${kind} not accepting on port ${port} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
    // The port may belong to someone who took it meanwhile: our child must hold the listening socket.
    if (!listensOn(pid, port)) throw new Error(`port ${port} is not ${kind}'s (pid ${pid})`);
    if (kind === 'router') {
      const reported = Number((await stats(port)).pid);
      if (reported !== pid) throw new Error(`router on port ${port} reports pid ${reported}, not ${pid}`);
    }
    return proxy;
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
}

/** Start a proxy in front of `servers`; retries on other ports up to 3 times. */
export async function startProxy(kind: ProxyKind, o: ProxyOptions, timeoutMs = 15000): Promise<RunningProxy> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(kind, o, timeoutMs);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

