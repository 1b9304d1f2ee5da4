import { existsSync, readFileSync } from 'node:fs';
import { RecordsClient, VersionConflictError, type RecordResult } from '../../src/records/client.js';
import { RpcError } from '../../src/net/rpc-frame.js';
import { applyTracePath, startRecordsCluster, waitForTabletOwners, type RecordsCluster } from './records-cluster.js';
import type { Apply, HistoryInput, Op, OpKind, RecordState, Version } from './timeline-checker.js';

/** A small seeded PRNG (mulberry32), so a failing seed can be run again. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface JepsenOptions {
  seed: number;
  regions: string[];
  /** Client processes per region. */
  processesPerRegion: number;
  keys: number;
  durationMs: number;
  /** Records nodes per region (with more than one, the faults include tablet moves). */
  nodesPerRegion?: number;
  /** Run the fault schedule (kills, partitions, delay). */
  faults: boolean;
  log?: (line: string) => void;
}

export interface JepsenRun {
  input: HistoryInput;
  faults: string[];
  counts: Record<string, number>;
}

const TABLE = 'jepsen';

function parseVersion(v: string | null): Version | null {
  if (v === null) return null;
  const [g, s] = v.split('.').map(Number);
  return [g, s];
}

function valueOf(r: RecordResult): string | null {
  return r.exists && r.value ? (r.value.v as string) : null;
}

/** One client process: one operation at a time, against its region, reconnecting after errors. */
class Process {
  private client: RecordsClient | null = null;
  private seq = 0;
  /** The newest version this process saw per key (for read-critical). */
  private readonly seen = new Map<string, Version>();

  constructor(
    readonly name: string,
    readonly region: string,
    private readonly port: number,
    private readonly rnd: () => number,
    private readonly ops: Op[],
    private readonly keys: number,
  ) {}

  private async connection(): Promise<RecordsClient> {
    if (!this.client) this.client = await RecordsClient.connect({ port: this.port, timeoutMs: 4000 });
    return this.client;
  }

  private drop(): void {
    this.client?.close();
    this.client = null;
  }

  close(): void {
    this.drop();
  }

  private note(key: string, v: Version | null): void {
    if (!v) return;
    const known = this.seen.get(key);
    if (!known || v[0] > known[0] || (v[0] === known[0] && v[1] > known[1])) this.seen.set(key, v);
  }

  async step(): Promise<void> {
    const before = this.ops.length;
    await this.oneStep();
    // After a failure (a node down, a region cut off) pause a little rather than spin.
    if (this.ops.slice(before).some((o) => o.outcome !== 'ok')) await new Promise((r) => setTimeout(r, 50 + this.rnd() * 100));
  }

  private async oneStep(): Promise<void> {
    const key = `k${Math.floor(this.rnd() * this.keys)}`;
    const x = this.rnd();
    if (x < 0.25) await this.read('readAny', key);
    else if (x < 0.4) await this.read('readLatest', key);
    else if (x < 0.5) await this.read('readCritical', key);
    else if (x < 0.8) await this.write('write', key);
    else if (x < 0.95) {
      const read = await this.read('readLatest', key);
      if (read) await this.write('tas', key, read.version ?? [0, 0]);
    } else await this.write('delete', key);
  }

  private begin(f: OpKind, key: string, extra: Partial<Op> = {}): Op {
    const op: Op = { id: this.ops.length, process: this.name, region: this.region, f, key, invokeAt: performance.now(), outcome: 'unknown', ...extra };
    this.ops.push(op);
    return op;
  }

  private async read(f: 'readAny' | 'readLatest' | 'readCritical', key: string): Promise<{ version: Version | null } | null> {
    const required = f === 'readCritical' ? (this.seen.get(key) ?? ([0, 0] as Version)) : undefined;
    const op = this.begin(f, key, required ? { requiredVersion: required } : {});
    try {
      const c = await this.connection();
      const r = f === 'readAny' ? await c.readAny(TABLE, key) : f === 'readLatest' ? await c.readLatest(TABLE, key) : await c.readCritical(TABLE, key, required!);
      op.completeAt = performance.now();
      op.outcome = 'ok';
      const version = parseVersion(r.version);
      op.result = { version, value: valueOf(r) };
      this.note(key, version);
      return { version };
    } catch (err) {
      op.completeAt = performance.now();
      op.outcome = 'fail';
      op.error = String((err as Error).message ?? err);
      if (!(err instanceof RpcError) || err.code === 12 || err.code === 8) this.drop();
      return null;
    }
  }

  private async write(f: 'write' | 'tas' | 'delete', key: string, required?: Version): Promise<void> {
    const value = f === 'delete' ? null : `${this.name}-${this.seq++}`;
    const op = this.begin(f, key, { value, ...(required ? { requiredVersion: required } : {}) });
    let c: RecordsClient;
    try {
      c = await this.connection();
    } catch (err) {
      op.completeAt = performance.now();
      op.outcome = 'fail';
      op.error = `not connected: ${String((err as Error).message ?? err)}`;
      return;
    }
    try {
      const r =
        f === 'delete' ? await c.delete(TABLE, key) : f === 'tas' ? await c.testAndSetWrite(TABLE, key, required!, { v: value }, { replace: true }) : await c.write(TABLE, key, { v: value }, { replace: true });
      op.completeAt = performance.now();
      if (r === null) {
        op.outcome = 'fail';
        op.error = 'absent';
        return;
      }
      op.outcome = 'ok';
      const version = parseVersion(r.version);
      op.result = { version, value };
      this.note(key, version);
    } catch (err) {
      if (err instanceof VersionConflictError) {
        op.completeAt = performance.now();
        op.outcome = 'fail';
        op.error = 'version mismatch';
        this.note(key, parseVersion(err.current));
        return;
      }
      // Anything else may have committed (a timeout, a dropped connection, a master that kept retrying).
      op.error = String((err as Error).message ?? err);
      this.drop();
    }
  }
}

/** The fault schedule: every 1–2.5 s one of kill a records node, kill a log, cut a region off, change the WAN delay. */
async function nemesis(cluster: RecordsCluster, regions: string[], rnd: () => number, until: number, faults: string[]): Promise<void> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  while (Date.now() < until) {
    await sleep(1000 + rnd() * 1500);
    if (Date.now() >= until) break;
    const region = regions[Math.floor(rnd() * regions.length)];
    const r = cluster.regions.get(region)!;
    const x = rnd();
    const downMs = 300 + Math.floor(rnd() * 1500);
    if (x < 0.3) {
      const node = r.nodes[Math.floor(rnd() * r.nodes.length)];
      faults.push(`kill -9 records ${node.id} for ${downMs} ms`);
      await node.kill();
      await sleep(downMs);
      await node.start();
    } else if (x < 0.55) {
      faults.push(`kill -9 log ${region} for ${downMs} ms`);
      await r.killLog();
      await sleep(downMs);
      await r.startLog();
    } else if (x < 0.8) {
      faults.push(`isolate ${region} for ${downMs * 2} ms`);
      cluster.isolate(region);
      await sleep(downMs * 2);
      cluster.heal(region);
    } else if (x < 0.9 && r.nodes.length > 1) {
      faults.push(await moveATablet(cluster, region, rnd));
    } else {
      const delay = [0, 5, 20, 50][Math.floor(rnd() * 4)];
      faults.push(`WAN delay ${delay} ms`);
      cluster.setDelay(delay);
    }
  }
  cluster.setDelay(0);
  for (const region of regions) cluster.heal(region);
}

/** Start moving a random tablet of the workload's table to another node of the region (it finishes on its own). */
async function moveATablet(cluster: RecordsCluster, region: string, rnd: () => number): Promise<string> {
  const r = cluster.regions.get(region)!;
  let c: RecordsClient | null = null;
  try {
    c = await RecordsClient.connect({ port: r.nodes[Math.floor(rnd() * r.nodes.length)].port, timeoutMs: 5000 });
    const table = (await c.tables()).tables.find((tb) => tb.def.name === TABLE)!;
    const tablet = table.tablets[Math.floor(rnd() * table.tablets.length)];
    const others = r.nodes.map((n) => n.id).filter((id) => id !== tablet.owners[region]);
    const to = others[Math.floor(rnd() * others.length)];
    await c.moveTablet(TABLE, tablet.id, to, region);
    return `move tablet ${tablet.id} of ${region} to ${to}`;
  } catch (err) {
    return `move in ${region} refused: ${String((err as Error).message ?? err)}`;
  } finally {
    c?.close();
  }
}

/** Every region's copy of every key, once they agree (or the last reading after `timeoutMs`). */
async function converge(cluster: RecordsCluster, regions: string[], keys: number, timeoutMs: number): Promise<Record<string, Record<string, RecordState>>> {
  const clients = await Promise.all(regions.map((r) => cluster.client(r, 10_000)));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const finals: Record<string, Record<string, RecordState>> = {};
      let same = true;
      for (let i = 0; i < regions.length; i++) {
        finals[regions[i]] = {};
        for (let k = 0; k < keys; k++) {
          const key = `k${k}`;
          const r = await clients[i].readAny(TABLE, key);
          finals[regions[i]][key] = { version: parseVersion(r.version), value: valueOf(r) };
          const first = finals[regions[0]][key];
          if (JSON.stringify(first) !== JSON.stringify(finals[regions[i]][key])) same = false;
        }
      }
      if (same || Date.now() > deadline) return finals;
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    for (const c of clients) c.close();
  }
}

/** One apply trace: a node's applications of the workload's table, in order (a line cut short by a kill is skipped). */
function readTrace(file: string, label: string): Apply[] {
  if (!existsSync(file)) return [];
  const applies: Apply[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let e: { table: string; key: string; gen: number; ver: number; deleted: boolean; fields: string };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    if (e.table !== TABLE) continue;
    const value = e.deleted ? null : ((JSON.parse(e.fields) as { v?: string }).v ?? null);
    applies.push({ region: label, key: e.key, version: [e.gen, e.ver], value, seq: applies.length });
  }
  return applies;
}

/** Every node's trace; a region with several nodes is checked per node (a moved tablet starts again on its new node). */
function readApplies(cluster: RecordsCluster): Apply[] {
  return [...cluster.regions.values()].flatMap((r) => r.nodes.flatMap((n) => readTrace(applyTracePath(r, n.id), r.nodes.length > 1 ? `${r.region}/${n.id}` : r.region)));
}

/** Start the regions, run the workload (and faults) for a while, heal, and collect the history. */
export async function runJepsen(o: JepsenOptions): Promise<JepsenRun> {
  const rnd = seededRandom(o.seed);
  const cluster = await startRecordsCluster(o.regions, { applyTrace: true, nodesPerRegion: o.nodesPerRegion ?? 1 });
  const processes: Process[] = [];
  try {
    const setup = await cluster.client(o.regions[0]);
    await setup.createTable({ name: TABLE, homeRegion: o.regions[0] });
    await waitForTabletOwners(setup, TABLE, o.regions);
    setup.close();
    const ops: Op[] = [];
    for (const region of o.regions) {
      for (let p = 0; p < o.processesPerRegion; p++) {
        const nodes = cluster.regions.get(region)!.nodes;
        processes.push(new Process(`${region}/${p}`, region, nodes[p % nodes.length].port, seededRandom(o.seed * 1000 + processes.length), ops, o.keys));
      }
    }
    const until = Date.now() + o.durationMs;
    const faults: string[] = [];
    const chaos = o.faults ? nemesis(cluster, o.regions, rnd, until, faults) : Promise.resolve();
    await Promise.all(
      processes.map(async (p) => {
        while (Date.now() < until) await p.step();
      }),
    );
    await chaos;
    for (const p of processes) p.close();
    const finals = await converge(cluster, o.regions, o.keys, 60_000);
    await cluster.stopProcesses();
    const applies = readApplies(cluster);
    await cluster.stop();
    const counts: Record<string, number> = {};
    for (const op of ops) counts[`${op.f}:${op.outcome}`] = (counts[`${op.f}:${op.outcome}`] ?? 0) + 1;
    return { input: { ops, applies, finals }, faults, counts };
  } catch (err) {
    for (const p of processes) p.close();
    for (const r of o.regions) o.log?.(`--- ${r} ---\n${cluster.output(r).slice(-4000)}`);
    await cluster.stop();
    throw err;
  }
}
