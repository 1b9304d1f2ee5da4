import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../../bench/lib/procs.js';
import { readFileSync } from 'node:fs';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface StrataProcess {
  child: ChildProcess;
  pid: number;
  cachePort: number;
  adminPort: number;
  /** Resident memory of the process now, in bytes (VmRSS). */
  rss(): number;
  /** The most the process has had resident so far, in bytes (VmHWM). */
  peakRss(): number;
  stop(): Promise<void>;
}

export interface StrataProcessOptions {
  timeoutMs?: number;
  /** Raise the process's open-file limit (`ulimit -n`) to this before it starts; fails if the hard limit is lower. */
  fdLimit?: number;
}

/** Run `strata server` as its own process (so its memory is measured alone); ports are read from its log. */
export async function startStrataProcess(args: string[], options: StrataProcessOptions = {}): Promise<StrataProcess> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const argv = [process.execPath, '--import', 'tsx', MAIN, 'server', '--cache-port', '0', '--admin-port', '0', '--log-enabled', 'false', ...args];
  const [command, ...rest] = options.fdLimit ? withFdLimit(options.fdLimit, argv) : argv;
  const child = spawnTracked(command, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
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
    rss: () => procStatus(pid, 'VmRSS'),
    peakRss: () => procStatus(pid, 'VmHWM'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** A field of /proc/PID/status given in kB, in bytes. */
export function procStatus(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * The command line that runs `argv` with its open-file limit raised to `n` (soft limit, up to
 * the hard one): Node cannot raise its own limit, a shell can before exec'ing the program.
 */
export function withFdLimit(n: number, argv: string[]): string[] {
  return ['/bin/sh', '-c', `ulimit -n ${n} && exec "$@"`, 'sh', ...argv];
}
