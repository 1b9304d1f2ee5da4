/** Aggregate samples per server (medians, ratios to memcached) and format them for the terminal. */
import type { Sample, Scenario } from './scenarios.js';
import { median, ratio, round, fmtInt, finiteOrNull } from './stats.js';

export interface ServerFigures {
  value: number | null;
  p50us: number | null;
  p99us: number | null;
  serverCpuS: number | null;
  clientCpuS: number | null;
  runs: number;
  failures: string[];
  notes: string[];
  samples: number[];
  /** What each run measured (memcaslap's counters, the generator's hit ratio, reads, errors…). */
  details: unknown[];
}

export interface ScenarioReport {
  id: string;
  title: string;
  unit: string;
  tool: string;
  servers: Record<string, ServerFigures>;
  /** strata_tN / memcached, on the medians. */
  ratios: Record<string, number | null>;
}

export function aggregate(s: Scenario, samples: Record<string, Sample[]>): ScenarioReport {
  const servers: Record<string, ServerFigures> = {};
  for (const [id, list] of Object.entries(samples)) {
    const ok = list.filter((x) => Number.isFinite(x.value));
    const med = (f: (x: Sample) => number | undefined) => finiteOrNull(round(median(ok.map((x) => f(x) ?? NaN)), 2));
    servers[id] = {
      value: finiteOrNull(round(median(ok.map((x) => x.value)))),
      p50us: med((x) => x.p50us),
      p99us: med((x) => x.p99us),
      serverCpuS: med((x) => x.serverCpuS),
      clientCpuS: med((x) => x.clientCpuS),
      runs: list.length,
      failures: list.flatMap((x) => (x.failure ? [x.failure] : [])),
      notes: list.flatMap((x) => (x.notes ? [x.notes] : [])),
      samples: list.map((x) => round(x.value)),
      details: list.map((x) => x.detail),
    };
  }
  const base = servers.memcached?.value ?? NaN;
  const ratios: Record<string, number | null> = {};
  for (const id of Object.keys(servers)) if (id !== 'memcached') ratios[id] = finiteOrNull(ratio(servers[id].value ?? NaN, base));
  return { id: s.id, title: s.title, unit: s.unit, tool: s.tool, servers, ratios };
}

export function formatScenario(r: ScenarioReport): string[] {
  const lines = [`${r.title}  [${r.unit}, median of ${Math.max(...Object.values(r.servers).map((x) => x.runs))}]`];
  for (const [id, f] of Object.entries(r.servers)) {
    const rat = r.ratios[id];
    const lat = f.p50us !== null ? `  p50 ${f.p50us} us  p99 ${f.p99us} us` : '';
    lines.push(
      `  ${id.padEnd(10)} ${fmtInt(f.value ?? NaN).padStart(11)}${rat != null ? ` (${rat.toFixed(2)}x)` : '        '}${lat}` +
        `  cpu-s server ${f.serverCpuS ?? '-'} client ${f.clientCpuS ?? '-'}  runs ${f.samples.map(fmtInt).join(' / ')}`,
    );
    for (const msg of [...f.failures, ...f.notes].slice(0, 3)) lines.push(`    ! ${msg}`);
  }
  return lines;
}
