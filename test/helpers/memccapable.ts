import { spawn } from 'node:child_process';

/** A memccapable run that takes longer is killed (a reply that never comes). */
export const TIMEOUT_MS = 60_000;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  out: string;
}

/** Run libmemcached's memccapable (Debian libmemcached-tools) against a port. It flushes the server. */
export function memccapable(port: number, mode: '-a' | '-b'): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('memccapable', ['-h', '127.0.0.1', '-p', String(port), mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // A hung run (a reply that never comes) is killed, and reported with what it printed so far.
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, out });
    });
  });
}
