import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './ports.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface BrokerProcess {
  port: number;
  child: ChildProcess;
  /** Everything the broker wrote on stderr so far (its JSON log lines). */
  output(): string;
  /** SIGTERM, and wait for the exit (a clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL, and wait for the exit (a crash). */
  kill(): Promise<void>;
}

export interface BrokerOptions {
  dataDir: string;
  /** A port to listen on; default: one that was free a moment ago. Give the same port to restart a broker where it was. */
  port?: number;
  /** More `strata server` flags. */
  args?: string[];
  timeoutMs?: number;
}

/**
 * `strata server` with only the log service, as its own process: it can be killed and started
 * again on the same port and data directory (same node id, same partitions).
 */
export async function startBroker(opts: BrokerOptions): Promise<BrokerProcess> {
  const port = opts.port ?? (await freePort());
  const args = [
    '--import', 'tsx', MAIN, 'server',
    '--data-dir', opts.dataDir,
    '--cache-enabled', 'false',
    '--admin-port', '0',
    '--log-port', String(port),
    '--log-http-port', '-1',
    // A restarted node waits for its previous registration to expire: keep that short.
    '--log-session-ttl-ms', '1000',
    ...(opts.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`broker did not start within ${timeoutMs} ms: ${out}`)), timeoutMs);
    const onData = () => {
      if (out.split('\n').some((l) => l.includes('"msg":"log listening"'))) done();
    };
    const onExit = (code: number | null) => done(new Error(`broker exited with ${code}: ${out}`));
    const done = (err?: Error) => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    child.stderr!.on('data', onData);
    child.once('exit', onExit);
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { port, child, output: () => out, stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}
