import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../../bench/lib/procs.js';
import { freePort, waitForPort } from './ports.js';

export interface RealMemcached {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Start Debian's memcached (the reference peer) on a free loopback port, or on `fixedPort` (e.g. to restart one). */
export async function startMemcached(args: string[] = [], fixedPort?: number): Promise<RealMemcached> {
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const child: ChildProcess = spawnTracked('memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let exited = false;
    child.once('exit', () => (exited = true));
    try {
      await waitForPort(port, 5000);
      if (exited) throw new Error('memcached exited');
    } catch (err) {
      child.kill('SIGKILL');
      if (attempt < 3) continue;
      throw err;
    }
    return {
      port,
      child,
      stop: () =>
        new Promise<void>((resolve) => {
          if (exited) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGCONT');
          child.kill('SIGTERM');
        }),
    };
  }
}

/**
 * Stop a process with SIGSTOP and wait until the kernel shows it stopped (state T), so nothing
 * sent after this returns can still be answered by a thread that was running on another core.
 */
export async function freeze(child: ChildProcess): Promise<void> {
  child.kill('SIGSTOP');
  const deadline = Date.now() + 5000;
  for (;;) {
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'T' || state === 't') return;
    if (Date.now() > deadline) throw new Error(`process ${child.pid} did not stop (state ${state})`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
