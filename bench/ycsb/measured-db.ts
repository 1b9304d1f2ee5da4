/**
 * YCSB's DBWrapper: times every call of one worker's DB and records the latency and return code.
 * A failed call is timed under OP-FAILED (or OP-STATUS with reportlatencyforeacherror=true or a
 * status listed in latencytrackederrors) while its return code is counted under OP, as in YCSB. A
 * binding that throws counts as ERROR; the first few messages go to stderr.
 */
import { performance } from 'node:perf_hooks';
import { isOk, type DB, type Properties, type RecordValues, type ScanRecord, type Status } from './db.js';
import type { Measurements } from './measurements.js';

let errorsLogged = 0;

export class MeasuredDB {
  /**
   * When the pacing meant the next operation to start (performance.now() ms), or 0 without a
   * target; per worker, like YCSB's thread-local intended start time.
   */
  intendedStartMs = 0;
  private readonly reportEachError: boolean;
  private readonly trackedErrors: Set<string>;

  constructor(private readonly db: DB, readonly measurements: Measurements, props: Properties = new Map()) {
    this.reportEachError = (props.get('reportlatencyforeacherror') ?? 'false').toLowerCase() === 'true';
    this.trackedErrors = new Set((props.get('latencytrackederrors') ?? '').split(',').filter((s) => s !== ''));
  }

  /** The intended start of the operation starting now (YCSB's getIntendedStartTimeNs). */
  intendedStart(): number {
    if (this.measurements.interval === 'op') return 0;
    return this.intendedStartMs || performance.now();
  }

  /** Record one timed operation under `op` (times in performance.now() ms). */
  record(op: string, intendedMs: number, startMs: number, endMs: number): void {
    this.measurements.measure(op, (endMs - startMs) * 1000);
    this.measurements.measureIntended(op, (endMs - intendedMs) * 1000);
  }

  private async timed(op: string, call: () => Promise<Status>): Promise<Status> {
    const ist = this.intendedStart();
    const st = performance.now();
    let status: Status;
    try {
      status = await call();
    } catch (err) {
      status = 'ERROR';
      if (errorsLogged++ < 10) process.stderr.write(`${op} failed: ${(err as Error).message}\n`);
    }
    const en = performance.now();
    let name = op;
    if (!isOk(status)) name = this.reportEachError || this.trackedErrors.has(status) ? `${op}-${status}` : `${op}-FAILED`;
    this.record(name, ist, st, en);
    this.measurements.reportStatus(op, status);
    return status;
  }

  init(): Promise<void> {
    return this.db.init();
  }

  async cleanup(): Promise<void> {
    const ist = this.intendedStart();
    const st = performance.now();
    await this.db.cleanup();
    this.record('CLEANUP', ist, st, performance.now());
  }

  read(table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status> {
    return this.timed('READ', () => this.db.read(table, key, fields, result));
  }

  scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status> {
    return this.timed('SCAN', () => this.db.scan(table, startKey, recordCount, fields, result));
  }

  update(table: string, key: string, values: RecordValues): Promise<Status> {
    return this.timed('UPDATE', () => this.db.update(table, key, values));
  }

  insert(table: string, key: string, values: RecordValues): Promise<Status> {
    return this.timed('INSERT', () => this.db.insert(table, key, values));
  }

  delete(table: string, key: string): Promise<Status> {
    return this.timed('DELETE', () => this.db.delete(table, key));
  }
}
