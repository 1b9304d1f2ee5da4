import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RecordsClient } from '../../src/records/client.js';
import { startEtcd, type RealEtcd } from './etcd.js';
import { startLogNode, type LogNode } from './log-node.js';
import { NetProxy } from './net-proxy.js';
import { freePort } from './ports.js';

/** One records node of a region, its own process. */
export interface RecordsNodeProcess {
  id: string;
  port: number;
  proc: LogNode | null;
  start(): Promise<void>;
  kill(): Promise<void>;
}

/** A region: its log and its records nodes, each its own process (the first node's handles repeated at the top). */
export interface RegionProcess {
  region: string;
  dir: string;
  logPort: number;
  recordsPort: number;
  log: LogNode | null;
  records: LogNode | null;
  nodes: RecordsNodeProcess[];
  /** Start (again) on the same ports and data directory. */
  startLog(): Promise<void>;
  startRecords(): Promise<void>;
  /** SIGKILL. */
  killLog(): Promise<void>;
  killRecords(): Promise<void>;
}

/** Where a region's records node appends what it applies (with `applyTrace`). */
export function applyTracePath(r: { dir: string }, nodeId: string): string {
  return path.join(r.dir, `apply-trace-${nodeId}.jsonl`);
}

interface Link {
  from: string;
  to: string;
  proxy: NetProxy;
}

export interface RecordsCluster {
  etcd: RealEtcd;
  regions: Map<string, RegionProcess>;
  /** A client connected to a region's node (new each call; closed by stop(), or earlier by the caller). */
  client(region: string, timeoutMs?: number): Promise<RecordsClient>;
  /** One-way delay on every link between regions. */
  setDelay(ms: number): void;
  /** Cut every link into and out of the region; `heal` restores them. */
  isolate(region: string): void;
  heal(region: string): void;
  /** Stop every process cleanly, keeping the data directories (stop() removes them). */
  stopProcesses(): Promise<void>;
  /** Everything the region's process printed. */
  output(region: string): string;
  stop(): Promise<void>;
}

/**
 * Regions of one log process and one records process each (`strata server` with one service on),
 * sharing one etcd for the records metadata. Every connection from one region to another (record forwarding,
 * following another region's change log) goes through a NetProxy per (from, to, service), so a
 * test can add WAN delay or cut a region away.
 */
export async function startRecordsCluster(names: string[], opts: { args?: string[]; applyTrace?: boolean; nodesPerRegion?: number } = {}): Promise<RecordsCluster> {
  const etcd = await startEtcd();
  const base = mkdtempSync(path.join(tmpdir(), 'strata-regions-'));
  const regions = new Map<string, RegionProcess>();
  const links: Link[] = [];
  try {
    // The proxies listen first: ports picked for the nodes afterwards cannot be one of theirs.
    const pending: Array<{ from: string; to: string; node: number | 'log'; proxy: NetProxy }> = [];
    for (const from of names) {
      for (const to of names) {
        if (to === from) continue;
        for (const node of ['log' as const, ...Array.from({ length: opts.nodesPerRegion ?? 1 }, (_, i) => i)]) {
          const proxy = new NetProxy({ host: '127.0.0.1', port: 0 });
          await proxy.listen();
          pending.push({ from, to, node, proxy });
        }
      }
    }
    for (const region of names) {
      regions.set(region, {
        region,
        dir: path.join(base, region),
        logPort: await freePort(),
        recordsPort: 0,
        log: null,
        records: null,
        nodes: [],
        startLog: async () => {},
        startRecords: async () => {},
        killLog: async () => {},
        killRecords: async () => {},
      });
    }
    for (const r of regions.values()) {
      for (let i = 0; i < (opts.nodesPerRegion ?? 1); i++) {
        r.nodes.push({ id: `${r.region}-${i + 1}`, port: await freePort(), proc: null, start: async () => {}, kill: async () => {} });
      }
      r.recordsPort = r.nodes[0].port;
    }
    const via = new Map<string, string[]>(names.map((n) => [n, []]));
    for (const p of pending) {
      const target = regions.get(p.to)!;
      const port = p.node === 'log' ? target.logPort : target.nodes[p.node].port;
      p.proxy.target = { host: '127.0.0.1', port };
      via.get(p.from)!.push(`127.0.0.1:${port}=127.0.0.1:${p.proxy.port}`);
      links.push({ from: p.from, to: p.to, proxy: p.proxy });
    }
    for (const r of regions.values()) {
      const dropLinksTo = () => {
        for (const l of links) if (l.to === r.region) l.proxy.resetAll();
      };
      r.startLog = async () => {
        r.log = await startLogNode({ dataDir: path.join(r.dir, 'log'), port: r.logPort, nodeId: `${r.region}-log` });
      };
      for (const n of r.nodes) {
        n.start = async () => {
          n.proc = await startLogNode({
            dataDir: path.join(r.dir, n.id),
            port: r.logPort,
            nodeId: `${r.region}-log`,
            readyMessage: 'records listening',
            args: [
              '--log-enabled', 'false',
              '--records-enabled', 'true',
              '--records-log', `127.0.0.1:${r.logPort}`,
              '--records-port', String(n.port),
              '--records-region', r.region,
              '--records-node-id', n.id,
              '--records-etcd', etcd.endpoint,
              '--records-connect-via', via.get(r.region)!.join(','),
              '--records-http-port', '-1',
              '--records-session-ttl-ms', '2000',
              '--records-partitions', '2',
              '--records-tablets', '4',
              ...(opts.applyTrace ? ['--records-apply-trace', applyTracePath(r, n.id)] : []),
              ...(opts.args ?? []),
            ],
          });
          if (n === r.nodes[0]) r.records = n.proc;
        };
        n.kill = async () => {
          await n.proc?.kill();
          dropLinksTo();
        };
      }
      r.startRecords = () => r.nodes[0].start();
      r.killLog = async () => {
        await r.log?.kill();
        dropLinksTo();
      };
      r.killRecords = () => r.nodes[0].kill();
    }
    await Promise.all([...regions.values()].map((r) => r.startLog()));
    // The first node of each region first: it takes every tablet of tables created before the others start.
    await Promise.all([...regions.values()].map((r) => r.nodes[0].start()));
    await Promise.all([...regions.values()].flatMap((r) => r.nodes.slice(1).map((n) => n.start())));
  } catch (err) {
    for (const r of regions.values()) await Promise.all([...r.nodes.map((n) => n.proc?.kill()), r.log?.kill()]);
    for (const l of links) await l.proxy.close();
    await etcd.stop();
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  const clients: RecordsClient[] = [];
  const stopProcesses = async () => {
    await Promise.all([...regions.values()].flatMap((r) => r.nodes.map((n) => n.proc?.stop())));
    await Promise.all([...regions.values()].map((r) => r.log?.stop()));
  };
  return {
    etcd,
    regions,
    async client(region, timeoutMs = 20_000) {
      const c = await RecordsClient.connect({ port: regions.get(region)!.recordsPort, timeoutMs });
      clients.push(c);
      return c;
    },
    setDelay(ms) {
      for (const l of links) l.proxy.delayMs = ms;
    },
    isolate(region) {
      for (const l of links) if (l.from === region || l.to === region) l.proxy.cut();
    },
    heal(region) {
      for (const l of links) if (l.from === region || l.to === region) l.proxy.heal();
    },
    output(region) {
      const r = regions.get(region)!;
      return `${r.log?.output() ?? ''}${r.nodes.map((n) => n.proc?.output() ?? '').join('')}`;
    },
    stopProcesses,
    async stop() {
      for (const c of clients.splice(0)) c.close();
      await stopProcesses();
      for (const l of links) await l.proxy.close();
      await etcd.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** Resolves once every tablet of the table has a node in each of the regions (nodes claim them as they see the table). */
export async function waitForTabletOwners(client: RecordsClient, table: string, regions: string[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = (await client.tables()).tables.find((tb) => tb.def.name === table);
    if (state?.tablets.every((tb) => regions.every((r) => tb.owners[r]))) return;
    if (Date.now() > deadline) throw new Error(`table ${table}: tablets without a node in some of ${regions.join(', ')} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
