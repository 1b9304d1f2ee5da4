import type { Logger } from './log.js';

/**
 * A service's shutdown steps, run in reverse order of registration (the last thing started stops
 * first); a step that fails is logged and the others still run. `run` is safe to call twice.
 */
export class ShutdownSteps {
  private readonly steps: Array<() => void | Promise<void>> = [];

  constructor(private readonly log: Logger) {}

  push(step: () => void | Promise<void>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.log.warn('close step failed', { err: String(err) });
      }
    }
  }
}
