import type fc from 'fast-check';
import type { CacheOps } from '../../../src/patterns/types.js';
import type { Scheduler } from '../../../src/patterns/scheduler.js';

/**
 * Runs actors (async functions) one step at a time in an order fast-check's scheduler picks.
 * Every step with an effect (a cache command, a database read or write, a wait) first passes
 * `gate(label)`; a step runs to completion, real I/O included, before the next gate opens, so
 * each interleaving is exact and replayable from fast-check's report.
 */
export class Interleaver {
  private waiting = 0;
  private running = 0;
  private released = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly s: fc.Scheduler) {}

  readonly gate = async (label: string): Promise<void> => {
    this.waiting++;
    this.wake?.();
    await this.s.schedule(Promise.resolve(), label);
    this.waiting--;
    this.released++;
    this.wake?.();
  };

  async run(actors: (() => Promise<unknown>)[]): Promise<void> {
    const errors: unknown[] = [];
    this.running = actors.length;
    for (const actor of actors) {
      actor().catch((err: unknown) => errors.push(err)).finally(() => {
        this.running--;
        this.wake?.();
      });
    }
    for (;;) {
      await this.until(() => this.waiting === this.running); // every live actor is at a gate
      if (this.running === 0) break;
      const before = this.released;
      await this.s.waitNext(1);
      await this.until(() => this.released > before);
    }
    if (errors.length > 0) throw errors[0];
  }

  private until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        if (!cond()) return;
        this.wake = null;
        resolve();
      };
    });
  }

  /** The cache as one actor sees it: each command waits for its turn. */
  cache(cache: CacheOps & { delete(key: string): Promise<boolean> }, who: string): CacheOps & { delete(key: string): Promise<boolean> } {
    const gate = this.gate;
    return {
      get: async (key, o) => (await gate(`${who}: get`), cache.get(key, o)),
      add: async (key, v, o) => (await gate(`${who}: add`), cache.add(key, v, o)),
      set: async (key, v, o) => (await gate(`${who}: set`), cache.set(key, v, o)),
      delete: async (key) => (await gate(`${who}: delete`), cache.delete(key)),
      meta: async (cmd, key, flags, value, signal) => (await gate(`${who}: ${cmd} ${flags.join(' ')}`), cache.meta(cmd, key, flags, value, signal)),
    };
  }

  /** Waiting as one actor does it: a wait is a step whose end the scheduler picks. */
  scheduler(who: string): Scheduler {
    return { sleep: () => this.gate(`${who}: wait`) };
  }
}

/** The source of truth: one row, read and written in steps the interleaver orders. */
export class FakeDb {
  constructor(
    public value: string,
    private readonly gate: (label: string) => Promise<void>,
  ) {}

  async read(who: string): Promise<string> {
    await this.gate(`${who}: db read`);
    return this.value;
  }

  async write(who: string, value: string): Promise<void> {
    await this.gate(`${who}: db write ${value}`);
    this.value = value;
  }
}
