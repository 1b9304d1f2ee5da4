/**
 * Render bench/results/cache.json as the Markdown tables of docs/benchmarks.md:
 * `node --import tsx bench/lib/tables.ts [bench/results/cache.json]`.
 */
import { readFileSync } from 'node:fs';
import type { ScenarioReport } from './report.js';
import type { MemoryResult } from './memory.js';

const file = process.argv[2] ?? new URL('../results/cache.json', import.meta.url).pathname;
const data = JSON.parse(readFileSync(file, 'utf8')) as {
  machine: Record<string, unknown>; memcached: string; strataCommit: string; strataTreeDirty: boolean; command: string;
  repetitions: number; timing: Record<string, number>; wallSeconds: number;
  results: { scenarios: ScenarioReport[]; memory: MemoryResult[]; incidents: string[] };
};
const int = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const x2 = (x: number | null | undefined) => (x == null ? '–' : `${x.toFixed(2)}×`);
const IDS = ['memcached', 'strata_t1', 'strata_t2'] as const;
const NAMES = { memcached: 'memcached 1.6.18 (-t 2)', strata_t1: 'Strata, 1 thread', strata_t2: 'Strata, 2 threads' };

const m = data.machine;
console.log(`Run: ${String(m.date)}, ${String(m.cpuModel)}, ${String(m.nproc)} vCPU, ${String(m.totalMemoryGiB)} GiB, Node ${String(m.node)}, ${data.memcached}, Strata ${data.strataCommit}${data.strataTreeDirty ? ' (dirty tree)' : ''}; ${data.repetitions} runs per figure, median; whole bench ${data.wallSeconds} s.\n`);
for (const tool of ['memcaslap', 'loadgen']) {
  const rows = data.results.scenarios.filter((s) => s.tool === tool);
  const lat = tool === 'loadgen';
  console.log(`| scenario | unit | ${IDS.map((i) => NAMES[i]).join(' | ')} | t1 / mc | t2 / mc |${lat ? ' p50 / p99 µs (mc · t1 · t2) |' : ''} server CPU-s (mc · t1 · t2) | client CPU-s (mc · t1 · t2) |`);
  console.log(`|---|---|---:|---:|---:|---:|---:|${lat ? '---|' : ''}---|---|`);
  for (const s of rows) {
    const f = s.servers;
    const latency = lat ? ` ${IDS.map((i) => `${int(f[i].p50us)} / ${int(f[i].p99us)}`).join(' · ')} |` : '';
    console.log(`| ${s.title} | ${s.unit} | ${IDS.map((i) => int(f[i].value)).join(' | ')} | ${x2(s.ratios.strata_t1)} | ${x2(s.ratios.strata_t2)} |${latency} ${IDS.map((i) => f[i].serverCpuS ?? '–').join(' · ')} | ${IDS.map((i) => f[i].clientCpuS ?? '–').join(' · ')} |`);
  }
  console.log('');
}
const mem = data.results.memory;
const base = mem.find((r) => r.server === 'memcached')?.bytesPerItem ?? NaN;
console.log('| server | items stored | curr_items | VmRSS before | VmRSS after | bytes / item | vs memcached |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const r of mem) {
  const mib = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MiB`;
  console.log(`| ${NAMES[r.server as (typeof IDS)[number]] ?? r.server} | ${int(r.stored)} | ${int(r.currItems)} | ${mib(r.rssBeforeBytes)} | ${mib(r.rssAfterBytes)} | ${r.bytesPerItem.toFixed(1)} | ${x2(r.bytesPerItem / base)} |`);
}
if (data.results.incidents.length) console.log(`\nIncidents:\n${data.results.incidents.map((i) => `- ${i}`).join('\n')}`);
