/** The contract between bench/run.ts and a bench module bench/NAME.ts. */
export interface BenchContext {
  quick: boolean;
  /** Command-line arguments after NAME (including --quick). */
  args: string[];
  /** Progress, to stderr. */
  log(line: string): void;
  /** Result lines, to stdout (the dispatcher prints the JSON summary after them). */
  print(line: string): void;
}

export interface BenchOutput {
  /** Extra top-level fields of results/NAME.json (versions, commands…). */
  meta: Record<string, unknown>;
  /** Everything measured, for results/NAME.json. */
  results: unknown;
  /** The figures and ratios, printed as the last stdout line. */
  summary: Record<string, unknown>;
}

export interface BenchModule {
  run(ctx: BenchContext): Promise<BenchOutput>;
}
