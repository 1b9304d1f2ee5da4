/**
 * Cache bench: memcached 1.6.18 and Strata (1 and 2 cache threads) side by side in one run, under
 * memcaslap and a pipelined Node generator, plus memory per stored item. `npm run bench -- cache [--quick]`.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchOutput } from './lib/types.js';
import { startServer, type RunningServer, type ServerSpec } from './lib/servers.js';
import { scenarios, KEYSPACE, type Sample, type Scenario, type Timing } from './lib/scenarios.js';
import { aggregate, formatScenario, type ScenarioReport } from './lib/report.js';
import { measureMemory, type MemoryResult } from './lib/memory.js';
import { ratio, round, fmtInt, finiteOrNull } from './lib/stats.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const SPECS: ServerSpec[] = [
  { kind: 'memcached', threads: 2, id: 'memcached' },
  { kind: 'strata', threads: 1, id: 'strata_t1' },
  { kind: 'strata', threads: 2, id: 'strata_t2' },
];

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

function build(ctx: BenchContext): void {
  ctx.log('building Strata (tsc -p tsconfig.json)…');
  execFileSync(process.execPath, [`${REPO}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
}

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const full = !ctx.quick;
  const reps = full ? 3 : 1;
  const timing: Timing = full
    ? { memcaslapSeconds: 5, loadWarmupMs: 500, loadDurationMs: 4000 }
    : { memcaslapSeconds: 1, loadWarmupMs: 150, loadDurationMs: 600 };
  const memoryItems = full ? 1_000_000 : 100_000;
  if (!ctx.args.includes('--no-build')) build(ctx);
  const meta = {
    memcached: sh('memcached', ['-V']),
    memcaslap: sh('memcaslap', ['-V']).split('\n')[0],
    strataCommit: sh('git', ['rev-parse', '--short', 'HEAD']),
    strataTreeDirty: sh('git', ['status', '--porcelain', '--', 'src']).length > 0,
    command: `npm run bench -- cache${ctx.quick ? ' --quick' : ''}`,
    servers: {
      memcached: 'memcached -u root -l 127.0.0.1 -p PORT -U 0 -t 2 -m 1024',
      strata: 'node dist/cli/main.js server --cache-port PORT --admin-port 0 --cache-threads N --cache-memory 1g --log-level warn',
    },
    repetitions: reps,
    timing,
    keyspace: KEYSPACE,
  };

  const incidents: string[] = [];
  const running = new Map<string, RunningServer>();
  const died = (s: RunningServer) => `${s.spec.id} (pid ${s.pid}) exited with ${s.child.exitCode ?? s.child.signalCode}: ${s.output().slice(-800)}`;
  /** The running server of a spec; a dead one is reported, replaced, and the scenario's data stored again. */
  const ensure = async (spec: ServerSpec, sc?: Scenario): Promise<RunningServer> => {
    const cur = running.get(spec.id);
    if (cur?.alive()) return cur;
    if (cur) incidents.push(`found dead before ${sc?.id ?? 'start'}: ${died(cur)}`);
    const s = await startServer(spec);
    running.set(spec.id, s);
    if (cur && sc) await sc.prepare?.(s);
    return s;
  };

  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;
  const reports: ScenarioReport[] = [];
  try {
    for (const spec of SPECS) await ensure(spec);
    for (const sc of scenarios(timing)) {
      ctx.log(`${at()} ${sc.title}…`);
      const samples: Record<string, Sample[]> = Object.fromEntries(SPECS.map((s) => [s.id, []]));
      for (const spec of SPECS) await sc.prepare?.(await ensure(spec));
      for (let rep = 0; rep < reps; rep++) {
        const order = SPECS.map((_, i) => SPECS[(i + rep) % SPECS.length]);
        for (const spec of order) {
          const server = await ensure(spec, sc);
          const sample = await sc.run(server).catch((err: unknown): Sample => ({
            value: NaN, serverCpuS: NaN, clientCpuS: NaN, seconds: 0, failure: String((err as Error).message ?? err), detail: null,
          }));
          if (!server.alive()) {
            const msg = `during ${sc.id} run ${rep + 1}: ${died(server)}`;
            sample.failure = sample.failure ? `${sample.failure}; ${msg}` : msg;
            sample.value = NaN;
            incidents.push(msg);
            running.delete(spec.id);
            await sc.prepare?.(await ensure(spec));
          } else if (sample.failure) {
            incidents.push(`${spec.id} ${sc.id}: ${sample.failure}`);
          }
          samples[spec.id].push(sample);
        }
      }
      const report = aggregate(sc, samples);
      reports.push(report);
      for (const line of formatScenario(report)) ctx.print(line);
    }
  } finally {
    await Promise.all([...running.values()].map((s) => s.stop()));
  }

  ctx.log(`${at()} memory per item: ${memoryItems.toLocaleString('en-US')} items of 100 B into fresh servers…`);
  const memory: MemoryResult[] = [];
  for (const spec of SPECS) {
    const m = await measureMemory(spec, memoryItems, 100).catch((err: unknown) => ({ server: spec.id, failure: String((err as Error).message ?? err) }) as MemoryResult);
    memory.push(m);
    if (m.failure) incidents.push(`memory ${spec.id}: ${m.failure}`);
  }
  const memBase = memory.find((m) => m.server === 'memcached')?.bytesPerItem ?? NaN;
  ctx.print(`Memory per item (${fmtInt(memoryItems)} keys of 10 B, 100 B values; VmRSS after - before, / items)`);
  for (const m of memory) {
    ctx.print(`  ${m.server.padEnd(10)} ${round(m.bytesPerItem ?? NaN, 1)} B/item${m.server !== 'memcached' ? ` (${ratio(m.bytesPerItem, memBase).toFixed(2)}x)` : ''}` +
      `  rss ${fmtInt((m.rssBeforeBytes ?? NaN) / 1024)} -> ${fmtInt((m.rssAfterBytes ?? NaN) / 1024)} KiB  curr_items ${fmtInt(m.currItems ?? NaN)}${m.failure ? `  ! ${m.failure}` : ''}`);
  }
  for (const msg of incidents) ctx.print(`! ${msg}`);

  const summary = {
    unit: 'median ops/s (keys/s for mget); ratio = strata / memcached',
    scenarios: Object.fromEntries(reports.map((r) => [r.id, {
      memcached: r.servers.memcached.value, strata_t1: r.servers.strata_t1.value, strata_t2: r.servers.strata_t2.value,
      ratio_t1: r.ratios.strata_t1, ratio_t2: r.ratios.strata_t2,
      ...(r.tool === 'loadgen' ? { p99us: { memcached: r.servers.memcached.p99us, strata_t1: r.servers.strata_t1.p99us, strata_t2: r.servers.strata_t2.p99us } } : {}),
    }])),
    memory: Object.fromEntries(memory.map((m) => [m.server, {
      bytesPerItem: finiteOrNull(round(m.bytesPerItem ?? NaN, 1)), currItems: m.currItems ?? null,
      ratio: m.server === 'memcached' ? 1 : finiteOrNull(ratio(m.bytesPerItem, memBase)),
    }])),
    incidents: incidents.length,
  };
  return { meta, results: { scenarios: reports, memory, incidents }, summary };
}
