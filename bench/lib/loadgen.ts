/**
 * Pipelined load generator: K connections, each keeping W requests outstanding (one write per
 * refill), get/set mix over a preloaded keyspace, per-request latency into an HDR histogram.
 * Runs in this process, so its CPU time is the client's; the server's comes from /proc.
 */
import { runPhases, drain } from './phases.js';
import net from 'node:net';
import hdr from 'hdr-histogram-js';
import { ReplyParser, REPLY_OK } from './parser.js';
import { SetWriter, Rng, writeGet, getBytes } from './keys.js';
import { cpuSeconds } from './procs.js';

export interface LoadOptions {
  port: number;
  serverPid: number;
  connections: number;
  window: number;
  valueSize: number;
  keyspace: number;
  /** Keys per get (1 = single get, 10 = multiget). */
  keysPerGet: number;
  getRatio: number;
  warmupMs: number;
  durationMs: number;
  seed?: number;
}

export interface LoadResult {
  requests: number;
  gets: number;
  sets: number;
  /** Keys asked for by gets plus keys set (memcaslap counts a 10-key multiget as 10 ops too). */
  keys: number;
  requestsPerSec: number;
  keysPerSec: number;
  hitRatio: number;
  p50us: number;
  p99us: number;
  p999us: number;
  serverCpuS: number;
  clientCpuS: number;
  seconds: number;
  /** Socket reads ('data' events) and writes during the measured interval: replies per read shows how the server batches. */
  reads: number;
  writes: number;
  errors: number;
  badValues: number;
  wrongKeys: number;
  errorLines: string[];
  failure?: string;
}

const GET = 0;
const SET = 1;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const setWriter = new SetWriter(o.valueSize);
  const perReq = Math.max(setWriter.maxBytes, getBytes(o.keysPerGet));
  const r = { requests: 0, gets: 0, sets: 0, keys: 0, hits: 0, reads: 0, writes: 0, errors: 0, badValues: 0, wrongKeys: 0 };
  const errorLines: string[] = [];
  const sockets: net.Socket[] = [];
  let measuring = false;
  let running = true;
  let outstandingAll = 0;
  let lastProgress = performance.now();
  let failure: string | undefined;
  let onIdle: (() => void) | null = null;

  const startConn = (index: number): Promise<() => void> =>
    new Promise((resolveConnected, rejectConnected) => {
      const rng = new Rng((o.seed ?? 12345) + index * 7919);
      const sentAt = new Float64Array(o.window);
      const kind = new Uint8Array(o.window);
      const firstKey = new Int32Array(o.window);
      let head = 0; // oldest outstanding
      let count = 0;
      const keys = new Int32Array(o.keysPerGet);
      const sock = net.connect({ host: '127.0.0.1', port: o.port });
      sock.setNoDelay(true);
      sockets.push(sock);
      let now = 0;

      const parser = new ReplyParser(o.valueSize, (status, hits, gotKey) => {
        const slot = head;
        head = (head + 1) % o.window;
        count--;
        outstandingAll--;
        if (status !== REPLY_OK) r.errors++;
        if (kind[slot] === GET && hits > 0 && o.keysPerGet === 1 && gotKey !== firstKey[slot]) r.wrongKeys++;
        if (!measuring) return;
        r.requests++;
        if (kind[slot] === GET) {
          r.gets++;
          r.keys += o.keysPerGet;
          r.hits += hits;
        } else {
          r.sets++;
          r.keys++;
        }
        hist.recordValue(Math.max(1, Math.round((now - sentAt[slot]) * 1000)));
      });

      const refill = () => {
        const n = o.window - count;
        if (!running || n <= 0) return;
        const buf = Buffer.allocUnsafe(n * perReq);
        let off = 0;
        const t = performance.now();
        let slot = (head + count) % o.window;
        for (let j = 0; j < n; j++) {
          if (rng.next() < o.getRatio) {
            for (let k = 0; k < o.keysPerGet; k++) keys[k] = rng.int(o.keyspace);
            off = writeGet(buf, off, keys, o.keysPerGet);
            kind[slot] = GET;
            firstKey[slot] = keys[0];
          } else {
            const key = rng.int(o.keyspace);
            off = setWriter.write(buf, off, key);
            kind[slot] = SET;
          }
          sentAt[slot] = t;
          slot = (slot + 1) % o.window;
        }
        count += n;
        outstandingAll += n;
        if (measuring) r.writes++;
        sock.write(buf.subarray(0, off));
      };

      sock.on('connect', () => resolveConnected(refill));
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
        failure ??= `connection ${index}: ${err.message}`;
        rejectConnected(err);
      });
      sock.on('close', () => {
        if (running) failure ??= `connection ${index} closed by the server`;
      });
    });

  let refills: (() => void)[];
  try {
    refills = await Promise.all(Array.from({ length: o.connections }, (_, i) => startConn(i)));
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }

  const t0 = performance.now();
  for (const refill of refills) refill();
  let cpu0 = { server: 0, client: process.cpuUsage() };
  let cpu1 = { server: 0, client: { user: 0, system: 0 } };

  const state = { outstanding: () => outstandingAll, lastProgress: () => lastProgress, failure: () => failure };
  const phases = await runPhases(state, {
    warmupMs: o.warmupMs - (performance.now() - t0),
    durationMs: o.durationMs,
    onMeasureStart: () => {
      measuring = true;
      cpu0 = { server: cpuSeconds(o.serverPid), client: process.cpuUsage() };
    },
    onMeasureEnd: () => {
      measuring = false;
      cpu1 = { server: cpuSeconds(o.serverPid), client: process.cpuUsage(cpu0.client) };
    },
  });
  running = false;
  measuring = false;
  failure ??= phases.failure;
  const { tStart, tEnd } = phases;
  if (!failure) failure = await drain(state, (callback) => (onIdle = callback));
  for (const s of sockets) s.destroy();

  const seconds = tEnd > tStart ? (tEnd - tStart) / 1000 : 0;
  return {
    requests: r.requests,
    gets: r.gets,
    sets: r.sets,
    keys: r.keys,
    requestsPerSec: seconds ? r.requests / seconds : 0,
    keysPerSec: seconds ? r.keys / seconds : 0,
    hitRatio: r.gets ? r.hits / (r.gets * o.keysPerGet) : 0,
    p50us: hist.getValueAtPercentile(50),
    p99us: hist.getValueAtPercentile(99),
    p999us: hist.getValueAtPercentile(99.9),
    serverCpuS: cpu1.server - cpu0.server,
    clientCpuS: (cpu1.client.user + cpu1.client.system) / 1e6,
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
