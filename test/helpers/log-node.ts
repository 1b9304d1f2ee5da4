import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../../bench/lib/procs.js';
import { freePort } from './ports.js';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface LogNodeOptions {
  dataDir: string;
  /** Fixed so a restarted node comes back where clients look for it; default a free port. */
  port?: number;
  nodeId?: string;
  etcd?: string;
  /** More `strata server` flags. */
  args?: string[];
  timeoutMs?: number;
  /** The log line that says the node is up (default the log service's). */
  readyMessage?: string;
}

export interface LogNode {
  child: ChildProcess;
  port: number;
  nodeId: string;
  /** Lines the process wrote to stderr so far. */
  output(): string;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (clean shutdown), SIGKILL after a grace period. */
  stop(): Promise<void>;
}

/** `strata server` with only the log service, as its own process; resolves once it listens. */
export async function startLogNode(opts: LogNodeOptions): Promise<LogNode> {
  const port = opts.port ?? (await freePort());
  const nodeId = opts.nodeId ?? 'n1';
  const args = [
    '--import', 'tsx', MAIN, 'server',
    '--data-dir', opts.dataDir,
    '--cache-enabled', 'false',
    '--admin-port', '0',
    '--log-port', String(port),
    '--log-http-port', '-1',
    '--log-node-id', nodeId,
    '--records-enabled', 'false',
    ...(opts.etcd ? ['--log-etcd', opts.etcd] : []),
    ...(opts.args ?? []),
  ];
  const child = spawnTracked(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`log node ${nodeId} did not start: ${out}`)), opts.timeoutMs ?? 30_000);
    const check = () => {
      if (out.includes(`"msg":"${opts.readyMessage ?? 'log listening'}"`)) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve();
      }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`log node ${nodeId} exited (${code ?? signal}) before listening: ${out}`));
    });
  }).catch(async (err: unknown) => {
    await kill();
    throw err;
  });
  return {
    child,
    port,
    nodeId,
    output: () => out,
    kill,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
