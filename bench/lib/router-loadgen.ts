/**
 * Load generator of the router bench: K logical connections, each keeping W gets (single or
 * multi-key) outstanding, against either one proxy (all keys to one socket) or the cache nodes
 * directly (one socket per node per logical connection; each get's keys split by the node that
 * holds them, the parts sent together, the reply complete when every part is). The same seeds
 * give the same key sequence whatever the target. Per-request latency (send → last part's reply)
 * into an HDR histogram; every value is checked (length, starts with its key), and the keys
 * answered must be the keys asked (sum of key numbers). Like bench/lib/loadgen.ts, one write per
 * socket per refill, refills after each read.
 */
import { runPhases, drain } from './phases.js';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import hdr from 'hdr-histogram-js';
import { ReplyParser, REPLY_OK } from './parser.js';
import { Rng, writeGet, getBytes } from './keys.js';
import { cpuSeconds } from './procs.js';

export interface ShardedLoadOptions {
  /** One port: a proxy. Several: the nodes themselves, keys placed by `shardOf`. */
  ports: number[];
  /** Node index (into `ports`) of each key in [0, keyspace); required with several ports. */
  shardOf: Uint8Array | null;
  /** Processes whose CPU time is sampled over the measured interval, by group (e.g. nodes, proxy). */
  pids: Record<string, number[]>;
  connections: number;
  window: number;
  valueSize: number;
  keyspace: number;
  /** Keys per get (1 = single get, 10 = multiget). */
  keysPerGet: number;
  /** Paced instead of as fast as replies come: this many requests per second in all (each connection its share). */
  ratePerSec?: number;
  warmupMs: number;
  durationMs: number;
  seed?: number;
}

export interface ShardedLoadResult {
  requests: number;
  keys: number;
  requestsPerSec: number;
  keysPerSec: number;
  hitRatio: number;
  p50us: number;
  p90us: number;
  p99us: number;
  p999us: number;
  maxUs: number;
  /** CPU seconds over the measured interval: this process, each pid group. */
  clientCpuS: number;
  cpuS: Record<string, number>;
  /** Task CPU time of every other process of the machine (and steal). */
  otherCpuS: number;
  /** Machine-wide irq + softirq time (loopback networking; mostly this bench's). */
  irqCpuS: number;
  seconds: number;
  reads: number;
  writes: number;
  errors: number;
  badValues: number;
  wrongKeys: number;
  errorLines: string[];
  failure?: string;
}


/** USER_HZ: the unit of /proc/stat on Linux. */
const CLK_TCK = 100;
/**
 * CPU seconds of the whole machine (all CPUs) from /proc/stat's first line: `tasks` = user + nice +
 * system + steal (guest time is already in user), `irq` = irq + softirq (on loopback, mostly the
 * bench's own packets, not charged to any process).
 */
function machineCpu(): { tasks: number; irq: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    return { tasks: (f[0] + f[1] + f[2] + f[7]) / CLK_TCK, irq: (f[5] + f[6]) / CLK_TCK };
  } catch {
    return { tasks: NaN, irq: NaN };
  }
}

function sampleCpu(pids: Record<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [group, list] of Object.entries(pids)) out[group] = list.reduce((a, p) => a + cpuSeconds(p), 0);
  return out;
}

export async function runShardedLoad(o: ShardedLoadOptions): Promise<ShardedLoadResult> {
  const nodes = o.ports.length;
  if (nodes > 1 && (!o.shardOf || o.shardOf.length < o.keyspace)) throw new Error('shardOf must place every key when there are several ports');
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const r = { requests: 0, keys: 0, hits: 0, reads: 0, writes: 0, errors: 0, badValues: 0, wrongKeys: 0 };
  const errorLines: string[] = [];
  const sockets: net.Socket[] = [];
  let measuring = false;
  let running = true;
  let outstandingAll = 0;
  let lastProgress = performance.now();
  let failure: string | undefined;
  let onIdle: (() => void) | null = null;
  const K = o.keysPerGet;
  const W = o.window;

  const startConn = (index: number): Promise<() => void> => {
    const rng = new Rng((o.seed ?? 12345) + index * 7919);
    // Request slots (at most W outstanding; with several nodes they can complete out of order).
    const sentAt = new Float64Array(W);
    const partsLeft = new Int32Array(W);
    const wantSum = new Float64Array(W);
    const gotSum = new Float64Array(W);
    const gotHits = new Int32Array(W);
    const failed = new Uint8Array(W);
    const free = new Int32Array(W);
    for (let i = 0; i < W; i++) free[i] = W - 1 - i;
    let freeTop = W;
    let count = 0;
    let now = 0;
    const keys = new Int32Array(K);
    // Per node: keys of the request being written, and the FIFO of slots waiting for its replies.
    const nodeKeys = Array.from({ length: nodes }, () => new Int32Array(K));
    const nodeCount = new Int32Array(nodes);
    const fifo = Array.from({ length: nodes }, () => new Int32Array(W));
    const fifoHead = new Int32Array(nodes);
    const fifoLen = new Int32Array(nodes);
    const socks: net.Socket[] = [];
    const bufs: Buffer[] = new Array(nodes);
    const offs = new Int32Array(nodes);

    const complete = (slot: number) => {
      count--;
      outstandingAll--;
      free[freeTop++] = slot;
      if (failed[slot]) r.errors++;
      else if (gotHits[slot] === K && gotSum[slot] !== wantSum[slot]) r.wrongKeys++;
      if (!measuring) return;
      r.requests++;
      r.keys += K;
      r.hits += gotHits[slot];
      hist.recordValue(Math.max(1, Math.round((now - sentAt[slot]) * 1000)));
    };

    // Paced mode: this connection sends one request every intervalMs (the connections staggered),
    // when it has a free slot; a slot missed while busy is skipped, not made up in a burst.
    const intervalMs = o.ratePerSec ? (1000 * o.connections) / o.ratePerSec : 0;
    let nextAt = 0;
    let timer: NodeJS.Timeout | null = null;
    const paced = () => {
      if (!running || count >= W || timer) return;
      const t = performance.now();
      if (nextAt === 0) nextAt = t + (index * intervalMs) / o.connections;
      if (t < nextAt) {
        timer = setTimeout(() => {
          timer = null;
          paced();
        }, nextAt - t);
        return;
      }
      nextAt = Math.max(nextAt + intervalMs, t);
      send(1);
      paced();
    };

    const refill = () => {
      if (intervalMs > 0) paced();
      else send(W - count);
    };

    const send = (n: number) => {
      if (!running || n <= 0) return;
      const t = performance.now();
      for (let s = 0; s < nodes; s++) {
        bufs[s] = Buffer.allocUnsafe(n * getBytes(K));
        offs[s] = 0;
      }
      for (let j = 0; j < n; j++) {
        const slot = free[--freeTop];
        let sum = 0;
        for (let k = 0; k < K; k++) {
          keys[k] = rng.int(o.keyspace);
          sum += keys[k];
        }
        sentAt[slot] = t;
        wantSum[slot] = sum;
        gotSum[slot] = 0;
        gotHits[slot] = 0;
        failed[slot] = 0;
        if (nodes === 1) {
          offs[0] = writeGet(bufs[0], offs[0], keys, K);
          fifo[0][(fifoHead[0] + fifoLen[0]++) % W] = slot;
          partsLeft[slot] = 1;
        } else {
          nodeCount.fill(0);
          for (let k = 0; k < K; k++) {
            const s = o.shardOf![keys[k]];
            nodeKeys[s][nodeCount[s]++] = keys[k];
          }
          let parts = 0;
          for (let s = 0; s < nodes; s++) {
            if (nodeCount[s] === 0) continue;
            offs[s] = writeGet(bufs[s], offs[s], nodeKeys[s], nodeCount[s]);
            fifo[s][(fifoHead[s] + fifoLen[s]++) % W] = slot;
            parts++;
          }
          partsLeft[slot] = parts;
        }
      }
      count += n;
      outstandingAll += n;
      for (let s = 0; s < nodes; s++) {
        if (offs[s] === 0) continue;
        if (measuring) r.writes++;
        socks[s].write(bufs[s].subarray(0, offs[s]));
      }
    };

    const connectNode = (s: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port: o.ports[s] });
        sock.setNoDelay(true);
        sockets.push(sock);
        socks[s] = sock;
        const parser = new ReplyParser(o.valueSize, (status, hits, _firstKey, keySum) => {
          if (fifoLen[s] === 0) {
            failure ??= `connection ${index}: a reply nobody asked for from port ${o.ports[s]}`;
            return;
          }
          const slot = fifo[s][fifoHead[s]];
          fifoHead[s] = (fifoHead[s] + 1) % W;
          fifoLen[s]--;
          if (status !== REPLY_OK) failed[slot] = 1;
          gotHits[slot] += hits;
          gotSum[slot] += keySum;
          if (--partsLeft[slot] === 0) complete(slot);
        }, true);
        sock.on('connect', () => resolve());
        sock.on('data', (d: Buffer) => {
          now = performance.now();
          lastProgress = now;
          if (measuring) r.reads++;
          parser.push(d);
          if (parser.errorLines.length && errorLines.length < 5) errorLines.push(...parser.errorLines.splice(0));
          r.badValues += parser.badValues;
          parser.badValues = 0;
          if (running) refill();
          else if (outstandingAll === 0 && onIdle) onIdle();
        });
        sock.on('error', (err) => {
          failure ??= `connection ${index} to port ${o.ports[s]}: ${err.message}`;
          reject(err);
        });
        sock.on('close', () => {
          if (running) failure ??= `connection ${index} to port ${o.ports[s]} closed by the server`;
        });
      });

    return Promise.all(o.ports.map((_, s) => connectNode(s))).then(() => refill);
  };

  let refills: (() => void)[];
  try {
    refills = await Promise.all(Array.from({ length: o.connections }, (_, i) => startConn(i)));
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }

  const t0 = performance.now();
  for (const refill of refills) refill();
  let cpu0 = { groups: sampleCpu(o.pids), client: process.cpuUsage(), machine: machineCpu() };
  let cpu1 = { groups: {} as Record<string, number>, client: { user: 0, system: 0 }, machine: { tasks: NaN, irq: NaN } };

  const state = { outstanding: () => outstandingAll, lastProgress: () => lastProgress, failure: () => failure };
  const phases = await runPhases(state, {
    warmupMs: o.warmupMs - (performance.now() - t0),
    durationMs: o.durationMs,
    onMeasureStart: () => {
      measuring = true;
      cpu0 = { groups: sampleCpu(o.pids), client: process.cpuUsage(), machine: machineCpu() };
    },
    onMeasureEnd: () => {
      measuring = false;
      cpu1 = { groups: sampleCpu(o.pids), client: process.cpuUsage(cpu0.client), machine: machineCpu() };
    },
  });
  running = false;
  measuring = false;
  failure ??= phases.failure;
  const { tStart, tEnd } = phases;
  if (!failure) failure = await drain(state, (callback) => (onIdle = callback));
  for (const s of sockets) s.destroy();

  const seconds = tEnd > tStart ? (tEnd - tStart) / 1000 : 0;
  const clientCpuS = (cpu1.client.user + cpu1.client.system) / 1e6;
  const cpuS: Record<string, number> = {};
  for (const g of Object.keys(o.pids)) cpuS[g] = (cpu1.groups[g] ?? NaN) - cpu0.groups[g];
  const ours = clientCpuS + Object.values(cpuS).reduce((a, b) => a + b, 0);
  return {
    requests: r.requests,
    keys: r.keys,
    requestsPerSec: seconds ? r.requests / seconds : 0,
    keysPerSec: seconds ? r.keys / seconds : 0,
    hitRatio: r.requests ? r.hits / r.keys : 0,
    p50us: hist.getValueAtPercentile(50),
    p90us: hist.getValueAtPercentile(90),
    p99us: hist.getValueAtPercentile(99),
    p999us: hist.getValueAtPercentile(99.9),
    maxUs: hist.maxValue,
    clientCpuS,
    cpuS,
    otherCpuS: Math.max(0, cpu1.machine.tasks - cpu0.machine.tasks - ours),
    irqCpuS: cpu1.machine.irq - cpu0.machine.irq,
    seconds,
    reads: r.reads,
    writes: r.writes,
    errors: r.errors,
    badValues: r.badValues,
    wrongKeys: r.wrongKeys,
    errorLines,
    failure,
  };
}
