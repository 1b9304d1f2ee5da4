import { spawn, type ChildProcess } from 'node:child_process';
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
    const child: ChildProcess = spawn('memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(port), '-U', '0', ...args], {
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
