/**
 * Records bench: YCSB workloads A, B, C and E against Strata's records service (one region,
 * durability fsync), PostgreSQL (usertable as YCSB's JDBC binding defines it, fsync and
 * synchronous_commit on) and Redis (one hash per record as YCSB's redis binding, appendonly
 * everysec), side by side in one run, through the same driver (bench/ycsb/) and the same seed and
 * properties. `npm run bench -- records [--quick] [--only=strata,postgres,redis] [--workloads=a,b,c,e]
 * [--threads=4,8,16,32,64] [--seconds=N] [--sweep-seconds=N] [--records=N] [--seed=N] [--busy-retries=N]`.
 *
 * Per system: a fresh server, the YCSB load phase (recordcount records), then per workload in the
 * order a, b, c, e:
 *   1. sweep: the run phase at each client thread count of the sweep (sweep-seconds each);
 *   2. peak: the run phase at the best thread count of the sweep for D seconds (--quick: the best
 *      sweep run is the peak, no separate run);
 *   3. half load: the same workload and thread count with `target` = 0.5 × this system's peak, for
 *      D seconds; latency measured from each operation's start (YCSB's default) and from its
 *      intended start (both kept).
 *
 * Goals: Strata ≥ 1.0× PostgreSQL throughput on every workload; Strata p99 READ ≤ 1 ms at half of
 * its peak (workloads with reads: A, B, C).
 */
import os from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { BenchContext, BenchOutput } from './lib/types.js';
import { startStrataRecords, REPO } from './lib/records-peer.js';
import { startPostgres, startRedis } from './lib/sql-peers.js';
import { ratio, round, fmtInt, finiteOrNull } from './lib/stats.js';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord } from './ycsb/db.js';
import type { OperationSummary } from './ycsb/measurements.js';
import { presetProperties } from './ycsb/presets.js';
import { seededRandom } from './ycsb/random.js';
import { runPhase } from './ycsb/runner.js';
import { CoreWorkload } from './ycsb/workload.js';
import { createDB as strataDB } from './ycsb/bindings/strata.js';
import { createDB as postgresDB } from './ycsb/bindings/postgres.js';
import { createDB as redisDB } from './ycsb/bindings/redis.js';

type SystemId = 'strata' | 'postgres' | 'redis';
const ALL_SYSTEMS: SystemId[] = ['strata', 'postgres', 'redis'];
const ALL_WORKLOADS = ['a', 'b', 'c', 'e'];
export const GOALS = { throughputVsPostgresAtLeast: 1.0, p99ReadAtHalfLoadUsAtMost: 1000 };
/** Other processes' CPU (CPUs' worth) above which a phase is flagged: on 2 vCPUs it distorts the figures. */
const BUSY_LIMIT = 0.15;
/** The measured operations (their op-start histograms; the half-load phases also keep Intended-OP). */
const OPS = ['READ', 'UPDATE', 'INSERT', 'SCAN'] as const;
/** operationcount per second of D: never reached by reads and updates; for E it sizes the zipfian key space for inserts (see below). */
const OPCOUNT_PER_SECOND: Record<string, number> = { a: 200_000, b: 200_000, c: 200_000, e: 20_000 };

interface RunningSystem {
  id: SystemId;
  version: string;
  command: string;
  pid: number;
  /** The binding's properties (server address). */
  binding: Array<[string, string]>;
  createDB: DBFactory;
  alive(): boolean;
  output(): string;
  stop(): Promise<void>;
}

export interface OpFigures {
  count: number;
  errors: number;
  avgUs: number;
  p50Us: number;
  p95Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export interface CpuFigures {
  /** The bench process: the YCSB driver and the binding's client. */
  clientCpuS: number;
  /** The server (PostgreSQL: the postmaster and all its backends). */
  serverCpuS: number;
  /** Everything else on the machine. */
  otherCpuS: number;
  /** otherCpuS per second of the phase. */
  otherCpu: number;
}

export interface PhaseFigures {
  kind: 'load' | 'sweep' | 'peak' | 'half' | 'same';
  threads: number;
  /** target ops/s (half load, and a peer at Strata's half load). */
  target: number | null;
  seed: number;
  recordcount: number;
  operationcount: number;
  maxexecutiontime: number;
  operations: number;
  /** From the first operation's start to the last one's end, ms. */
  windowMs: number;
  /** YCSB's [OVERALL] RunTime: from the phase start (connections opening) to the last connection closed. */
  runtimeMs: number;
  /** operations / window, ops/s: the figure compared. */
  throughput: number;
  /** YCSB's [OVERALL] Throughput: operations / runtime. */
  ycsbThroughput: number;
  errors: number;
  returns: Record<string, Record<string, number>>;
  /** Latency from each operation's start (YCSB's measurement.interval=op). */
  ops: Partial<Record<(typeof OPS)[number], OpFigures>>;
  /** Latency from the intended start of the paced schedule (half load; includes the pacer's lateness). */
  intended: Partial<Record<(typeof OPS)[number], OpFigures>>;
  cpu: CpuFigures;
  /** The phase ended on operationcount before D seconds. */
  endedOnOperationCount: boolean;
  /** Attempts thrown away before this one because other processes used the CPU. */
  busyRetries?: number;
}

export interface WorkloadFigures {
  workload: string;
  sweep: PhaseFigures[];
  threads: number;
  peak: PhaseFigures;
  half: PhaseFigures;
  /**
   * A peer run at Strata's half load (Strata's target and thread count), for workloads with reads:
   * the same offered load and client concurrency, so the read tails compare like for like.
   */
  atStrataHalf?: PhaseFigures;
}

export interface SystemFigures {
  id: SystemId;
  version: string;
  command: string;
  load: PhaseFigures | null;
  workloads: Record<string, WorkloadFigures>;
  failure?: string;
}

// ---- CPU accounting ---------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds of a process and all its descendants (alive, plus the children they have reaped). */
function treeCpuSeconds(root: number): number {
  const info = new Map<number, { ppid: number; cpu: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const text = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      info.set(Number(name), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK });
    } catch {
      // gone meanwhile
    }
  }
  if (!info.has(root)) return NaN;
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of info) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    sum += info.get(pid)?.cpu ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** Time the machine's processes ran (user, nice, system; not interrupts or steal), CPU seconds. */
function machineCpuSeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2]) / 100;
  } catch {
    return NaN;
  }
}

class CpuMeter {
  private readonly c0 = process.cpuUsage();
  private readonly s0: number;
  private readonly m0 = machineCpuSeconds();
  private readonly t0 = performance.now();
  constructor(private readonly pid: number) {
    this.s0 = treeCpuSeconds(pid);
  }
  read(): CpuFigures {
    const c = process.cpuUsage(this.c0);
    const client = (c.user + c.system) / 1e6;
    const server = treeCpuSeconds(this.pid) - this.s0;
    const other = Math.max(0, machineCpuSeconds() - this.m0 - client - server);
    const secs = (performance.now() - this.t0) / 1000;
    return { clientCpuS: round(client, 2), serverCpuS: round(server, 2), otherCpuS: round(other, 2), otherCpu: round(secs > 0 ? other / secs : NaN, 2) };
  }
}

// ---- the driver -------------------------------------------------------------------------------

/** Wraps a binding to note when the phase's first operation started and its last one ended. */
function windowed(factory: DBFactory, w: { first: number; last: number }): DBFactory {
  return (props: Properties): DB => {
    const db = factory(props);
    const timed = async <T>(call: () => Promise<T>): Promise<T> => {
      const st = performance.now();
      if (st < w.first) w.first = st;
      try {
        return await call();
      } finally {
        const en = performance.now();
        if (en > w.last) w.last = en;
      }
    };
    return {
      init: () => db.init(),
      cleanup: () => db.cleanup(),
      read: (t: string, k: string, f: Set<string> | null, r: RecordValues) => timed(() => db.read(t, k, f, r)),
      scan: (t: string, k: string, n: number, f: Set<string> | null, r: ScanRecord[]) => timed(() => db.scan(t, k, n, f, r)),
      update: (t: string, k: string, v: RecordValues) => timed(() => db.update(t, k, v)),
      insert: (t: string, k: string, v: RecordValues) => timed(() => db.insert(t, k, v)),
      delete: (t: string, k: string) => timed(() => db.delete(t, k)),
    };
  };
}

function opFigures(s: OperationSummary | undefined): OpFigures | undefined {
  if (!s || s.count === 0) return undefined;
  const p = (name: string) => s.percentilesUs[name] ?? NaN;
  return { count: s.count, errors: s.errors, avgUs: round(s.avgUs, 1), p50Us: p('p50Us'), p95Us: p('p95Us'), p99Us: p('p99Us'), p999Us: p('p99.9Us'), maxUs: s.maxUs };
}

interface PhaseSpec {
  kind: PhaseFigures['kind'];
  props: Properties;
  seed: number;
  /** Stop after this many ms (fractional seconds of D; maxexecutiontime is whole seconds). */
  stopAfterMs: number;
  label: string;
}

async function runOne(sys: RunningSystem, spec: PhaseSpec, statusOut: ((line: string) => void) | undefined): Promise<{ fig: PhaseFigures; workload: CoreWorkload }> {
  const workload = new CoreWorkload(spec.props, seededRandom(spec.seed));
  const w = { first: Infinity, last: -Infinity };
  const meter = new CpuMeter(sys.pid);
  const timer = spec.stopAfterMs > 0 ? setTimeout(() => workload.requestStop(), spec.stopAfterMs) : null;
  let res;
  try {
    res = await runPhase({ phase: spec.kind === 'load' ? 'load' : 'run', props: spec.props, workload, createDB: windowed(sys.createDB, w), statusOut });
  } finally {
    if (timer) clearTimeout(timer);
  }
  const cpu = meter.read();
  const sum = res.measurements.summary(res.runtimeMs, res.operations);
  const windowMs = Number.isFinite(w.last - w.first) ? w.last - w.first : NaN;
  const ops: PhaseFigures['ops'] = {};
  const intended: PhaseFigures['intended'] = {};
  const returns: Record<string, Record<string, number>> = {};
  let errors = 0;
  for (const [name, m] of Object.entries(sum.measurements)) {
    if (name === 'CLEANUP') continue;
    errors += m.errors;
    if (Object.keys(m.returns).length) returns[name] = m.returns;
  }
  for (const op of OPS) {
    const f = opFigures(sum.measurements[op]);
    if (f) ops[op] = f;
    const i = opFigures(sum.measurements[`Intended-${op}`]);
    if (i) intended[op] = i;
  }
  const num = (name: string) => Number(spec.props.get(name) ?? '0');
  const fig: PhaseFigures = {
    kind: spec.kind,
    threads: num('threadcount'),
    target: spec.props.has('target') ? num('target') : null,
    seed: spec.seed,
    recordcount: num('recordcount'),
    operationcount: spec.kind === 'load' ? num('recordcount') : num('operationcount'),
    maxexecutiontime: num('maxexecutiontime'),
    operations: res.operations,
    windowMs: round(windowMs),
    runtimeMs: res.runtimeMs,
    throughput: round((1000 * res.operations) / windowMs, 1),
    ycsbThroughput: round(sum.throughput, 1),
    errors,
    returns,
    ops,
    intended,
    cpu,
    endedOnOperationCount: spec.kind !== 'load' && res.operations >= num('operationcount'),
  };
  return { fig, workload };
}

// ---- the systems ------------------------------------------------------------------------------

async function startSystem(id: SystemId): Promise<RunningSystem> {
  if (id === 'strata') {
    const p = await startStrataRecords();
    return { id, version: p.version, command: p.command, pid: p.pid, binding: [['strata.host', '127.0.0.1'], ['strata.port', String(p.port)]], createDB: strataDB, alive: p.alive, output: p.output, stop: p.stop };
  }
  if (id === 'postgres') {
    const p = await startPostgres();
    return {
      id, version: p.version, pid: p.pid, binding: [['postgres.url', p.url]], createDB: postgresDB, alive: p.alive, output: p.output, stop: p.stop,
      command: 'initdb -D $DIR/data -U postgres --auth=trust -E UTF8 --locale=C --no-sync; postgres -D $DIR/data -c listen_addresses=127.0.0.1 -c port=PORT ' +
        '-c unix_socket_directories=$DIR/socket -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c shared_buffers=256MB -c max_connections=250',
    };
  }
  const p = await startRedis();
  return {
    id, version: p.version.replace(/^Redis server /, 'redis-server ').replace(/ sha=.*/, ''), pid: p.pid, binding: [['redis.host', '127.0.0.1'], ['redis.port', String(p.port)]],
    createDB: redisDB, alive: p.alive, output: p.output, stop: p.stop,
    command: '/usr/bin/redis-server --bind 127.0.0.1 --port PORT --save "" --appendonly yes --appendfsync everysec --dir $DIR',
  };
}

const DURABILITY: Record<SystemId, string> = {
  strata: 'records.durability fsync (default): a write returns once its change is fdatasynced by the log leader (group commit)',
  postgres: 'fsync=on, synchronous_commit=on: each autocommit statement returns after its WAL is flushed (group commit across connections)',
  redis: 'appendonly yes, appendfsync everysec: a write returns once written (write(2)) to the AOF; fdatasync about once a second, so an OS crash can lose ~1-2 s of acknowledged writes',
};

const DRIVING: Record<SystemId, string> = {
  strata: 'bench/ycsb/bindings/strata.ts: one RecordsClient (RPC connection) per worker; ordered table usertable, 8 tablets; read = readAny; update = write of the given fields; insert = write with replace; scan = one scan RPC (start key, limit)',
  postgres: 'bench/ycsb/bindings/postgres.ts (npm pg): one connection per worker, autocommit, named prepared statements; usertable (YCSB_KEY VARCHAR(255) PRIMARY KEY, FIELD0..9 TEXT); scan = WHERE YCSB_KEY >= $1 ORDER BY YCSB_KEY LIMIT $2',
  redis: 'bench/ycsb/bindings/redis.ts (npm ioredis): one connection per worker; HSET/HGETALL per record, sorted set _indices by String.hashCode; scan = ZRANGEBYSCORE then one HGETALL per key',
};

// ---- options ----------------------------------------------------------------------------------

function arg(ctx: BenchContext, name: string): string | undefined {
  return ctx.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function numbers(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const xs = v.split(',').map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`expected positive integers, got ${v}`);
  return xs;
}

function positive(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!(x > 0)) throw new Error(`--${name} needs a positive number, got ${v}`);
  return x;
}

// ---- run --------------------------------------------------------------------------------------

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const full = !ctx.quick;
  const recordcount = positive(arg(ctx, 'records'), 'records') ?? (full ? 100_000 : 10_000);
  const seconds = positive(arg(ctx, 'seconds'), 'seconds') ?? (full ? 30 : 1);
  const sweepSeconds = positive(arg(ctx, 'sweep-seconds'), 'sweep-seconds') ?? (full ? 6 : seconds);
  const sweep = numbers(arg(ctx, 'threads')) ?? (full ? [4, 8, 16, 32, 64] : [8, 64]);
  const loadThreads = 32;
  const busyRetriesArg = arg(ctx, 'busy-retries');
  const busyRetries = busyRetriesArg === undefined ? (full ? 1 : 0) : Number(busyRetriesArg);
  if (!Number.isInteger(busyRetries) || busyRetries < 0) throw new Error(`--busy-retries needs a whole number, got ${busyRetriesArg}`);
  const seed = positive(arg(ctx, 'seed'), 'seed') ?? 42;
  const systems = (arg(ctx, 'only')?.split(',') as SystemId[] | undefined) ?? ALL_SYSTEMS;
  const workloads = arg(ctx, 'workloads')?.split(',') ?? ALL_WORKLOADS;
  for (const s of systems) if (!ALL_SYSTEMS.includes(s)) throw new Error(`--only: unknown system ${s} (${ALL_SYSTEMS.join(', ')})`);
  for (const w of workloads) if (!ALL_WORKLOADS.includes(w)) throw new Error(`--workloads: ${w} is not one of ${ALL_WORKLOADS.join(', ')}`);
  // In --quick the best sweep run is the peak (no separate peak run), to stay under a minute.
  const separatePeak = full || arg(ctx, 'sweep-seconds') !== undefined;

  /** Properties shared by every phase of every system: the preset, recordcount, percentiles, measurement. */
  const common: Array<[string, string]> = [
    ['recordcount', String(recordcount)],
    ['hdrhistogram.percentiles', '50,95,99,99.9'],
    ['measurement.interval', 'both'],
    ['status', full ? 'true' : 'false'],
    ['status.interval', '10'],
  ];
  const propsFor = (sys: RunningSystem, workload: string, extra: Array<[string, string | number]>): Properties => {
    const p = presetProperties(workload);
    for (const [k, v] of [...common, ...sys.binding, ...extra]) p.set(k, String(v));
    return p;
  };

  const incidents: string[] = [];
  const results: Partial<Record<SystemId, SystemFigures>> = {};
  const skipped: Record<string, string> = {};
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;
  const running = new Set<RunningSystem>();
  const brief = (f: PhaseFigures) => {
    const o = Object.entries(f.ops).map(([op, x]) => `${op} p50/p99 ${fmtInt(x.p50Us)}/${fmtInt(x.p99Us)} us`).join(', ');
    return `${fmtInt(f.throughput)} ops/s (${f.threads} threads${f.target ? `, target ${fmtInt(f.target)}` : ''}), ${o}${f.errors ? `, ${f.errors} ERRORS` : ''}, other CPU ${f.cpu.otherCpu}`;
  };

  try {
    for (const id of systems) {
      ctx.log(`${at()} starting ${id}…`);
      let sys: RunningSystem;
      try {
        sys = await startSystem(id);
      } catch (err) {
        skipped[id] = String((err as Error)?.message ?? err).slice(0, 500);
        incidents.push(`${id} not run: ${skipped[id]}`);
        ctx.log(`${at()} ${id}: not run (${skipped[id]})`);
        continue;
      }
      running.add(sys);
      const out: SystemFigures = { id, version: sys.version, command: sys.command, load: null, workloads: {} };
      results[id] = out;
      // Records present: the load's, plus what E's inserts add (a later phase's inserts must use new keys).
      let recordsNow = recordcount;
      // A run phase during which other processes took CPU is run again (up to busyRetries times, after
      // 2 s): on 2 vCPUs they distort it. The spec is made again for each attempt, as E's inserts move
      // recordcount on. A load cannot be repeated (its records are in).
      const phase = async (makeSpec: () => PhaseSpec) => {
        for (let attempt = 0; ; attempt++) {
          const spec = makeSpec();
          const statusOut = full ? (line: string) => ctx.log(`  ${spec.label} ${line}`) : undefined;
          const r = await runOne(sys, spec, statusOut);
          if (!sys.alive()) throw new Error(`${id} died during ${spec.label}: ${sys.output().slice(-600)}`);
          const f = r.fig;
          if (spec.kind !== 'load') recordsNow = r.workload.transactioninsertkeysequence.lastValue() + 1;
          const busy = f.cpu.otherCpu > BUSY_LIMIT;
          if (busy && spec.kind !== 'load' && attempt < busyRetries) {
            ctx.log(`${at()}   ${id} ${spec.label}: other processes used ${f.cpu.otherCpu} CPU; again in 2 s`);
            await new Promise((res) => setTimeout(res, 2000));
            continue;
          }
          f.busyRetries = attempt;
          if (f.errors) incidents.push(`${id} ${spec.label}: ${f.errors} operations failed (${JSON.stringify(f.returns)})`);
          if (busy) incidents.push(`${id} ${spec.label}: machine busy, other processes used ${f.cpu.otherCpu} CPU${attempt ? ` (kept after ${attempt} retries)` : ''}`);
          if (f.endedOnOperationCount) incidents.push(`${id} ${spec.label}: ended on operationcount ${f.operationcount} before its time was up`);
          return f;
        }
      };
      try {
        ctx.log(`${at()} ${id} (${sys.version}): loading ${fmtInt(recordcount)} records with ${loadThreads} threads…`);
        out.load = await phase(() => ({ kind: 'load', label: 'load', seed, stopAfterMs: 0, props: propsFor(sys, 'a', [['threadcount', loadThreads]]) }));
        ctx.log(`${at()}   load: ${fmtInt(out.load.throughput)} inserts/s, INSERT p99 ${fmtInt(out.load.ops.INSERT?.p99Us ?? NaN)} us${out.load.errors ? `, ${out.load.errors} ERRORS` : ''}`);
        for (const w of workloads) {
          const wseed = seed + 100 * (ALL_WORKLOADS.indexOf(w) + 1);
          // operationcount is the same for every phase of a workload (it sizes E's key space).
          const runProps = (threads: number, secs: number, extra: Array<[string, string | number]> = []) =>
            propsFor(sys, w, [
              ['recordcount', recordsNow],
              ['threadcount', threads],
              ['operationcount', Math.ceil(seconds * OPCOUNT_PER_SECOND[w])],
              ['maxexecutiontime', Math.max(1, Math.ceil(secs))],
              ...extra,
            ]);
          const sweepRuns: PhaseFigures[] = [];
          for (const [i, threads] of sweep.entries()) {
            const f = await phase(() => ({ kind: 'sweep', label: `${w} sweep ${threads} threads`, seed: wseed + i, stopAfterMs: sweepSeconds * 1000, props: runProps(threads, sweepSeconds) }));
            sweepRuns.push(f);
            ctx.log(`${at()}   ${id} ${w} sweep: ${brief(f)}`);
          }
          const best = sweepRuns.reduce((a, b) => (b.throughput > a.throughput ? b : a));
          let peak = best;
          if (separatePeak) {
            peak = await phase(() => ({ kind: 'peak', label: `${w} peak`, seed: wseed + 50, stopAfterMs: seconds * 1000, props: runProps(best.threads, seconds) }));
            ctx.log(`${at()}   ${id} ${w} peak: ${brief(peak)}`);
          } else {
            peak = { ...best, kind: 'peak' };
          }
          const target = Math.max(1, Math.round(peak.throughput / 2));
          const half = await phase(() => ({ kind: 'half', label: `${w} half load`, seed: wseed + 60, stopAfterMs: seconds * 1000, props: runProps(best.threads, seconds, [['target', target]]) }));
          ctx.log(`${at()}   ${id} ${w} half: ${brief(half)}`);
          if (half.throughput < 0.95 * target) incidents.push(`${id} ${w} half load: ${fmtInt(half.throughput)} ops/s achieved of ${fmtInt(target)} asked`);
          out.workloads[w] = { workload: w, sweep: sweepRuns, threads: best.threads, peak, half };
          const strataHalf = results.strata?.workloads[w]?.half;
          if (id !== 'strata' && strataHalf?.ops.READ && strataHalf.target) {
            const same = await phase(() => ({ kind: 'same', label: `${w} at strata's half load`, seed: wseed + 60, stopAfterMs: seconds * 1000, props: runProps(strataHalf.threads, seconds, [['target', strataHalf.target!]]) }));
            ctx.log(`${at()}   ${id} ${w} at strata's half load: ${brief(same)}`);
            out.workloads[w].atStrataHalf = same;
          }
        }
      } catch (err) {
        out.failure = String((err as Error)?.stack ?? err).slice(0, 1500);
        incidents.push(`${id} FAILED: ${String((err as Error)?.message ?? err).slice(0, 500)}`);
        ctx.log(`${at()} ${id} FAILED: ${(err as Error)?.message ?? err}`);
      } finally {
        await sys.stop().catch(() => undefined);
        running.delete(sys);
        ctx.log(`${at()} ${id} stopped`);
      }
    }
  } finally {
    for (const s of running) await s.stop().catch(() => undefined);
  }

  // ---- figures, table, summary ----
  const present = systems.filter((id) => results[id] && !results[id]!.failure);
  const tp = (id: SystemId, w: string) => results[id]?.workloads[w]?.peak.throughput ?? NaN;
  const per = workloads.map((w) => {
    const strataHalf = results.strata?.workloads[w]?.half;
    const readP99 = strataHalf?.ops.READ?.p99Us ?? NaN;
    const vsPg = finiteOrNull(ratio(tp('strata', w), tp('postgres', w)));
    return {
      workload: w,
      throughput: Object.fromEntries(systems.map((id) => [id, finiteOrNull(round(tp(id, w)))])),
      threads: Object.fromEntries(systems.map((id) => [id, results[id]?.workloads[w]?.threads ?? null])),
      strataVsPostgres: vsPg,
      strataVsRedis: finiteOrNull(ratio(tp('strata', w), tp('redis', w))),
      strataHalfLoad: strataHalf
        ? {
            target: strataHalf.target,
            achieved: round(strataHalf.throughput),
            readP50Us: strataHalf.ops.READ?.p50Us ?? null,
            readP99Us: strataHalf.ops.READ?.p99Us ?? null,
            updateP99Us: strataHalf.ops.UPDATE?.p99Us ?? null,
            scanP99Us: strataHalf.ops.SCAN?.p99Us ?? null,
            insertP99Us: strataHalf.ops.INSERT?.p99Us ?? null,
          }
        : null,
      // The peers at Strata's half load (same target and threads): their p99 READ, µs.
      peersReadP99AtStrataHalfUs: Object.fromEntries(
        systems.filter((id) => id !== 'strata').map((id) => [id, results[id]?.workloads[w]?.atStrataHalf?.ops.READ?.p99Us ?? null]),
      ),
      strataVsPostgresAtLeast1x: vsPg === null ? null : vsPg >= GOALS.throughputVsPostgresAtLeast,
      // Workload E has no reads: no verdict.
      p99ReadAtHalfLoadUnder1ms: Number.isFinite(readP99) ? readP99 <= GOALS.p99ReadAtHalfLoadUsAtMost : null,
    };
  });

  for (const line of formatTable(results, systems, workloads, per)) ctx.print(line);
  for (const [id, why] of Object.entries(skipped)) ctx.print(`  ${id}: NOT RUN — ${why}`);
  for (const msg of incidents) ctx.print(`! ${msg}`);

  const pkgVersion = (name: string) => {
    try {
      return (JSON.parse(readFileSync(`${REPO}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
    } catch {
      return '?';
    }
  };
  const meta = {
    versions: Object.fromEntries(Object.values(results).map((r) => [r!.id, r!.version])),
    clients: { pg: pkgVersion('pg'), ioredis: pkgVersion('ioredis'), strata: 'src/records/client.ts (same tree)' },
    command: `npm run bench -- records${ctx.args.length ? ` ${ctx.args.join(' ')}` : ''}`,
    commands: Object.fromEntries(Object.values(results).map((r) => [r!.id, r!.command])),
    durability: Object.fromEntries(systems.map((id) => [id, DURABILITY[id]])),
    driving: Object.fromEntries(systems.map((id) => [id, DRIVING[id]])),
    machineNotes:
      `The YCSB driver (one Node process, all workers on one event loop) and the server under test share this ${os.availableParallelism()}-vCPU machine; ` +
      'systems run one after another (strata, postgres, redis), each on a fresh server and data directory. CPU per phase: client = this process, server = the server process tree, other = the rest of the machine.',
    design: {
      order: 'per system: start, load, then per workload (a, b, c, e): sweep over client thread counts, peak at the best count, half load at 0.5 × that peak with the same thread count; then, for PostgreSQL and Redis on workloads with reads, a run at Strata\'s half load (Strata\'s target and thread count: like-for-like read tails)',
      sweepThreads: sweep,
      sweepSeconds,
      separatePeakRun: separatePeak,
      seconds,
      loadThreads,
      busyLimitCpu: BUSY_LIMIT,
      busyRetries,
      throughput: 'operations / (last operation end − first operation start); YCSB\'s operations / RunTime (which also counts opening and closing the connections) is kept as ycsbThroughput',
      latency: 'op-start latency (YCSB measurement.interval=op) is the figure judged; the half-load phases also keep latency from the intended start (Intended-*), which includes the pacer\'s lateness (Node timers, ~1 ms)',
      seeds: `load ${seed}; workload w phase: ${seed} + 100·(index of w in a,b,c,e + 1) + (sweep i: i, peak: 50, half and a peer's run at Strata's half load: 60); the same for every system`,
      operationcount: `per workload ${JSON.stringify(OPCOUNT_PER_SECOND)} × D: a cap never reached by A–C; for E it also sizes the zipfian key space for inserts (YCSB: operationcount × insertproportion × 2 new keys)`,
      recordcountAfterE: 'a phase\'s recordcount counts the records E\'s inserts added in earlier phases of the same system, so its inserts use new keys (PostgreSQL would reject a duplicate key); it differs slightly between systems',
    },
    properties: {
      common: Object.fromEntries(common),
      presets: Object.fromEntries(workloads.map((w) => [w, Object.fromEntries(presetProperties(w))])),
      perPhase: 'threadcount, operationcount, maxexecutiontime, target, recordcount: see each phase in results',
      binding: { 'strata.read': 'any (default)', 'strata.tablets': '8 (default)', table: 'usertable' },
    },
    goals: GOALS,
    skipped,
    loadavgAtEnd: os.loadavg().map((x) => round(x, 2)),
  };
  const summary = {
    unit: 'peak ops/s (best client thread count of the sweep); latency µs from the operation start, at half of each system\'s own peak',
    systems: present,
    skipped,
    failed: Object.fromEntries(Object.values(results).filter((r) => r!.failure).map((r) => [r!.id, r!.failure!.split('\n')[0]])),
    workloads: Object.fromEntries(per.map((p) => [p.workload, { throughput: p.throughput, threads: p.threads, strataVsPostgres: p.strataVsPostgres, strataVsRedis: p.strataVsRedis, strataHalfLoadP99ReadUs: p.strataHalfLoad?.readP99Us ?? null, peersReadP99AtStrataHalfUs: p.peersReadP99AtStrataHalfUs }])),
    strataVsPostgresAtLeast1x: Object.fromEntries(per.map((p) => [p.workload, p.strataVsPostgresAtLeast1x])),
    p99ReadAtHalfLoadUnder1ms: Object.fromEntries(per.map((p) => [p.workload, p.p99ReadAtHalfLoadUnder1ms])),
    goalsMet: per.every((p) => p.strataVsPostgresAtLeast1x !== null) ? per.every((p) => p.strataVsPostgresAtLeast1x === true && p.p99ReadAtHalfLoadUnder1ms !== false) : null,
    busyPhases: Object.values(results).reduce((a, r) => {
      // (in --quick the peak is a copy of the best sweep run: not counted twice)
      const figs = Object.values(r!.workloads).flatMap((w) => [...w.sweep, ...(w.sweep.some((x) => x.seed === w.peak.seed) ? [] : [w.peak]), w.half, ...(w.atStrataHalf ? [w.atStrataHalf] : [])]);
      return a + figs.filter((f) => f.cpu.otherCpu > BUSY_LIMIT).length;
    }, 0),
    incidents: incidents.length,
  };
  return { meta, results: { systems: results, perWorkload: per, incidents }, summary };
}

function formatTable(results: Partial<Record<SystemId, SystemFigures>>, systems: SystemId[], workloads: string[], per: Array<{ workload: string; strataVsPostgres: number | null; strataVsRedis: number | null; strataVsPostgresAtLeast1x: boolean | null; p99ReadAtHalfLoadUnder1ms: boolean | null }>): string[] {
  const lines: string[] = [];
  const n = (x: number | undefined | null) => fmtInt(x ?? NaN);
  const ms = (us: number | undefined | null) => (us === undefined || us === null || !Number.isFinite(us) ? '-' : (us / 1000).toFixed(2));
  const x = (q: number | null) => (q === null ? '-' : `${q.toFixed(2)}x`);
  const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : 'NOT met');
  for (const id of systems) if (results[id]) lines.push(`${id.padEnd(8)} ${results[id]!.version}${results[id]!.load ? `; load ${n(results[id]!.load!.throughput)} inserts/s` : ''}${results[id]!.failure ? ' FAILED' : ''}`);
  for (const w of workloads) {
    lines.push(`workload ${w.toUpperCase()}`);
    for (const id of systems) {
      const f = results[id]?.workloads[w];
      if (!f) {
        lines.push(`  ${id.padEnd(8)} -`);
        continue;
      }
      const lat = (ph: PhaseFigures) => OPS.filter((op) => ph.ops[op]).map((op) => `${op} ${ms(ph.ops[op]!.p50Us)}/${ms(ph.ops[op]!.p99Us)}`).join(' ');
      lines.push(
        `  ${id.padEnd(8)} peak ${n(f.peak.throughput).padStart(7)} ops/s @${String(f.threads).padStart(3)} thr (sweep ${f.sweep.map((s) => `${s.threads}:${n(s.throughput)}`).join(' ')})  p50/p99 ms ${lat(f.peak)}` +
          ` cpu client/server ${f.peak.cpu.clientCpuS}/${f.peak.cpu.serverCpuS} s  | half ${n(f.half.target)}/s (got ${n(f.half.throughput)}): p50/p99 ms ${lat(f.half)}` +
          (f.atStrataHalf ? `  | at strata's half ${n(f.atStrataHalf.target)}/s @${f.atStrataHalf.threads} thr: p50/p99 ms ${lat(f.atStrataHalf)}` : ''),
      );
    }
    const p = per.find((q) => q.workload === w)!;
    lines.push(`  strata/postgres ${x(p.strataVsPostgres)} (goal >= 1: ${yes(p.strataVsPostgresAtLeast1x)}), strata/redis ${x(p.strataVsRedis)}; strata p99 READ <= 1 ms at half load: ${yes(p.p99ReadAtHalfLoadUnder1ms)}`);
  }
  return lines;
}
