import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface StrataProcess {
  child: ChildProcess;
  pid: number;
  cachePort: number;
  adminPort: number;
  /** Resident memory of the process now, in bytes (VmRSS). */
  rss(): number;
  stop(): Promise<void>;
}

/** Run `strata server` as its own process (so its memory is measured alone); ports are read from its log. */
export async function startStrataProcess(args: string[], timeoutMs = 30_000): Promise<StrataProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'server', '--cache-port', '0', '--admin-port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // The ports come from the info-level "listening" log lines.
  const ports = await new Promise<{ cache: number; admin: number }>((resolve, reject) => {
    let buf = '';
    let cache = 0;
    let admin = 0;
    const timer = setTimeout(() => reject(new Error(`strata did not start: ${buf}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'cache listening') cache = rec.port!;
          if (rec.msg === 'admin listening') admin = rec.port!;
        } catch {
          /* partial line */
        }
      }
      if (cache && admin) {
        clearTimeout(timer);
        resolve({ cache, admin });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`strata exited with ${code}: ${buf}`));
    });
  }).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
  const pid = child.pid!;
  return {
    child,
    pid,
    cachePort: ports.cache,
    adminPort: ports.admin,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
