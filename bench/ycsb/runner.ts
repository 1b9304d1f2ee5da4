/**
 * The YCSB client (Client + ClientThread): `threadcount` async workers, each with its own DB
 * instance and at most one operation in flight, share one workload. The load phase inserts
 * insertcount (else recordcount) records, the run phase does operationcount operations; both stop
 * early after maxexecutiontime seconds. With `target` ops/s each worker paces itself to a schedule
 * fixed from its start, and the scheduled time of each operation is its intended start (used by
 * measurement.interval=intended|both). A status line goes to stderr every status.interval seconds.
 */
import { performance } from 'node:perf_hooks';
import type { DBFactory, Properties } from './db.js';
import { MeasuredDB } from './measured-db.js';
import { Measurements } from './measurements.js';
import { PropertyReader, type CoreWorkload } from './workload.js';

export type Phase = 'load' | 'run';

export interface PhaseOptions {
  phase: Phase;
  props: Properties;
  workload: CoreWorkload;
  createDB: DBFactory;
  /** Where status lines go; default stderr. */
  statusOut?: (line: string) => void;
}

export interface PhaseResult {
  phase: Phase;
  runtimeMs: number;
  /** Operations done by all workers (YCSB's opsDone, the numerator of the throughput). */
  operations: number;
  measurements: Measurements;
}

class Worker {
  opsDone = 0;
  constructor(readonly db: MeasuredDB, readonly opcount: number, readonly tickMs: number) {}
  opsTodo(): number {
    return Math.max(0, this.opcount - this.opsDone);
  }
}

function sleepUntil(deadlineMs: number): Promise<void> {
  const wait = deadlineMs - performance.now();
  // Node's timers have 1 ms granularity: a worker may wake late, but its schedule is fixed from
  // its start, so it catches up and intended-start latencies include the lateness.
  return wait > 0 ? new Promise((r) => setTimeout(r, wait)) : Promise.resolve();
}

async function runWorker(w: Worker, phase: Phase, workload: CoreWorkload): Promise<void> {
  await w.db.init();
  try {
    // Spread the workers over one tick when each does at most one operation per ms (as YCSB).
    if (w.tickMs >= 1) await sleepUntil(performance.now() + Math.random() * w.tickMs);
    const start = performance.now();
    while ((w.opcount === 0 || w.opsDone < w.opcount) && !workload.isStopRequested()) {
      const more = phase === 'load' ? await workload.doInsert(w.db) : await workload.doTransaction(w.db);
      if (!more) break;
      w.opsDone++;
      if (w.tickMs > 0) {
        const deadline = start + w.opsDone * w.tickMs;
        await sleepUntil(deadline);
        w.db.intendedStartMs = deadline;
      }
    }
  } finally {
    w.db.intendedStartMs = 0;
    await w.db.cleanup();
  }
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** YCSB's RemainingFormatter, roughly: the largest units that matter. */
function remaining(seconds: number): string {
  if (!Number.isFinite(seconds)) return '? seconds ';
  const days = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  let out = '';
  if (days > 0) out += `${days} ${days === 1 ? 'day' : 'days'} `;
  if (hours > 0) out += `${hours} ${hours === 1 ? 'hour' : 'hours'} `;
  if (days < 1 && minutes > 0) out += `${minutes} ${minutes === 1 ? 'minute' : 'minutes'} `;
  return out || `${seconds} seconds `;
}

function statusLine(label: string, startMs: number, intervalStartMs: number, nowMs: number, workers: Worker[], lastTotal: number, m: Measurements): [string, number] {
  const total = workers.reduce((s, w) => s + w.opsDone, 0);
  const todo = workers.reduce((s, w) => s + w.opsTodo(), 0);
  const elapsed = nowMs - startMs;
  const throughput = (1000 * total) / elapsed;
  const current = (1000 * (total - lastTotal)) / (nowMs - intervalStartMs);
  const d = new Date();
  const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}:${pad(d.getMilliseconds(), 3)}`;
  let msg = `${label}${stamp} ${Math.floor(elapsed / 1000)} sec: ${total} operations; `;
  if (total !== 0) msg += `${Math.round(current * 100) / 100} current ops/sec; `;
  if (todo !== 0) msg += `est completion in ${remaining(Math.ceil(todo / throughput))}`;
  return [msg + m.statusSummary(), total];
}

/** Run one phase to completion and return its measurements. */
export async function runPhase(opts: PhaseOptions): Promise<PhaseResult> {
  const p = new PropertyReader(opts.props);
  const { workload } = opts;
  let opcount: number;
  if (opts.phase === 'run') opcount = p.int('operationcount', 0);
  else opcount = opts.props.has('insertcount') ? p.int('insertcount', 0) : p.int('recordcount', 0);
  let threads = p.int('threadcount', 1);
  if (threads < 1) throw new Error(`threadcount must be at least 1, got ${threads}`);
  if (threads > opcount && opcount > 0) threads = opcount;
  const target = p.float('target', 0);
  const tickMs = target > 0 ? (1000 * threads) / target : 0;

  const measurements = new Measurements(opts.props);
  const workers = Array.from({ length: threads }, (_, id) => {
    const n = Math.floor(opcount / threads) + (id < opcount % threads ? 1 : 0);
    return new Worker(new MeasuredDB(opts.createDB(opts.props), measurements, opts.props), n, tickMs);
  });

  const maxSeconds = p.int('maxexecutiontime', 0);
  const stopTimer = maxSeconds > 0 ? setTimeout(() => workload.requestStop(), maxSeconds * 1000) : null;
  const statusOn = p.bool('status', true);
  const statusOut = opts.statusOut ?? ((line: string) => process.stderr.write(`${line}\n`));
  const label = p.string('label', '');
  const startMs = performance.now();
  let intervalStart = startMs;
  let lastTotal = 0;
  const statusTimer = statusOn
    ? setInterval(() => {
        const now = performance.now();
        const [line, total] = statusLine(label, startMs, intervalStart, now, workers, lastTotal, measurements);
        statusOut(line);
        intervalStart = now;
        lastTotal = total;
      }, p.int('status.interval', 10) * 1000)
    : null;

  const results = await Promise.allSettled(
    workers.map((w) =>
      runWorker(w, opts.phase, workload).catch((err: unknown) => {
        workload.requestStop(); // one worker failing ends the phase, as YCSB exits
        throw err;
      }),
    ),
  );
  const endMs = performance.now();
  if (stopTimer) clearTimeout(stopTimer);
  if (statusTimer) clearInterval(statusTimer);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  if (statusOn) statusOut(statusLine(label, startMs, intervalStart, endMs, workers, lastTotal, measurements)[0]);
  return {
    phase: opts.phase,
    runtimeMs: Math.round(endMs - startMs),
    operations: workers.reduce((s, w) => s + w.opsDone, 0),
    measurements,
  };
}
