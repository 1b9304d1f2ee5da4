/**
 * The YCSB command line:
 *   npm run ycsb -- --workload a --db postgres|redis|strata|memory [--load] [--run] [--threads N]
 *     [--target N] [--records N] [--operations N] [-P file]... [-p name=value]... [--json]
 * Properties come from the preset (a–f), then each -P file in order, then the command line
 * (-p and the flags, later ones winning), as YCSB's -P and -p. Without --load or --run both phases
 * run, load first, sharing nothing but the database. Measurements go to stdout in YCSB's text
 * format (or one JSON object with --json); status lines and messages go to stderr.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { DBFactory, Properties } from './db.js';
import { presetProperties } from './presets.js';
import { loadPropertiesFile, parseAssignment } from './properties.js';
import { seededRandom } from './random.js';
import { runPhase, type Phase, type PhaseResult } from './runner.js';
import { CoreWorkload } from './workload.js';

export const BINDINGS = ['memory', 'postgres', 'redis', 'strata'] as const;

export interface CliOptions {
  db: string;
  workload: string | null;
  phases: Phase[];
  props: Properties;
  json: boolean;
  seed: number | null;
}

const USAGE = `Usage: npm run ycsb -- --workload a|b|c|d|e|f --db ${BINDINGS.join('|')} [options]
  --load | --run        run only that phase (default: load, then run)
  --threads N           client workers (threadcount)
  --target N            operations per second over all workers (target; default unlimited)
  --records N           recordcount          --operations N   operationcount
  --intended            time from the intended start (measurement.interval=intended)
  --seed N              seed the workload's random choices, for repeatable runs
  --no-status           no status line every status.interval (10) seconds on stderr
  -P file               properties file (several are read in order)
  -p name=value         a property (wins over files)
  --json                print one JSON summary instead of YCSB's text
Bindings' properties: postgres.url, redis.host, redis.port (see docs/ycsb.md).`;

const FLAG_PROPERTIES: { [flag: string]: string } = {
  '--threads': 'threadcount',
  '--target': 'target',
  '--records': 'recordcount',
  '--operations': 'operationcount',
};

function integerArg(flag: string, value: string | undefined): string {
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`${flag} needs a non-negative integer, got ${value ?? 'nothing'}`);
  return value;
}

/** Parse the command line into properties (preset < -P files < command line) and choices. */
export function parseArgs(argv: string[]): CliOptions {
  let db: string | null = null;
  let workload: string | null = null;
  let json = false;
  let seed: number | null = null;
  const phases = new Set<Phase>();
  const files: string[] = [];
  const cmdline: Properties = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--workload') workload = value();
    else if (arg === '--db') db = value();
    else if (arg === '--load') phases.add('load');
    else if (arg === '--run') phases.add('run');
    else if (arg === '--json') json = true;
    else if (arg === '--intended') cmdline.set('measurement.interval', 'intended');
    else if (arg === '--no-status') cmdline.set('status', 'false');
    else if (arg === '--seed') seed = Number(integerArg(arg, value()));
    else if (arg === '-P') files.push(value());
    else if (arg === '-p') cmdline.set(...parseAssignment(value()));
    else if (arg in FLAG_PROPERTIES) cmdline.set(FLAG_PROPERTIES[arg], integerArg(arg, value()));
    else throw new Error(`unknown option ${arg}\n${USAGE}`);
  }
  if (db === null) throw new Error(`--db is required\n${USAGE}`);
  if (!(BINDINGS as readonly string[]).includes(db)) throw new Error(`unknown --db ${db}: choose one of ${BINDINGS.join(', ')}`);
  if (workload === null && files.length === 0) throw new Error(`give --workload a…f or -P file\n${USAGE}`);
  const props: Properties = workload === null ? new Map() : presetProperties(workload);
  for (const f of files) loadPropertiesFile(f, props);
  for (const [k, v] of cmdline) props.set(k, v);
  return { db, workload, phases: phases.size ? (['load', 'run'] as Phase[]).filter((p) => phases.has(p)) : ['load', 'run'], props, json, seed };
}

/** The binding module's factory; `strata` is optional and loaded only if its file exists. */
export async function loadBinding(name: string): Promise<DBFactory> {
  const base = new URL(`./bindings/${name}`, import.meta.url);
  if (!existsSync(fileURLToPath(`${base.href}.ts`)) && !existsSync(fileURLToPath(`${base.href}.js`))) {
    throw new Error(`the ${name} binding is not available: bench/ycsb/bindings/${name}.ts does not exist yet`);
  }
  const mod = (await import(`${base.href}.js`)) as { createDB?: unknown };
  if (typeof mod.createDB !== 'function') throw new Error(`bench/ycsb/bindings/${name}.ts does not export createDB(props)`);
  return mod.createDB as DBFactory;
}

export async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const opts = parseArgs(argv);
  const createDB = await loadBinding(opts.db);
  process.stderr.write(`YCSB (Strata's TypeScript port) workload ${opts.workload ?? '(from -P)'}, db ${opts.db}\n`);
  const results: PhaseResult[] = [];
  for (const phase of opts.phases) {
    const random = opts.seed === null ? Math.random : seededRandom(opts.seed + (phase === 'load' ? 0 : 1));
    const workload = new CoreWorkload(opts.props, random);
    process.stderr.write(`Starting ${phase} phase.\n`);
    const result = await runPhase({ phase, props: opts.props, workload, createDB });
    results.push(result);
    if (!opts.json) process.stdout.write(`${result.measurements.exportText(result.runtimeMs, result.operations)}\n`);
  }
  if (opts.json) {
    const phases: { [phase: string]: unknown } = {};
    for (const r of results) phases[r.phase] = r.measurements.summary(r.runtimeMs, r.operations);
    process.stdout.write(`${JSON.stringify({ workload: opts.workload, db: opts.db, properties: Object.fromEntries(opts.props), phases }, null, 2)}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`ycsb: ${(err as Error).message}\n`);
    process.exitCode = 1;
  });
}
