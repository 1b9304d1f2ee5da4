/**
 * YCSB's measurements (measurementtype=hdrhistogram): one HDR histogram of latencies in
 * microseconds per measurement name (READ, READ-FAILED, READ-MODIFY-WRITE, …) with 3 significant
 * digits, counts of return codes per operation, YCSB's text export and a JSON summary.
 * measurement.interval=op times from the operation's start (the default), `intended` from the
 * start the -target pacing intended (correcting coordinated omission), `both` keeps both, the
 * second set named Intended-READ and so on, as YCSB.
 */
import hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';
import { isOk, type Properties, type Status } from './db.js';

export type MeasurementInterval = 'op' | 'intended' | 'both';

function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });
}

/** Java's Double.toString, which YCSB's text exporter uses for doubles ("2000.0", "1.5E7"). */
export function javaDouble(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d > 0 ? 'Infinity' : '-Infinity';
  const abs = Math.abs(d);
  if (abs === 0 || (abs >= 1e-3 && abs < 1e7)) return Number.isInteger(d) ? d.toFixed(1) : String(d);
  const [mantissa, exp] = d.toExponential().split('e');
  return `${mantissa.includes('.') ? mantissa : `${mantissa}.0`}E${Number(exp)}`;
}

/** "1st", "50th", "99.9" as YCSB names its percentile lines. */
function ordinal(p: number): string {
  if (!Number.isInteger(p)) return String(p);
  const suffixes = ['th', 'st', 'nd', 'rd', 'th', 'th', 'th', 'th', 'th', 'th'];
  return [11, 12, 13].includes(p % 100) ? `${p}th` : `${p}${suffixes[p % 10]}`;
}

export interface OperationSummary {
  count: number;
  avgUs: number;
  minUs: number;
  maxUs: number;
  /** p50Us, p95Us, p99Us, … for hdrhistogram.percentiles. */
  percentilesUs: { [name: string]: number };
  returns: { [status: string]: number };
  /** Return codes other than OK and BATCHED_OK. */
  errors: number;
}

export interface PhaseSummary {
  runtimeMs: number;
  operations: number;
  throughput: number;
  measurements: { [name: string]: OperationSummary };
}

class OneMeasurement {
  private readonly total = newHistogram();
  private readonly interval = newHistogram();
  private min = Infinity;
  private intervalMin = Infinity;
  readonly returnCodes = new Map<Status, number>();

  constructor(readonly name: string) {}

  measure(latencyUs: number): void {
    this.interval.recordValue(latencyUs);
    if (latencyUs < this.intervalMin) this.intervalMin = latencyUs;
  }

  reportStatus(status: Status): void {
    this.returnCodes.set(status, (this.returnCodes.get(status) ?? 0) + 1);
  }

  /** Move the interval's values into the total; returns the interval's histogram and minimum. */
  private accumulate(): { hist: Histogram; min: number } {
    const out = { hist: this.interval, min: this.intervalMin };
    this.total.add(this.interval);
    this.min = Math.min(this.min, this.intervalMin);
    return out;
  }

  /** YCSB's status-line summary of the values since the last call. */
  intervalSummary(): string {
    const { hist, min } = this.accumulate();
    const d = (x: number) => String(Math.round(x * 100) / 100);
    const count = hist.totalCount;
    const text =
      `[${this.name}: Count=${count}, Max=${hist.maxValue}, Min=${count ? min : 0}, Avg=${d(hist.mean)}, ` +
      `50=${d(hist.getValueAtPercentile(50))}, 90=${d(hist.getValueAtPercentile(90))}, 99=${d(hist.getValueAtPercentile(99))}, ` +
      `99.9=${d(hist.getValueAtPercentile(99.9))}, 99.99=${d(hist.getValueAtPercentile(99.99))}]`;
    hist.reset();
    this.intervalMin = Infinity;
    return text;
  }

  summary(percentiles: number[]): OperationSummary {
    this.accumulate();
    this.interval.reset();
    this.intervalMin = Infinity;
    const count = this.total.totalCount;
    const returns: { [status: string]: number } = {};
    let errors = 0;
    for (const [status, n] of this.returnCodes) {
      returns[status] = n;
      if (!isOk(status)) errors += n;
    }
    const percentilesUs: { [name: string]: number } = {};
    for (const p of percentiles) percentilesUs[`p${p}Us`] = count ? this.total.getValueAtPercentile(p) : 0;
    return { count, avgUs: count ? this.total.mean : 0, minUs: count ? this.min : 0, maxUs: count ? this.total.maxValue : 0, percentilesUs, returns, errors };
  }

  exportText(percentiles: number[]): string[] {
    const s = this.summary(percentiles);
    const lines = [
      `[${this.name}], Operations, ${s.count}`,
      `[${this.name}], AverageLatency(us), ${javaDouble(s.avgUs)}`,
      `[${this.name}], MinLatency(us), ${s.minUs}`,
      `[${this.name}], MaxLatency(us), ${s.maxUs}`,
    ];
    for (const p of percentiles) lines.push(`[${this.name}], ${ordinal(p)}PercentileLatency(us), ${s.percentilesUs[`p${p}Us`]}`);
    for (const [status, n] of Object.entries(s.returns)) lines.push(`[${this.name}], Return=${status}, ${n}`);
    return lines;
  }
}

export class Measurements {
  readonly interval: MeasurementInterval;
  readonly percentiles: number[];
  private readonly ops = new Map<string, OneMeasurement>();
  private readonly intended = new Map<string, OneMeasurement>();

  constructor(props: Properties = new Map()) {
    const type = props.get('measurementtype') ?? 'hdrhistogram';
    if (type !== 'hdrhistogram') throw new Error(`measurementtype=${type} is not supported (only hdrhistogram)`);
    const interval = props.get('measurement.interval') ?? 'op';
    if (interval !== 'op' && interval !== 'intended' && interval !== 'both') throw new Error(`unknown measurement.interval=${interval}`);
    this.interval = interval;
    const pct = (props.get('hdrhistogram.percentiles') ?? '50,95,99').split(',').map(Number);
    this.percentiles = pct.every((p) => Number.isFinite(p) && p >= 0 && p <= 100) ? pct : [50, 95, 99];
  }

  private get(map: Map<string, OneMeasurement>, op: string, name: string): OneMeasurement {
    let m = map.get(op);
    if (!m) map.set(op, (m = new OneMeasurement(name)));
    return m;
  }

  measure(op: string, latencyUs: number): void {
    if (this.interval === 'intended') return;
    this.get(this.ops, op, op).measure(Math.max(0, Math.trunc(latencyUs)));
  }

  measureIntended(op: string, latencyUs: number): void {
    if (this.interval === 'op') return;
    this.get(this.intended, op, this.interval === 'intended' ? op : `Intended-${op}`).measure(Math.max(0, Math.trunc(latencyUs)));
  }

  reportStatus(op: string, status: Status): void {
    const m = this.interval === 'intended' ? this.get(this.intended, op, op) : this.get(this.ops, op, op);
    m.reportStatus(status);
  }

  private all(): OneMeasurement[] {
    return [...this.ops.values(), ...this.intended.values()];
  }

  /** The per-measurement part of YCSB's status line (values since the previous status line). */
  statusSummary(): string {
    return this.all().map((m) => `${m.intervalSummary()} `).join('');
  }

  exportText(runtimeMs: number, operations: number): string {
    const lines = [`[OVERALL], RunTime(ms), ${runtimeMs}`, `[OVERALL], Throughput(ops/sec), ${javaDouble((1000 * operations) / runtimeMs)}`];
    for (const m of this.all()) lines.push(...m.exportText(this.percentiles));
    return `${lines.join('\n')}\n`;
  }

  summary(runtimeMs: number, operations: number): PhaseSummary {
    const measurements: { [name: string]: OperationSummary } = {};
    for (const m of this.all()) measurements[m.name] = m.summary(this.percentiles);
    return { runtimeMs, operations, throughput: (1000 * operations) / runtimeMs, measurements };
  }
}
