/** Exponential backoff with jitter: each wait is a random time in [d/2, d], d doubling up to `maxMs`. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
  ) {}

  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    if (d < this.maxMs) this.attempt++;
    return Math.round(d / 2 + Math.random() * (d / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}
