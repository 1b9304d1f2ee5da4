/** Base class for errors Strata raises on purpose, with a stable code. */
export class StrataError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'StrataError';
  }
}

/** A setting is missing, malformed or out of range. The message names the setting. */
export class ConfigError extends StrataError {
  constructor(message: string) {
    super('CONFIG', message);
    this.name = 'ConfigError';
  }
}

/** Invariant check: a failure is a bug in Strata, never bad user input. */
export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new Error(`invariant violated: ${message}`);
}
