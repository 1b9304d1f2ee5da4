/**
 * Router bench: `strata router` in front of 2 memcached nodes vs a client that talks to the nodes
 * directly (sharding with the same ketama ring itself), and vs twemproxy (nutcracker, md5 +
 * ketama) in front of the same nodes, in one run, same generator, same key sequence.
 * `npm run bench -- router [--quick] [--no-build] [--only=ID,…] [--cpu-prof]`.
 *
 * Goal under test: the router adds ≤ 15 % to p99 latency and reaches ≥ 80 % of the direct
 * throughput, for get and multiget.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchOutput } from './lib/types.js';
import { startServer, type RunningServer } from './lib/servers.js';
import { startProxy, type ProxyKind, type RunningProxy } from './lib/router-servers.js';
import { runShardedLoad, type ShardedLoadResult } from './lib/router-loadgen.js';
import { preload } from './lib/preload.js';
import { request, stats } from './lib/memc.js';
import { writeKey, KEY_LEN } from './lib/keys.js';
import { median, ratio, round, fmtInt, finiteOrNull } from './lib/stats.js';
import { topSelfTime, type SelfTime } from './lib/router-profile.js';
import { KetamaRing, ketamaServerName } from '../src/router/ketama.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const KEYSPACE = 10_000;
const VALUE_SIZE = 32;
const NODES = 2;
const TARGETS = ['direct', 'router', 'twemproxy'] as const;
type Target = (typeof TARGETS)[number];
/** Goal: router p99 at most this much above direct (%), throughput at least this fraction of direct. */
const GOAL_P99_INCREASE_PCT = 15;
const GOAL_THROUGHPUT_RATIO = 0.8;
/** CPUs' worth of time other processes may take during a run before it is repeated, and how often. */
const BUSY_LIMIT = 0.1;
const BUSY_RETRIES_FULL = 5;

interface RouterScenario {
  id: string;
  title: string;
  connections: number;
  window: number;
  keysPerGet: number;
  unit: 'ops/s' | 'keys/s';
  /** Paced load (requests/s in all): a latency-at-equal-load case; throughput is fixed, so only p99 is judged. */
  ratePerSec?: number;
}

const SCENARIOS: RouterScenario[] = [
  { id: 'get_50x1', title: 'get 32 B, 50 conns x 1 in flight', connections: 50, window: 1, keysPerGet: 1, unit: 'ops/s' },
  { id: 'get_50x8', title: 'get 32 B pipelined, 50 conns x 8 in flight', connections: 50, window: 8, keysPerGet: 1, unit: 'ops/s' },
  { id: 'mget10_50x1', title: '10-key multiget 32 B, 50 conns x 1 in flight', connections: 50, window: 1, keysPerGet: 10, unit: 'keys/s' },
  { id: 'get_paced5k', title: 'get 32 B paced at 5,000/s in all, 50 conns x 1 in flight', connections: 50, window: 1, keysPerGet: 1, unit: 'ops/s', ratePerSec: 5000 },
];

interface Timing {
  warmupMs: number;
  durationMs: number;
}

interface RunSample {
  /** ops/s, or keys/s for multigets; NaN when the run failed. */
  value: number;
  p50us: number;
  p99us: number;
  p999us: number;
  clientCpuS: number;
  nodesCpuS: number;
  proxyCpuS: number;
  otherCpuS: number;
  irqCpuS: number;
  failure?: string;
  notes?: string;
  /** Runs thrown away before this one because other processes were using the CPU. */
  busyRetries?: number;
  detail: ShardedLoadResult | null;
}

interface TargetFigures {
  value: number | null;
  p50us: number | null;
  p99us: number | null;
  p999us: number | null;
  clientCpuS: number | null;
  nodesCpuS: number | null;
  proxyCpuS: number | null;
  otherCpuS: number | null;
  irqCpuS: number | null;
  runs: number;
  samples: Array<number | null>;
  p99Samples: Array<number | null>;
  failures: string[];
  notes: string[];
  /** Runs repeated because the machine was busy with other processes. */
  busyRetries: number;
  details: Array<ShardedLoadResult | null>;
}

interface ScenarioResult {
  id: string;
  title: string;
  unit: string;
  connections: number;
  window: number;
  keysPerGet: number;
  ratePerSec: number | null;
  targets: Record<Target, TargetFigures>;
  ratios: {
    router_vs_direct: number | null;
    router_p99_increase_pct: number | null;
    router_vs_twemproxy: number | null;
    router_p99_vs_twemproxy: number | null;
    twemproxy_vs_direct: number | null;
    twemproxy_p99_increase_pct: number | null;
  };
  /**
   * The same ratios per round (each round runs the three targets back to back), then the median:
   * a check on the ratios of medians when the machine's speed drifts between rounds.
   */
  paired: { router_vs_direct: number | null; router_p99_increase_pct: number | null; router_vs_twemproxy: number | null };
  goals: { throughput: boolean | null; p99: boolean | null };
}

/** A command's output (stdout, or stderr when stdout is empty: nutcracker -V prints there). */
function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error || r.status !== 0) return `unavailable (${r.error?.message ?? `exit ${r.status}: ${r.stderr.trim().split('\n')[0]}`})`;
  return (r.stdout.trim() || r.stderr.trim());
}

function build(ctx: BenchContext): void {
  ctx.log('building Strata (tsc -p tsconfig.json)…');
  execFileSync(process.execPath, [`${REPO}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.json'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
}

const keyBuffer = (i: number): Buffer => {
  const b = Buffer.alloc(KEY_LEN);
  writeKey(b, 0, i);
  return b;
};

/** The two cache nodes, their keys (placed by ketama, as the proxies place them), and the proxies. */
class Topology {
  nodes: RunningServer[] = [];
  shardOf = new Uint8Array(KEYSPACE);
  proxies = new Map<ProxyKind, RunningProxy>();
  ring: KetamaRing | null = null;

  constructor(
    private readonly dir: string,
    private readonly routerNodeFlags: string[],
  ) {}

  get servers(): string[] {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`);
  }

  async startNodes(): Promise<void> {
    for (let i = 0; i < NODES; i++) this.nodes.push(await startServer({ kind: 'memcached', threads: 1, memoryMb: 256, id: `node${i}` }));
    this.ring = new KetamaRing(this.nodes.map((n) => ({ name: ketamaServerName('127.0.0.1', n.port) })));
    for (let k = 0; k < KEYSPACE; k++) this.shardOf[k] = this.ring.serverFor(keyBuffer(k));
    for (let s = 0; s < NODES; s++) {
      const keys: number[] = [];
      for (let k = 0; k < KEYSPACE; k++) if (this.shardOf[k] === s) keys.push(k);
      const p = await preload({ port: this.nodes[s].port, count: keys.length, keys, valueSize: VALUE_SIZE });
      const items = Number((await stats(this.nodes[s].port)).curr_items);
      if (p.stored !== keys.length || items !== keys.length) {
        throw new Error(`preload of node${s}: ${p.stored}/${keys.length} stored, curr_items ${items}; ${p.errorLines.join(' | ')}`);
      }
    }
  }

  async startProxy(kind: ProxyKind): Promise<RunningProxy> {
    const p = await startProxy(kind, { servers: this.servers, dir: this.dir, nodeFlags: kind === 'router' ? this.routerNodeFlags : [] });
    this.proxies.set(kind, p);
    await this.check(kind, p.port);
    return p;
  }

  /** Ask the first 100 keys in one multiget through a proxy: every one must come back, with its own value. */
  async check(kind: ProxyKind, port: number): Promise<void> {
    const keys = Array.from({ length: 100 }, (_, i) => keyBuffer(i).toString('latin1'));
    const reply = await request(port, `get ${keys.join(' ')}\r\n`, (r) => r.endsWith('END\r\n') || /ERROR[^\n]*\r\n$/.test(r));
    const got = [...reply.matchAll(/VALUE (\S+) 0 (\d+)\r\n(\S+)\r\n/g)];
    const ok = got.length === keys.length && got.every((m, i) => m[1] === keys[i] && Number(m[2]) === VALUE_SIZE && m[3].startsWith(m[1]));
    if (!ok) throw new Error(`${kind}: a 100-key multiget came back wrong (${got.length} values): ${reply.slice(0, 300)}`);
  }

  async stopProxies(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
    this.proxies.clear();
  }

  async stopAll(): Promise<void> {
    await this.stopProxies();
    await Promise.all(this.nodes.map((n) => n.stop()));
    this.nodes = [];
  }
}

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const full = !ctx.quick;
  const reps = full ? 3 : 1;
  const timing: Timing = full ? { warmupMs: 500, durationMs: 4000 } : { warmupMs: 150, durationMs: 800 };
  const only = ctx.args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
  const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;
  const cpuProf = ctx.args.includes('--cpu-prof');
  const BUSY_RETRIES = full ? BUSY_RETRIES_FULL : 1;
  if (!ctx.args.includes('--no-build')) build(ctx);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-router-bench-'));
  const profDir = path.join(dir, 'prof');
  const topo = new Topology(dir, cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []);
  const incidents: string[] = [];
  const results: ScenarioResult[] = [];
  let commands: Record<string, string> = {};
  let profile: { file: string; busyMs: number; idleMs: number; top: SelfTime[] } | null = null;
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;

  const describeDeath = (what: string, pid: number, child: { exitCode: number | null; signalCode: string | null }, out: string) =>
    `${what} (pid ${pid}) exited with ${child.exitCode ?? child.signalCode}: ${out.slice(-800)}`;

  /** Everything up: a dead node means new nodes (new ports, stored again) and new proxies; a dead proxy is restarted. */
  const ensure = async (when: string): Promise<void> => {
    const deadNode = topo.nodes.find((n) => !n.alive());
    if (deadNode) {
      incidents.push(`found dead ${when}: ${describeDeath(deadNode.spec.id, deadNode.pid, deadNode.child, deadNode.output())}`);
      await topo.stopAll();
    }
    if (topo.nodes.length === 0) await topo.startNodes();
    for (const kind of ['router', 'twemproxy'] as const) {
      const p = topo.proxies.get(kind);
      if (p?.alive()) continue;
      if (p) incidents.push(`found dead ${when}: ${describeDeath(kind, p.pid, p.child, p.output())}`);
      await topo.startProxy(kind);
    }
  };

  const runOne = async (sc: RouterScenario, target: Target, t: Timing): Promise<RunSample> => {
    const proxy = target === 'direct' ? null : topo.proxies.get(target)!;
    const nodePids = topo.nodes.map((n) => n.pid);
    let r: ShardedLoadResult;
    try {
      r = await runShardedLoad({
        ports: proxy ? [proxy.port] : topo.nodes.map((n) => n.port),
        shardOf: proxy ? null : topo.shardOf,
        pids: { nodes: nodePids, proxy: proxy ? [proxy.pid] : [] },
        connections: sc.connections, window: sc.window, valueSize: VALUE_SIZE, keyspace: KEYSPACE, keysPerGet: sc.keysPerGet,
        ratePerSec: sc.ratePerSec, warmupMs: t.warmupMs, durationMs: t.durationMs,
      });
    } catch (err) {
      return { value: NaN, p50us: NaN, p99us: NaN, p999us: NaN, clientCpuS: NaN, nodesCpuS: NaN, proxyCpuS: NaN, otherCpuS: NaN, irqCpuS: NaN, failure: String((err as Error).message ?? err), detail: null };
    }
    const problems = [r.errors ? `${r.errors} error replies (${r.errorLines.join(' | ')})` : '',
      r.badValues ? `${r.badValues} wrong values` : '', r.wrongKeys ? `${r.wrongKeys} replies with other keys than asked` : '',
      r.hitRatio < 0.999 ? `hit ratio ${r.hitRatio.toFixed(4)} on a preloaded keyspace` : ''].filter(Boolean);
    let failure = r.failure;
    const dead = [...topo.nodes.filter((n) => !n.alive()).map((n) => describeDeath(n.spec.id, n.pid, n.child, n.output())),
      ...(proxy && !proxy.alive() ? [describeDeath(target, proxy.pid, proxy.child, proxy.output())] : [])];
    if (dead.length) failure = [failure, ...dead.map((d) => `died during the run: ${d}`)].filter(Boolean).join('; ');
    return {
      value: failure ? NaN : sc.keysPerGet > 1 ? r.keysPerSec : r.requestsPerSec,
      p50us: r.p50us, p99us: r.p99us, p999us: r.p999us,
      clientCpuS: r.clientCpuS, nodesCpuS: r.cpuS.nodes, proxyCpuS: r.cpuS.proxy, otherCpuS: r.otherCpuS, irqCpuS: r.irqCpuS,
      failure, notes: problems.length ? problems.join('; ') : undefined, detail: r,
    };
  };

  try {
    ctx.log(`${at()} starting 2 memcached nodes, storing ${fmtInt(KEYSPACE)} keys placed by ketama, starting strata router and nutcracker…`);
    await ensure('at start');
    commands = {
      node: `memcached -u root -l 127.0.0.1 -p PORT -U 0 -t 1 -m 256 (x${NODES})`,
      router: topo.proxies.get('router')!.command.replace(REPO, '').replaceAll(dir, '$TMP').replace(/(--port) \d+/, '$1 PORT'),
      twemproxy: topo.proxies.get('twemproxy')!.command.replaceAll(dir, '$TMP').replace(/(-s) \d+/, '$1 STATS_PORT'),
      twemproxyConfig: readFileSync(path.join(dir, 'nutcracker.yml'), 'utf8').replace(/\d{4,5}/g, 'PORT'),
    };
    // JIT and connection warm-up of every target, not measured.
    for (const target of TARGETS) await runOne(scenarios[0], target, { warmupMs: 0, durationMs: full ? 1000 : 200 });

    for (const sc of scenarios) {
      ctx.log(`${at()} ${sc.title}…`);
      const samples: Record<Target, RunSample[]> = { direct: [], router: [], twemproxy: [] };
      for (let rep = 0; rep < reps; rep++) {
        const order = TARGETS.map((_, i) => TARGETS[(i + rep) % TARGETS.length]);
        for (const target of order) {
          let s: RunSample;
          let busyRetries = 0;
          // A run during which other processes of the machine took CPU (other benches, builds…) is
          // repeated, up to BUSY_RETRIES times: on 2 vCPUs they would distort it.
          for (;;) {
            await ensure(`before ${sc.id} ${target} run ${rep + 1}`);
            s = await runOne(sc, target, timing);
            const busy = s.otherCpuS / (timing.durationMs / 1000);
            if (s.failure || !(busy > BUSY_LIMIT)) break;
            if (busyRetries === BUSY_RETRIES) {
              s.notes = [s.notes, `machine busy: other processes used ${round(busy, 2)} CPU during the run (${BUSY_RETRIES} retries)`].filter(Boolean).join('; ');
              break;
            }
            busyRetries++;
            ctx.log(`${at()}   ${target} run ${rep + 1}: other processes used ${round(busy, 2)} CPU; again in 2 s`);
            await new Promise((r) => setTimeout(r, 2000));
          }
          s.busyRetries = busyRetries;
          if (s.failure) incidents.push(`${target} ${sc.id} run ${rep + 1}: ${s.failure}`);
          if (s.notes) incidents.push(`${target} ${sc.id} run ${rep + 1}: ${s.notes}`);
          samples[target].push(s);
        }
      }
      const res = aggregate(sc, samples);
      results.push(res);
      for (const line of formatScenario(res)) ctx.print(line);
    }
  } finally {
    await topo.stopAll();
    if (cpuProf) {
      try {
        const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
        if (files.length) {
          const file = path.join(profDir, files[0]);
          const top = topSelfTime(file, 15, REPO);
          const kept = path.join(os.tmpdir(), `strata-router-${Date.now()}.cpuprofile`);
          execFileSync('cp', [file, kept]);
          profile = { file: kept, busyMs: top.totalMs, idleMs: top.idleMs, top: top.rows };
        }
      } catch (err) {
        incidents.push(`cpu profile: ${(err as Error).message}`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }

  if (profile) {
    ctx.print(`Router CPU profile (${profile.file}): ${fmtInt(profile.busyMs)} ms busy, ${fmtInt(profile.idleMs)} ms idle; top self time, % of busy:`);
    for (const r of profile.top) ctx.print(`  ${String(r.pct).padStart(5)} %  ${String(r.selfMs).padStart(8)} ms  ${r.fn}  ${r.where}`);
  }
  for (const msg of incidents) ctx.print(`! ${msg}`);

  const meta = {
    memcached: sh('memcached', ['-V']),
    nutcracker: sh('nutcracker', ['-V']).split('\n')[0].replace(/^This is /, ''),
    strataCommit: sh('git', ['rev-parse', '--short', 'HEAD']),
    strataTreeDirty: sh('git', ['status', '--porcelain', '--', 'src']).length > 0,
    command: `npm run bench -- router${ctx.quick ? ' --quick' : ''}${cpuProf ? ' --cpu-prof' : ''}`,
    cpuProfiled: cpuProf,
    commands,
    repetitions: reps,
    timing,
    keyspace: KEYSPACE,
    valueSize: VALUE_SIZE,
    goals: { routerP99IncreasePctAtMost: GOAL_P99_INCREASE_PCT, routerThroughputVsDirectAtLeast: GOAL_THROUGHPUT_RATIO },
    loadavgAtEnd: os.loadavg().map((x) => round(x, 2)),
  };
  const summary = {
    unit: 'median ops/s (keys/s for mget), p99 in µs; router_vs_direct = router / direct throughput; p99_incr_pct = router p99 over direct p99',
    scenarios: Object.fromEntries(results.map((r) => [r.id, {
      direct: r.targets.direct.value, router: r.targets.router.value, twemproxy: r.targets.twemproxy.value,
      p99us: { direct: r.targets.direct.p99us, router: r.targets.router.p99us, twemproxy: r.targets.twemproxy.p99us },
      router_vs_direct: r.ratios.router_vs_direct, router_p99_incr_pct: r.ratios.router_p99_increase_pct,
      router_vs_twemproxy: r.ratios.router_vs_twemproxy, twemproxy_vs_direct: r.ratios.twemproxy_vs_direct,
      paired: r.paired, goals: r.goals,
    }])),
    goalsMet: results.length > 0 && results.every((r) => r.goals.throughput !== false && r.goals.p99 !== false && (r.goals.throughput ?? r.goals.p99) !== null),
    incidents: incidents.length,
  };
  return { meta, results: { scenarios: results, incidents, profile }, summary };
}

function aggregate(sc: RouterScenario, samples: Record<Target, RunSample[]>): ScenarioResult {
  const targets = {} as Record<Target, TargetFigures>;
  for (const t of TARGETS) {
    const list = samples[t];
    const ok = list.filter((x) => Number.isFinite(x.value));
    const med = (f: (x: RunSample) => number, digits = 2) => finiteOrNull(round(median(ok.map(f)), digits));
    targets[t] = {
      value: med((x) => x.value, 0),
      p50us: med((x) => x.p50us, 0),
      p99us: med((x) => x.p99us, 0),
      p999us: med((x) => x.p999us, 0),
      clientCpuS: med((x) => x.clientCpuS),
      nodesCpuS: med((x) => x.nodesCpuS),
      proxyCpuS: t === 'direct' ? null : med((x) => x.proxyCpuS),
      otherCpuS: med((x) => x.otherCpuS),
      irqCpuS: med((x) => x.irqCpuS),
      runs: list.length,
      samples: list.map((x) => finiteOrNull(round(x.value))),
      p99Samples: list.map((x) => finiteOrNull(x.p99us)),
      failures: list.flatMap((x) => (x.failure ? [x.failure] : [])),
      notes: list.flatMap((x) => (x.notes ? [x.notes] : [])),
      busyRetries: list.reduce((a, x) => a + (x.busyRetries ?? 0), 0),
      details: list.map((x) => x.detail),
    };
  }
  const v = (t: Target) => targets[t].value ?? NaN;
  const p99 = (t: Target) => targets[t].p99us ?? NaN;
  const pct = (a: number, b: number) => finiteOrNull(round((ratio(a, b) - 1) * 100, 1));
  const ratios = {
    router_vs_direct: finiteOrNull(ratio(v('router'), v('direct'))),
    router_p99_increase_pct: pct(p99('router'), p99('direct')),
    router_vs_twemproxy: finiteOrNull(ratio(v('router'), v('twemproxy'))),
    router_p99_vs_twemproxy: finiteOrNull(ratio(p99('router'), p99('twemproxy'))),
    twemproxy_vs_direct: finiteOrNull(ratio(v('twemproxy'), v('direct'))),
    twemproxy_p99_increase_pct: pct(p99('twemproxy'), p99('direct')),
  };
  const perRound = (f: (i: number) => number) => finiteOrNull(round(median(samples.direct.map((_, i) => f(i))), 3));
  const sv = (t: Target, i: number) => samples[t][i]?.value ?? NaN;
  const sp = (t: Target, i: number) => (Number.isFinite(sv(t, i)) ? samples[t][i].p99us : NaN);
  const paired = {
    router_vs_direct: perRound((i) => ratio(sv('router', i), sv('direct', i))),
    router_p99_increase_pct: finiteOrNull(round(median(samples.direct.map((_, i) => (ratio(sp('router', i), sp('direct', i)) - 1) * 100)), 1)),
    router_vs_twemproxy: perRound((i) => ratio(sv('router', i), sv('twemproxy', i))),
  };
  const goals = {
    throughput: ratios.router_vs_direct === null || sc.ratePerSec ? null : ratios.router_vs_direct >= GOAL_THROUGHPUT_RATIO,
    p99: ratios.router_p99_increase_pct === null ? null : ratios.router_p99_increase_pct <= GOAL_P99_INCREASE_PCT,
  };
  return { id: sc.id, title: sc.title, unit: sc.unit, connections: sc.connections, window: sc.window, keysPerGet: sc.keysPerGet, ratePerSec: sc.ratePerSec ?? null, targets, ratios, paired, goals };
}

function formatScenario(r: ScenarioResult): string[] {
  const lines = [`${r.title}  [${r.unit}, median of ${Math.max(...TARGETS.map((t) => r.targets[t].runs))}]`];
  for (const t of TARGETS) {
    const f = r.targets[t];
    lines.push(`  ${t.padEnd(10)} ${fmtInt(f.value ?? NaN).padStart(11)}  p50 ${fmtInt(f.p50us ?? NaN)} us  p99 ${fmtInt(f.p99us ?? NaN)} us` +
      `  cpu-s client ${f.clientCpuS ?? '-'} nodes ${f.nodesCpuS ?? '-'} proxy ${f.proxyCpuS ?? '-'} irq ${f.irqCpuS ?? '-'} other ${f.otherCpuS ?? '-'}` +
      `  runs ${f.samples.map((x) => fmtInt(x ?? NaN)).join(' / ')}`);
    for (const msg of [...f.failures, ...f.notes].slice(0, 3)) lines.push(`    ! ${msg}`);
  }
  const q = r.ratios;
  const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : 'NOT met');
  lines.push(`  router/direct ${q.router_vs_direct ?? '-'}x (goal >= ${GOAL_THROUGHPUT_RATIO}: ${yes(r.goals.throughput)}), ` +
    `router p99 ${q.router_p99_increase_pct ?? '-'} % over direct (goal <= ${GOAL_P99_INCREASE_PCT} %: ${yes(r.goals.p99)}), ` +
    `router/twemproxy ${q.router_vs_twemproxy ?? '-'}x, twemproxy/direct ${q.twemproxy_vs_direct ?? '-'}x, twemproxy p99 ${q.twemproxy_p99_increase_pct ?? '-'} % over direct`);
  lines.push(`  per round, median: router/direct ${r.paired.router_vs_direct ?? '-'}x, router p99 ${r.paired.router_p99_increase_pct ?? '-'} % over direct, router/twemproxy ${r.paired.router_vs_twemproxy ?? '-'}x`);
  return lines;
}
