import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';

/** Waiting, made injectable: the patterns never call setTimeout themselves, so tests can drive time. */
export interface Scheduler {
  /** Resolve after `ms` milliseconds; reject with `signal.reason` if the signal aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Real timers. */
export const realScheduler: Scheduler = {
  sleep: (ms, signal) => sleepFor(ms, undefined, signal ? { signal } : undefined),
};

interface Sleeper {
  at: number;
  resolve(): void;
}

/**
 * A scheduler (and clock) that moves only when told to: `advance(ms)` wakes the sleepers whose
 * time has come, in order. For deterministic tests of code that waits.
 */
export class ManualScheduler implements Scheduler, Clock {
  private readonly sleepers = new Set<Sleeper>();
  private readonly watchers: { count: number; resolve(): void }[] = [];

  constructor(private now = 0) {}

  nowMs(): number {
    return this.now;
  }

  /** How many sleeps are pending. */
  get sleeping(): number {
    return this.sleepers.size;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.sleepers.delete(sleeper);
        reject(signal!.reason);
      };
      const sleeper: Sleeper = {
        at: this.now + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.add(sleeper);
      this.notify();
    });
  }

  /** Move time forward, waking every sleeper due by then (earliest first). */
  advance(ms: number): void {
    this.now += ms;
    const due = [...this.sleepers].filter((s) => s.at <= this.now).sort((a, b) => a.at - b.at);
    for (const s of due) {
      this.sleepers.delete(s);
      s.resolve();
    }
  }

  /** Resolve once at least `count` sleeps are pending at the same time. */
  whenSleeping(count: number): Promise<void> {
    return new Promise((resolve) => {
      this.watchers.push({ count, resolve });
      this.notify();
    });
  }

  private notify(): void {
    for (let i = this.watchers.length - 1; i >= 0; i--) {
      if (this.sleepers.size >= this.watchers[i].count) {
        this.watchers[i].resolve();
        this.watchers.splice(i, 1);
      }
    }
  }
}
