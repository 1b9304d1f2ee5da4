import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { RecordsClient } from '../../src/records/client.js';
import { startEtcd, type RealEtcd } from './etcd.js';
import { startLogNode, type LogNode } from './log-node.js';
import { NetProxy } from './net-proxy.js';
import { freePort } from './ports.js';

export interface RegionProcess {
  region: string;
  dir: string;
  logPort: number;
  recordsPort: number;
  node: LogNode | null;
  /** Start (again) on the same ports and data directory. */
  start(): Promise<void>;
  kill(): Promise<void>;
}

interface Link {
  from: string;
  to: string;
  proxy: NetProxy;
}

export interface RecordsCluster {
  etcd: RealEtcd;
  regions: Map<string, RegionProcess>;
  /** A client connected to a region's node (new each call; the caller closes it). */
  client(region: string, timeoutMs?: number): Promise<RecordsClient>;
  /** One-way delay on every link between regions. */
  setDelay(ms: number): void;
  /** Cut every link into and out of the region; `heal` restores them. */
  isolate(region: string): void;
  heal(region: string): void;
  /** Everything the region's process printed. */
  output(region: string): string;
  stop(): Promise<void>;
}

/**
 * Regions as separate `strata server` processes (log + records, one node each), sharing one
 * etcd for the records metadata. Every connection from one region to another (record forwarding,
 * following another region's change log) goes through a NetProxy per (from, to, service), so a
 * test can add WAN delay or cut a region away.
 */
export async function startRecordsCluster(names: string[], opts: { args?: string[] } = {}): Promise<RecordsCluster> {
  const etcd = await startEtcd();
  const base = mkdtempSync(path.join(tmpdir(), 'strata-regions-'));
  const regions = new Map<string, RegionProcess>();
  const links: Link[] = [];
  try {
    for (const region of names) {
      regions.set(region, { region, dir: path.join(base, region), logPort: await freePort(), recordsPort: await freePort(), node: null, start: async () => {}, kill: async () => {} });
    }
    const via = new Map<string, string[]>();
    for (const from of names) {
      const map: string[] = [];
      for (const to of names) {
        if (to === from) continue;
        const target = regions.get(to)!;
        for (const port of [target.logPort, target.recordsPort]) {
          const proxy = new NetProxy({ host: '127.0.0.1', port });
          map.push(`127.0.0.1:${port}=127.0.0.1:${await proxy.listen()}`);
          links.push({ from, to, proxy });
        }
      }
      via.set(from, map);
    }
    for (const r of regions.values()) {
      r.start = async () => {
        r.node = await startLogNode({
          dataDir: r.dir,
          port: r.logPort,
          nodeId: `${r.region}-log`,
          readyMessage: 'records listening',
          args: [
            '--records-port', String(r.recordsPort),
            '--records-region', r.region,
            '--records-node-id', `${r.region}-1`,
            '--records-etcd', etcd.endpoint,
            '--records-connect-via', via.get(r.region)!.join(','),
            '--records-session-ttl-ms', '2000',
            '--records-partitions', '2',
            '--records-tablets', '4',
            ...(opts.args ?? []),
          ],
        });
      };
      r.kill = async () => {
        await r.node?.kill();
        for (const l of links) if (l.to === r.region) l.proxy.resetAll();
      };
    }
    await Promise.all([...regions.values()].map((r) => r.start()));
  } catch (err) {
    for (const r of regions.values()) await r.node?.kill();
    for (const l of links) await l.proxy.close();
    await etcd.stop();
    rmSync(base, { recursive: true, force: true });
    throw err;
  }
  return {
    etcd,
    regions,
    async client(region, timeoutMs = 20_000) {
      return RecordsClient.connect({ port: regions.get(region)!.recordsPort, timeoutMs });
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
      return regions.get(region)!.node?.output() ?? '';
    },
    async stop() {
      await Promise.all([...regions.values()].map((r) => r.node?.stop()));
      for (const l of links) await l.proxy.close();
      await etcd.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}
