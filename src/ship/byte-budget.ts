/**
 * A number of bytes shared by several users (the in-memory queue, the disk spool). `take` waits
 * until enough is released; an amount larger than the whole budget is let through when nothing
 * else is held, so one oversized line cannot wait forever.
 */
export class ByteBudget {
  private held = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  get used(): number {
    return this.held;
  }

  fits(bytes: number): boolean {
    return this.held + bytes <= this.limit || this.held === 0;
  }

  tryTake(bytes: number): boolean {
    if (!this.fits(bytes)) return false;
    this.held += bytes;
    return true;
  }

  /** Take without checking the limit (bytes already on disk when reopening, or that must be kept). */
  forceTake(bytes: number): void {
    this.held += bytes;
  }

  /** Wait until `bytes` fit, then take them; resolves false without taking if `signal` aborts first. */
  async take(bytes: number, signal?: AbortSignal): Promise<boolean> {
    while (!this.tryTake(bytes)) {
      if (signal?.aborted) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener('abort', wake);
          const i = this.waiters.indexOf(wake);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve();
        };
        this.waiters.push(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    return true;
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.held = Math.max(0, this.held - bytes);
    for (const w of this.waiters.splice(0)) w();
  }
}
