import type { Logger } from '../core/log.js';

/** Counters of the shipper, logged as one "ship stats" line every interval when they changed. */
export class ShipStats {
  /** Lines taken from the inputs. */
  read = 0;
  /** Lines acknowledged by the broker (after being sent from memory or from the spool). */
  forwarded = 0;
  /** Lines written to the disk spool. */
  spooled = 0;
  /** Lines dropped by the full policy (drop-newest, drop-oldest). */
  dropped = 0;
  /** Spooled lines found already stored by the broker after a lost acknowledgement (not resent). */
  alreadyDelivered = 0;
  private last = '';
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly gauges: () => Record<string, number>) {}

  snapshot(): Record<string, number> {
    return { read: this.read, forwarded: this.forwarded, spooled: this.spooled, dropped: this.dropped, alreadyDelivered: this.alreadyDelivered, ...this.gauges() };
  }

  /** Log the counters now if they changed since the last time. */
  report(log: Logger): void {
    const s = this.snapshot();
    const key = JSON.stringify(s);
    if (key === this.last) return;
    this.last = key;
    log.info('ship stats', s);
  }

  start(log: Logger, intervalMs: number): void {
    this.timer = setInterval(() => this.report(log), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
