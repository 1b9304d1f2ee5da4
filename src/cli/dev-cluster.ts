import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

export interface DevClusterOptions {
  regions: number;
  dataDir: string;
  basePort: number;
  etcdBinary: string;
}

const NAMES = ['west', 'central', 'east', 'north', 'south', 'asia', 'europe', 'oceania'];

interface Child {
  name: string;
  proc: ChildProcess;
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        if (Date.now() > deadline) reject(new Error(`nothing answered on port ${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/**
 * `strata dev-cluster --regions N`: a local multi-region records cluster to try things on. It
 * starts etcd (Debian's etcd-server) for the shared metadata and, per region, one `strata server`
 * (log and records, cache off) on ports basePort + 10·i (log RPC +0, log HTTP +1, records RPC +2,
 * records HTTP +3, admin +4). Ctrl-C stops everything; the data stays in dataDir.
 */
export async function runDevCluster(o: DevClusterOptions): Promise<void> {
  if (!Number.isInteger(o.regions) || o.regions < 1 || o.regions > NAMES.length) throw new ConfigError(`--regions must be 1 to ${NAMES.length}`);
  if (!existsSync(o.etcdBinary)) throw new ConfigError(`dev-cluster needs etcd for the shared metadata: ${o.etcdBinary} not found (apt-get install etcd-server)`);
  mkdirSync(o.dataDir, { recursive: true });
  const children: Child[] = [];
  const stopAll = () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
  };
  const etcdClient = o.basePort - 2;
  const etcdPeer = o.basePort - 1;
  children.push({
    name: 'etcd',
    proc: spawn(o.etcdBinary, [
      '--name', 'dev', '--data-dir', path.join(o.dataDir, 'etcd'),
      '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `dev=http://127.0.0.1:${etcdPeer}`, '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', openSync(path.join(o.dataDir, 'etcd.log'), 'a')] }),
  });
  try {
    await waitForPort(etcdClient, 15_000);
    const rows: string[] = [];
    for (let i = 0; i < o.regions; i++) {
      const region = NAMES[i];
      const p = o.basePort + 10 * i;
      const args = [
        ...process.execArgv, process.argv[1], 'server',
        '--data-dir', path.join(o.dataDir, region), '--cache-enabled', 'false',
        '--log-port', String(p), '--log-http-port', String(p + 1), '--log-etcd-prefix', `/strata/${region}/`,
        '--records-port', String(p + 2), '--records-http-port', String(p + 3), '--admin-port', String(p + 4),
        '--records-region', region, '--records-node-id', `${region}-1`, '--records-etcd', `http://127.0.0.1:${etcdClient}`,
        '--log-level', 'warn',
      ];
      children.push({ name: region, proc: spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] }) });
      rows.push(`  ${region.padEnd(8)} records rpc 127.0.0.1:${p + 2}  http http://127.0.0.1:${p + 3}  log 127.0.0.1:${p}  admin http://127.0.0.1:${p + 4}/metrics`);
    }
    await Promise.all(Array.from({ length: o.regions }, (_, i) => waitForPort(o.basePort + 10 * i + 3, 60_000)));
    process.stdout.write(`strata dev-cluster: ${o.regions} region(s), etcd http://127.0.0.1:${etcdClient}, data in ${o.dataDir}\n${rows.join('\n')}\n`);
    process.stdout.write(`try: curl -X POST localhost:${o.basePort + 3}/tables -d '{"name":"users"}'; curl -X PUT localhost:${o.basePort + 3}/tables/users/records/alice -d '{"city":"Paris"}'\n`);
  } catch (err) {
    stopAll();
    throw err;
  }
  await new Promise<void>((resolve) => {
    const stop = () => {
      stopAll();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    for (const c of children) c.proc.once('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`dev-cluster: ${c.name} exited with ${code}; stopping\n`);
      stop();
    });
  });
  await Promise.all(children.map((c) => (c.proc.exitCode !== null ? Promise.resolve() : new Promise((r) => c.proc.once('exit', r)))));
}
