/** Start memcached or Strata as a child process on a free 127.0.0.1 port, and stop it. */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnTracked, stopChild, hasExited, tailOf } from './procs.js';
import { canConnect, freePort, stats } from './memc.js';

export type ServerKind = 'memcached' | 'strata';

export interface ServerSpec {
  kind: ServerKind;
  /** Strata's --cache-threads; memcached's -t. */
  threads: number;
  /** memcached's -m in MiB (default 1024). */
  memoryMb?: number;
  /** Short name used in results: memcached, strata_t1, strata_t2. */
  id: string;
}

export interface RunningServer {
  spec: ServerSpec;
  port: number;
  pid: number;
  child: ChildProcess;
  alive(): boolean;
  output(): string;
  stop(): Promise<void>;
}

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const STRATA_MAIN = `${REPO}dist/cli/main.js`;

function commandFor(spec: ServerSpec, port: number): [string, string[]] {
  if (spec.kind === 'memcached') {
    return ['memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', String(spec.threads), '-m', String(spec.memoryMb ?? 1024)]];
  }
  return [
    process.execPath,
    [STRATA_MAIN, 'server', '--cache-port', String(port), '--admin-port', '0', '--log-enabled', 'false', '--cache-threads', String(spec.threads),
      '--cache-memory', '1g', '--log-level', 'warn'],
  ];
}

async function startOnce(spec: ServerSpec, timeoutMs: number): Promise<RunningServer> {
  const port = await freePort();
  const [cmd, args] = commandFor(spec, port);
  const child = spawnTracked(cmd, args, { cwd: REPO });
  const output = tailOf(child.stderr);
  tailOf(child.stdout);
  const pid = child.pid ?? -1;
  const server: RunningServer = {
    spec, port, pid, child, output,
    alive: () => !hasExited(child),
    stop: () => stopChild(child),
  };
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (hasExited(child)) throw new Error(`${spec.id} exited during start (code ${child.exitCode}): ${output().slice(-500)}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) throw new Error(`${spec.id} not accepting on port ${port} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
    // The port may belong to someone else who took it meanwhile: the server must report our child's pid.
    const reported = Number((await stats(port)).pid);
    if (reported !== pid) throw new Error(`port ${port} answered with pid ${reported}, not ${spec.id}'s ${pid}`);
    return server;
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
}

/** Start a server; retries on another port up to 3 times (a port can be taken between probe and bind). */
export async function startServer(spec: ServerSpec, timeoutMs = 15000): Promise<RunningServer> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(spec, timeoutMs);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}
