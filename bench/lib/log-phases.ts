/**
 * The measurement loops of the log bench, the same for every LogTarget, all run in the bench process:
 *
 * - peak publish: a closed loop keeping the target's window of values in flight (in chunks: one
 *   promise per value, or one pipeline per chunk); throughput from the acks that arrive in the
 *   measured interval, ack latency of those;
 * - consume all: a fresh consumer reads the topic back from its first record; every value is
 *   checked (size, sequence number: no gap, duplicate or reordering);
 * - paced: publishes at a fixed rate (open loop, a 1 ms timer sends what is due) while a consumer
 *   reads concurrently; publish-to-ack and publish-to-consume latency of what was sent in the
 *   measured interval.
 *
 * Each value starts with a 16-byte header: u32 sequence number, u32 magic, f64 performance.now()
 * when it was handed to the client (the consumer is in the same process, so the clocks agree).
 */
import hdr from 'hdr-histogram-js';
import { readFileSync } from 'node:fs';
import { runPhases, drain, type LoadState } from './phases.js';
import { cpuSeconds } from './procs.js';
import type { LogTarget, LogConsumer } from './log-targets.js';

export const HEADER_BYTES = 16;
const MAGIC = 0x5354524c; // "STRL"
const STALL_MS = 10_000;
/** How long closing a publisher (which flushes what it still holds) may take. */
const CLOSE_MS = 10_000;

/** Close a publisher, giving up after ms; resolves with a failure message, if any. */
async function closeWithin(pub: { close(): Promise<void> }, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    pub.close().then(() => undefined, (err: unknown) => String((err as Error)?.message ?? err)),
    new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`not closed after ${ms} ms`), ms))),
  ]);
  clearTimeout(timer);
  return r;
}

export interface Timing {
  warmupMs: number;
  durationMs: number;
}

const templates = new Map<number, Buffer>();

/** A value of `size` bytes: header (seq, magic, time) then a fixed filler. */
export function makeValue(size: number, seq: number, t: number): Buffer {
  let tpl = templates.get(size);
  if (!tpl) {
    tpl = Buffer.alloc(size);
    for (let i = HEADER_BYTES; i < size; i++) tpl[i] = 97 + (i % 26);
    templates.set(size, tpl);
  }
  const b = Buffer.allocUnsafe(size);
  tpl.copy(b, HEADER_BYTES, HEADER_BYTES);
  b.writeUInt32LE(seq >>> 0, 0);
  b.writeUInt32LE(MAGIC, 4);
  b.writeDoubleLE(t, 8);
  return b;
}

const newHist = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
type Hist = ReturnType<typeof newHist>;

export interface Latency {
  count: number;
  p50us: number;
  p90us: number;
  p99us: number;
  p999us: number;
  maxUs: number;
}

function latencyOf(h: Hist): Latency {
  const n = h.totalCount;
  const at = (p: number) => (n ? h.getValueAtPercentile(p) : NaN);
  return { count: n, p50us: at(50), p90us: at(90), p99us: at(99), p999us: at(99.9), maxUs: n ? h.maxValue : NaN };
}

/** Machine CPU seconds from /proc/stat: tasks = user + nice + system + steal; irq = irq + softirq. */
function machineCpu(): { tasks: number; irq: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    return { tasks: (f[0] + f[1] + f[2] + f[7]) / 100, irq: (f[5] + f[6]) / 100 };
  } catch {
    return { tasks: NaN, irq: NaN };
  }
}

export interface CpuFigures {
  /** This process (generator and consumer). */
  clientCpuS: number;
  serverCpuS: number;
  irqCpuS: number;
  /** Everything else on the machine (other sessions' work distorts a 2-vCPU run). */
  otherCpuS: number;
}

class CpuMeter {
  private c0 = process.cpuUsage();
  private s0: number;
  private m0 = machineCpu();
  constructor(private readonly pid: number) {
    this.s0 = cpuSeconds(pid);
  }
  read(): CpuFigures {
    const c = process.cpuUsage(this.c0);
    const clientCpuS = (c.user + c.system) / 1e6;
    const serverCpuS = cpuSeconds(this.pid) - this.s0;
    const m = machineCpu();
    const r = (x: number) => Math.round(x * 100) / 100;
    return { clientCpuS: r(clientCpuS), serverCpuS: r(serverCpuS), irqCpuS: r(m.irq - this.m0.irq), otherCpuS: r(Math.max(0, m.tasks - this.m0.tasks - clientCpuS - serverCpuS)) };
  }
}

/** The sequence check of a consumer: values must come as 0, 1, 2, … with the right size. */
class SeqCheck {
  received = 0;
  next = 0;
  gaps = 0;
  backwards = 0;
  badValues = 0;
  constructor(private readonly size: number) {}
  /** Returns the send time from the header, or NaN for a bad value. */
  take(v: Buffer): number {
    this.received++;
    if (v.length !== this.size || v.readUInt32LE(4) !== MAGIC) {
      this.badValues++;
      return NaN;
    }
    const seq = v.readUInt32LE(0);
    if (seq > this.next) this.gaps++;
    else if (seq < this.next) this.backwards++;
    this.next = seq + 1;
    return v.readDoubleLE(8);
  }
  problems(expected: number): string[] {
    return [
      this.received !== expected ? `consumer got ${this.received} of ${expected} records` : '',
      this.gaps ? `${this.gaps} gaps in the sequence` : '',
      this.backwards ? `${this.backwards} records out of order or repeated` : '',
      this.badValues ? `${this.badValues} values of the wrong size or content` : '',
    ].filter(Boolean);
  }
}

function newPublishing() {
  const st: LoadState & { sent: number; acked: number; pending: number; lastAck: number; error: string | undefined; onIdle: (() => void) | undefined } = {
    sent: 0, acked: 0, pending: 0, lastAck: performance.now(), error: undefined as string | undefined, onIdle: undefined as (() => void) | undefined,
    outstanding: () => st.pending,
    lastProgress: () => st.lastAck,
    failure: () => st.error,
  };
  return st;
}

type PubState = ReturnType<typeof newPublishing>;

/** Publish one chunk of values; `record` gets (latency µs, count) of its ack. */
function sendChunk(st: PubState, target: LogTarget, pub: { publish(v: Buffer[]): Promise<void> }, size: number, n: number, record: ((us: number, n: number) => void) | null): void {
  const t = performance.now();
  const values = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) values[i] = makeValue(size, st.sent++, t);
  st.pending += n;
  pub.publish(values).then(
    () => {
      const now = performance.now();
      st.pending -= n;
      st.acked += n;
      st.lastAck = now;
      record?.(Math.max(1, Math.round((now - t) * 1000)), n);
      if (st.pending === 0) st.onIdle?.();
    },
    (err: unknown) => {
      st.pending -= n;
      st.error ??= `${target.id} publish: ${String((err as Error)?.message ?? err)}`;
      if (st.pending === 0) st.onIdle?.();
    },
  );
}

export interface PublishResult {
  /** Acks that arrived in the measured interval, per second. */
  msgsPerSec: number;
  /** Payload bytes of those, MB (10^6 B) per second. */
  mbPerSec: number;
  seconds: number;
  /** Every value published and acknowledged, warm-up included (the topic holds these). */
  published: number;
  ack: Latency;
  cpu: CpuFigures;
  failure?: string;
}

/** Closed loop: keep target.window values in flight, in chunks of target.chunk, for warm-up + duration. */
export async function runPeakPublish(target: LogTarget, topic: string, size: number, timing: Timing): Promise<PublishResult> {
  const pub = await target.publisher(topic);
  const st = newPublishing();
  const hist = newHist();
  let running = true;
  let measuring = false;
  let measured = 0;
  const refill = () => {
    while (running && !st.error && st.pending + target.chunk <= target.window) sendChunk(st, target, pub, size, target.chunk, onAck);
  };
  // Every ack tops the window up again.
  const onAck = (us: number, n: number) => {
    if (measuring) {
      measured += n;
      hist.recordValueWithCount(us, n);
    }
    refill();
  };
  let cpu!: CpuFigures;
  let meter!: CpuMeter;
  refill();
  const phases = await runPhases(st, {
    warmupMs: timing.warmupMs,
    durationMs: timing.durationMs,
    onMeasureStart: () => {
      measuring = true;
      meter = new CpuMeter(target.peer.pid);
    },
    onMeasureEnd: () => {
      measuring = false;
      cpu = meter.read();
    },
  });
  running = false;
  let failure = phases.failure ?? st.error;
  const drained = await drain(st, (cb) => (st.onIdle = cb));
  failure ??= drained ?? st.error;
  const closeFailure = await closeWithin(pub, CLOSE_MS);
  if (closeFailure) failure ??= `${target.id} publisher close: ${closeFailure}`;
  const seconds = phases.tEnd > phases.tStart ? (phases.tEnd - phases.tStart) / 1000 : NaN;
  return {
    msgsPerSec: measured / seconds,
    mbPerSec: (measured * size) / seconds / 1e6,
    seconds,
    published: st.acked,
    ack: latencyOf(hist),
    cpu: cpu ?? new CpuMeter(target.peer.pid).read(),
    failure,
  };
}

export interface ConsumeResult {
  msgsPerSec: number;
  mbPerSec: number;
  seconds: number;
  records: number;
  expected: number;
  /** Records the system itself reported holding before the read, when it can say. */
  storedReported: number | null;
  cpu: CpuFigures;
  problems: string[];
  failure?: string;
}

/** Read back everything the topic holds (`expected` records) with a fresh consumer; time from the consume call to the last record. */
export async function runConsumeAll(target: LogTarget, topic: string, size: number, expected: number): Promise<ConsumeResult> {
  const storedReported = await target.stored(topic).catch(() => null);
  const check = new SeqCheck(size);
  let lastAt = performance.now();
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => (done = r));
  const meter = new CpuMeter(target.peer.pid);
  const t0 = performance.now();
  let consumer: LogConsumer | null = null;
  let failure: string | undefined;
  try {
    consumer = await target.consume(topic, (v) => {
      check.take(v);
      lastAt = performance.now();
      if (check.received >= expected) done();
    });
    if (expected === 0) done();
    await new Promise<void>((resolve) => {
      const watch = setInterval(() => {
        const f = consumer!.failure();
        if (f || performance.now() - lastAt > STALL_MS) {
          failure = f ?? `no record for ${STALL_MS} ms after ${check.received} of ${expected}`;
          clearInterval(watch);
          resolve();
        }
      }, 50);
      void finished.then(() => {
        clearInterval(watch);
        resolve();
      });
    });
  } catch (err) {
    failure = `${target.id} consume: ${String((err as Error)?.message ?? err)}`;
  }
  const seconds = (lastAt - t0) / 1000;
  const cpu = meter.read();
  // Anything after the last expected record would be a duplicate: give it a moment to show.
  await new Promise((r) => setTimeout(r, 50));
  await consumer?.stop().catch(() => undefined);
  return {
    msgsPerSec: failure ? NaN : check.received / seconds,
    mbPerSec: failure ? NaN : (check.received * size) / seconds / 1e6,
    seconds,
    records: check.received,
    expected,
    storedReported,
    cpu,
    problems: [
      ...check.problems(expected),
      ...(storedReported !== null && storedReported !== expected ? [`the system reported ${storedReported} records stored, ${expected} were acknowledged`] : []),
    ],
    failure,
  };
}

export interface PacedResult {
  targetRate: number;
  /** Acks per second over the measured interval (should equal the target rate). */
  achievedRate: number;
  seconds: number;
  published: number;
  /** Publish call → ack. */
  ack: Latency;
  /** Publish call → the consumer has the record. */
  e2e: Latency;
  /** How late the 1 ms pacing timer sent values after they were due (µs). */
  pacerLag: Latency;
  /** Ticks (in the measured interval) that dropped values because too much was outstanding: the system fell behind. */
  throttledTicks: number;
  /** Values due that were dropped instead of sent, warm-up included. */
  skipped: number;
  cpu: CpuFigures;
  problems: string[];
  failure?: string;
}

/**
 * Open loop at `rate` values/s for warm-up + duration with a consumer reading concurrently from
 * the start of the (fresh) topic; then wait for every ack and for the consumer to catch up.
 */
export async function runPaced(target: LogTarget, topic: string, size: number, rate: number, timing: Timing): Promise<PacedResult> {
  const ackHist = newHist();
  const e2eHist = newHist();
  const lagHist = newHist();
  const check = new SeqCheck(size);
  let tStart = Infinity;
  let tEnd = Infinity;
  let lastRecordAt = performance.now();
  const consumer = await target.consume(topic, (v) => {
    const t = check.take(v);
    const now = performance.now();
    lastRecordAt = now;
    if (t >= tStart && t < tEnd) e2eHist.recordValue(Math.max(1, Math.round((now - t) * 1000)));
  });
  const pub = await target.publisher(topic);
  const st = newPublishing();
  let measuring = false;
  let measuredAcks = 0;
  let throttledTicks = 0;
  const cap = Math.max(target.window * 10, Math.ceil(rate)); // at most ~1 s of values outstanding
  const maxChunk = target.chunk === 1 ? 1 : 1000;
  const t0 = performance.now();
  let running = true;
  let timer: NodeJS.Timeout | undefined;
  let skipped = 0;
  const tick = () => {
    if (!running) return;
    const now = performance.now();
    const due = Math.floor(((now - t0) * rate) / 1000) - st.sent - skipped;
    if (due > 0) {
      // Open loop, but not an unbounded queue: past `cap` outstanding, what is due is dropped
      // (counted; the achieved rate shows it) instead of piling up in the client.
      const room = Math.min(due, cap - st.pending);
      if (room < due) {
        skipped += due - Math.max(0, room);
        if (measuring) throttledTicks++;
      }
      if (room > 0) {
        if (measuring) lagHist.recordValue(Math.max(1, Math.round((now - (t0 + ((st.sent + skipped) * 1000) / rate)) * 1000)));
        for (let left = room; left > 0; ) {
          const n = Math.min(left, maxChunk);
          const inWindow = measuring;
          sendChunk(st, target, pub, size, n, (us, k) => {
            if (!inWindow) return;
            measuredAcks += k;
            ackHist.recordValueWithCount(us, k);
          });
          left -= n;
        }
      }
    }
    timer = setTimeout(tick, 1);
  };
  tick();
  let meter!: CpuMeter;
  let cpu!: CpuFigures;
  const phases = await runPhases(
    { outstanding: st.outstanding, lastProgress: st.lastProgress, failure: () => st.error ?? consumer.failure() },
    {
      warmupMs: timing.warmupMs,
      durationMs: timing.durationMs,
      onMeasureStart: () => {
        measuring = true;
        tStart = performance.now();
        meter = new CpuMeter(target.peer.pid);
      },
      onMeasureEnd: () => {
        measuring = false;
        tEnd = performance.now();
        cpu = meter.read();
      },
    },
  );
  running = false;
  clearTimeout(timer);
  let failure = phases.failure ?? st.error;
  failure ??= (await drain(st, (cb) => (st.onIdle = cb))) ?? st.error;
  await closeWithin(pub, CLOSE_MS);
  // Let the consumer catch up with everything that was acknowledged.
  const deadline = performance.now() + STALL_MS;
  while (!failure && check.received < st.acked && performance.now() < deadline && performance.now() - lastRecordAt < STALL_MS) {
    await new Promise((r) => setTimeout(r, 10));
  }
  failure ??= consumer.failure();
  await consumer.stop().catch(() => undefined);
  const seconds = phases.tEnd > phases.tStart ? (phases.tEnd - phases.tStart) / 1000 : NaN;
  return {
    targetRate: rate,
    achievedRate: measuredAcks / seconds,
    seconds,
    published: st.acked,
    ack: latencyOf(ackHist),
    e2e: latencyOf(e2eHist),
    pacerLag: latencyOf(lagHist),
    throttledTicks,
    skipped,
    cpu: cpu ?? new CpuMeter(target.peer.pid).read(),
    problems: check.problems(st.acked),
    failure,
  };
}
