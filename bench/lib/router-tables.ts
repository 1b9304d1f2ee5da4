/**
 * Render bench/results/router.json as the Markdown tables of docs/benchmarks.md (router section):
 * `node --import tsx bench/lib/router-tables.ts [bench/results/router.json]`.
 */
import { readFileSync } from 'node:fs';

interface Figures {
  value: number | null; p50us: number | null; p99us: number | null; p999us: number | null;
  clientCpuS: number | null; nodesCpuS: number | null; proxyCpuS: number | null; irqCpuS: number | null; otherCpuS: number | null;
  samples: Array<number | null>; p99Samples: Array<number | null>; busyRetries: number;
}
interface Scenario {
  id: string; title: string; unit: string;
  targets: Record<'direct' | 'router' | 'twemproxy', Figures>;
  ratios: Record<string, number | null>;
  paired: Record<string, number | null>;
  ratePerSec: number | null;
  keysPerGet: number;
  goals: { throughput: boolean | null; p99: boolean | null };
}

const file = process.argv[2] ?? new URL('../results/router.json', import.meta.url).pathname;
const data = JSON.parse(readFileSync(file, 'utf8')) as {
  machine: Record<string, unknown>; memcached: string; nutcracker: string; strataCommit: string; strataTreeDirty: boolean;
  command: string; quick: boolean; repetitions: number; wallSeconds: number; timing: { warmupMs: number; durationMs: number };
  results: { scenarios: Scenario[]; incidents: string[] };
};
process.stdout.on('error', () => process.exit(0)); // | head
const int = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const x2 = (x: number | null | undefined) => (x == null ? '–' : `${x.toFixed(2)}×`);
const pct = (x: number | null | undefined) => (x == null ? '–' : `${x > 0 ? '+' : ''}${x.toFixed(0)} %`);
const T = ['direct', 'router', 'twemproxy'] as const;

const m = data.machine;
console.log(`Run: ${String(m.date)}, ${String(m.cpuModel)}, ${String(m.nproc)} vCPU, ${String(m.totalMemoryGiB)} GiB, Node ${String(m.node)}, ` +
  `${data.memcached}, ${data.nutcracker}, Strata ${data.strataCommit}${data.strataTreeDirty ? ' (dirty tree)' : ''}; \`${data.command}\`${data.quick ? ' (QUICK: not for the docs)' : ''}; ` +
  `${data.repetitions} runs per figure (${data.timing.warmupMs / 1000} s warm-up + ${data.timing.durationMs / 1000} s measured), median; whole bench ${data.wallSeconds} s.\n`);

console.log('| scenario | unit | direct | strata router | twemproxy | router / direct | (per round) | router / twemproxy | twemproxy / direct |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
for (const s of data.results.scenarios) {
  const f = s.targets;
  console.log(`| ${s.title} | ${s.unit} | ${T.map((t) => int(f[t].value)).join(' | ')} | ${x2(s.ratios.router_vs_direct)} | ${x2(s.paired.router_vs_direct)} | ${x2(s.ratios.router_vs_twemproxy)} | ${x2(s.ratios.twemproxy_vs_direct)} |`);
}
console.log('');
console.log('| scenario | p50 µs (direct · router · twemproxy) | p99 µs (direct · router · twemproxy) | router p99 vs direct | (per round) | twemproxy p99 vs direct | p99.9 µs (direct · router · twemproxy) |');
console.log('|---|---|---|---:|---:|---:|---|');
for (const s of data.results.scenarios) {
  const f = s.targets;
  console.log(`| ${s.title} | ${T.map((t) => int(f[t].p50us)).join(' · ')} | ${T.map((t) => int(f[t].p99us)).join(' · ')} | ` +
    `${pct(s.ratios.router_p99_increase_pct)} | ${pct(s.paired.router_p99_increase_pct)} | ${pct(s.ratios.twemproxy_p99_increase_pct)} | ${T.map((t) => int(f[t].p999us)).join(' · ')} |`);
}
console.log('');
const secs = data.timing.durationMs / 1000;
console.log(`| scenario | target | client CPU-s | nodes CPU-s | proxy CPU-s | irq+softirq CPU-s | other processes CPU-s | proxy CPU µs / request | runs (ops/s or keys/s) | runs repeated (machine busy) |`);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---|---:|');
for (const s of data.results.scenarios) {
  for (const t of T) {
    const f = s.targets[t];
    const c = (x: number | null) => (x == null ? '–' : String(x));
    const perReq = f.proxyCpuS != null && f.value ? ((f.proxyCpuS * 1e6) / ((f.value / s.keysPerGet) * secs)).toFixed(1) : '–';
    console.log(`| ${s.id} | ${t} | ${c(f.clientCpuS)} | ${c(f.nodesCpuS)} | ${c(f.proxyCpuS)} | ${c(f.irqCpuS)} | ${c(f.otherCpuS)} | ${perReq} | ${f.samples.map(int).join(' / ')} | ${f.busyRetries} |`);
  }
}
console.log(`\n(CPU-seconds over the ${secs} s measured; 2 vCPUs give at most ${2 * secs}.)`);
console.log('');
console.log('| scenario | router ≥ 0.80× direct throughput | router p99 ≤ direct + 15 % |');
console.log('|---|---|---|');
const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : '**not met**');
for (const s of data.results.scenarios) {
  const thr = s.ratePerSec ? 'n/a (paced)' : `${yes(s.goals.throughput)} (${x2(s.ratios.router_vs_direct)})`;
  console.log(`| ${s.title} | ${thr} | ${yes(s.goals.p99)} (${pct(s.ratios.router_p99_increase_pct)}) |`);
}
if (data.results.incidents.length) console.log(`\nIncidents:\n${data.results.incidents.map((i) => `- ${i}`).join('\n')}`);
