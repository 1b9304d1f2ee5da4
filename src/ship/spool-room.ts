import type { ByteBudget } from './byte-budget.js';

export type WhenFull = 'block' | 'drop-oldest' | 'drop-newest';
export const WHEN_FULL: readonly WhenFull[] = ['block', 'drop-oldest', 'drop-newest'];

/**
 * Room for lines in the spools (one budget for all categories) under the full policy:
 * `drop-newest` refuses a line that does not fit, `drop-oldest` deletes old spool segments until
 * it fits, `block` makes the input wait for forwarding to free some.
 */
export class SpoolRoom {
  constructor(
    private readonly budget: ByteBudget,
    readonly whenFull: WhenFull,
    /** Delete the oldest spool segment of the fullest category; false if there is none. */
    private readonly dropOldestSomewhere: () => boolean,
    /** Called each time a line does not fit at once. */
    private readonly onFull: () => void,
  ) {}

  /** Take room for `bytes` without waiting; false: the line is to be dropped, or (block) to wait. */
  takeNow(bytes: number): boolean {
    if (this.budget.tryTake(bytes)) return true;
    this.onFull();
    if (this.whenFull !== 'drop-oldest') return false;
    while (!this.budget.tryTake(bytes)) if (!this.dropOldestSomewhere()) return false;
    return true;
  }

  /** Room for a line already taken from its input (from memory): under block it is kept even past the bound. */
  takeForTaken(bytes: number): boolean {
    if (this.takeNow(bytes)) return true;
    if (this.whenFull !== 'block') return false;
    this.budget.forceTake(bytes);
    return true;
  }

  /** Room for a line from an input: under block, wait for it (past the bound if `signal` aborts: shutting down keeps lines). */
  async take(bytes: number, signal: AbortSignal): Promise<boolean> {
    if (this.takeNow(bytes)) return true;
    if (this.whenFull !== 'block') return false;
    if (!(await this.budget.take(bytes, signal))) this.budget.forceTake(bytes);
    return true;
  }
}
