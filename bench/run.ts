/**
 * Bench dispatcher: `npm run bench -- NAME [--quick] [args…]` imports bench/NAME.ts, runs it, writes
 * bench/results/NAME.json, and prints one compact JSON summary as the last line of stdout.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machineInfo } from './lib/machine.js';
import type { BenchModule } from './lib/types.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const name = argv.find((a) => !a.startsWith('-'));
  const quick = argv.includes('--quick');
  const args = argv.filter((a) => a !== name);
  const file = name && /^[a-z0-9][a-z0-9-]*$/.test(name) ? `${HERE}${name}.ts` : '';
  if (!name || !file || !existsSync(file)) {
    const known = readdirSync(HERE).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3));
    process.stderr.write(`bench: unknown benchmark ${JSON.stringify(name ?? '')}; usage: npm run bench -- NAME [--quick], NAME one of: ${known.join(', ')}\n`);
    return 2;
  }
  const mod = (await import(pathToFileURL(file).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') {
    process.stderr.write(`bench: ${name}.ts exports no run()\n`);
    return 2;
  }
  const machine = machineInfo();
  const started = Date.now();
  const out = await mod.run({ quick, args, log: (line) => process.stderr.write(`${line}\n`), print: (line) => process.stdout.write(`${line}\n`) });
  const record = { bench: name, quick, machine, wallSeconds: Math.round((Date.now() - started) / 100) / 10, ...out.meta, results: out.results };
  mkdirSync(`${HERE}results`, { recursive: true });
  writeFileSync(`${HERE}results/${name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: name, quick, ...out.summary })}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
