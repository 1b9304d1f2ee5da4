/**
 * Log bench: Strata's durable log vs NATS JetStream (file storage) vs Redis streams (XADD, AOF
 * everysec), side by side in one run, each driven from this process by its best Node client with
 * batching (bench/lib/log-targets.ts). `npm run bench -- log [--quick] [--only=strata,nats,redis]
 * [--sizes=100,1024] [--nats-window=N] [--redis-chunk=N] [--redis-window=N] [--strata-window=N] [--busy-retries=N]`.
 *
 * Per message size (100 B, 1 KB) and target, each round: peak durable publish throughput (closed
 * loop), read-back of everything stored (consume throughput), then publish-to-ack and
 * publish-to-consume latency at half of the peak just measured, with a consumer reading
 * concurrently (bench/lib/log-phases.ts).
 *
 * Goals: Strata durable publish ≥ 1.0× Redis XADD pipelined and ≥ 3× NATS JetStream through its Node
 * client; Strata p99 publish-to-ack ≤ 5 ms at half load.
 */
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import type { BenchContext, BenchOutput } from './lib/types.js';
import { startPeer, versionOf, NATS_SERVER, REDIS_SERVER, REPO, type RunningPeer, type PeerKind } from './lib/log-peers.js';
import { openTarget, isRedisTarget, type LogTarget, type TargetId, type TargetOptions } from './lib/log-targets.js';
import { runPeakPublish, runConsumeAll, runPaced, type Timing, type PublishResult, type ConsumeResult, type PacedResult } from './lib/log-phases.js';
import { median, ratio, round, fmtInt, finiteOrNull } from './lib/stats.js';

const ALL_TARGETS: TargetId[] = ['strata', 'nats', 'redis'];
const SIZES_DEFAULT = [100, 1024];
export const GOALS = { publishVsRedisAtLeast: 1.0, publishVsNatsAtLeast: 3.0, p99AckAtHalfLoadMsAtMost: 5 };
/** Other processes' CPU (CPUs' worth) above which a run is flagged: on 2 vCPUs it distorts the figures. */
const BUSY_LIMIT = 0.15;

interface RoundSample {
  round: number;
  publish: PublishResult | null;
  consume: ConsumeResult | null;
  paced: PacedResult | null;
  /** Redis: AOF rewrites that ran during the round (each forks and rewrites the whole dataset). */
  aofRewrites?: number;
  failure?: string;
  /** Rounds thrown away before this one because other processes used the CPU. */
  busyRetries?: number;
  /** The most CPU (CPUs' worth) other processes used in one phase of the round. */
  otherCpu?: number;
  /** What went wrong or was odd in this round (listed in the output only for the attempt kept). */
  incidents: string[];
}

export interface TargetSizeFigures {
  publishMsgsPerSec: number | null;
  publishMBPerSec: number | null;
  publishAckP50us: number | null;
  publishAckP99us: number | null;
  consumeMsgsPerSec: number | null;
  consumeMBPerSec: number | null;
  halfLoadRate: number | null;
  halfLoadAchievedRate: number | null;
  /** Values the half-load pacer dropped because the system fell behind (median over rounds). */
  halfLoadSkipped: number | null;
  ackP50us: number | null;
  ackP99us: number | null;
  ackP999us: number | null;
  e2eP50us: number | null;
  e2eP99us: number | null;
  e2eP999us: number | null;
  pacerLagP99us: number | null;
  publishSamples: Array<number | null>;
  consumeSamples: Array<number | null>;
  ackP99Samples: Array<number | null>;
  e2eP99Samples: Array<number | null>;
  cpu: { publish: Record<string, number | null>; consume: Record<string, number | null>; paced: Record<string, number | null> };
  /** Rounds run again because the machine was busy with other processes. */
  busyRetries: number;
  rounds: RoundSample[];
}

export interface SizeResult {
  size: number;
  targets: Partial<Record<TargetId, TargetSizeFigures>>;
  ratios: {
    publish_strata_vs_redis: number | null;
    publish_strata_vs_nats: number | null;
    publish_redis_vs_nats: number | null;
    consume_strata_vs_redis: number | null;
    consume_strata_vs_nats: number | null;
    ackP99_strata_vs_redis: number | null;
    ackP99_strata_vs_nats: number | null;
    e2eP99_strata_vs_redis: number | null;
    e2eP99_strata_vs_nats: number | null;
  };
  /** The same publish ratios per round (targets run back to back), then the median. */
  paired: { publish_strata_vs_redis: number | null; publish_strata_vs_nats: number | null; publish_redis_vs_nats: number | null };
  goals: { vsRedis: boolean | null; vsNats: boolean | null; p99Ack: boolean | null };
}

function arg(ctx: BenchContext, name: string): string | undefined {
  return ctx.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

const numArg = (ctx: BenchContext, name: string) => {
  const v = arg(ctx, name);
  return v === undefined ? undefined : Number(v);
};

export async function run(ctx: BenchContext): Promise<BenchOutput> {
  const full = !ctx.quick;
  const reps = full ? 3 : 1;
  const peakTiming: Timing = full ? { warmupMs: 500, durationMs: 3000 } : { warmupMs: 200, durationMs: 1000 };
  const pacedTiming: Timing = full ? { warmupMs: 500, durationMs: 3000 } : { warmupMs: 200, durationMs: 1000 };
  const busyRetriesMax = numArg(ctx, 'busy-retries') ?? (full ? 1 : 0);
  const sizes = arg(ctx, 'sizes')?.split(',').map(Number) ?? SIZES_DEFAULT;
  const only = arg(ctx, 'only')?.split(',') as TargetId[] | undefined;
  const options: Record<TargetId, TargetOptions> = {
    strata: { window: numArg(ctx, 'strata-window') },
    nats: { window: numArg(ctx, 'nats-window') },
    redis: { chunk: numArg(ctx, 'redis-chunk'), window: numArg(ctx, 'redis-window') },
  };
  const incidents: string[] = [];
  const skipped: Record<string, string> = {};
  const t0 = Date.now();
  const at = () => `[${((Date.now() - t0) / 1000).toFixed(1)} s]`;

  const wanted = only ?? ALL_TARGETS;
  const sh = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { cwd: REPO, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '?';
  };
  // The Strata that runs is the tree at start (HEAD may move during the run).
  const strataCommit = sh('git', ['rev-parse', '--short', 'HEAD']);
  const strataTreeDirty = sh('git', ['status', '--porcelain', '--', 'src']).length > 0;
  const versions = {
    natsServer: versionOf(NATS_SERVER, ['--version']),
    redisServer: versionOf(REDIS_SERVER, ['--version']),
  };
  const shortVersion: Record<PeerKind, string> = {
    nats: versions.natsServer.replace(/^nats-server: /, 'nats-server '),
    redis: `redis-server ${/v=(\S+)/.exec(versions.redisServer)?.[1] ?? '?'}`,
    strata: '',
  };

  const peers = new Map<TargetId, RunningPeer>();
  const targets = new Map<TargetId, LogTarget>();
  const samples = new Map<string, RoundSample[]>(); // `${size}/${target}`
  const results: SizeResult[] = [];
  let topicSeq = 0;

  const describeDeath = (p: RunningPeer) => `${p.kind} (pid ${p.pid}) exited with ${p.child.exitCode ?? p.child.signalCode}: ${p.output().slice(-600)}`;

  /** One round of one target at one size: peak publish, read-back, paced at half the peak. */
  const runRound = async (target: LogTarget, size: number, rnd: number): Promise<RoundSample> => {
    const s: RoundSample = { round: rnd, publish: null, consume: null, paced: null, incidents: [] };
    const aof0 = isRedisTarget(target) ? Number((await target.persistence()).aof_rewrites ?? NaN) : NaN;
    const peakTopic = `b${++topicSeq}-${size}-peak`;
    const where = `${target.id} ${size} B round ${rnd}`;
    const failed = (phase: string, msg: string) => {
      s.failure = [s.failure, `${phase}: ${msg}`].filter(Boolean).join('; ');
      s.incidents.push(`${where} ${phase}: ${msg}`);
    };
    try {
      await target.createTopic(peakTopic);
      s.publish = await runPeakPublish(target, peakTopic, size, peakTiming);
      if (s.publish.failure) failed('publish', s.publish.failure);
      else {
        s.consume = await runConsumeAll(target, peakTopic, size, s.publish.published);
        if (s.consume.failure) failed('read-back', s.consume.failure);
        if (s.consume.problems.length) s.incidents.push(`${where} read-back: ${s.consume.problems.join('; ')}`);
      }
      await target.dropTopic(peakTopic).catch(() => undefined);
      if (!s.publish.failure) {
        // Half of the peak this system just reached.
        const pacedTopic = `b${++topicSeq}-${size}-paced`;
        await target.createTopic(pacedTopic);
        s.paced = await runPaced(target, pacedTopic, size, Math.max(1, Math.round(s.publish.msgsPerSec / 2)), pacedTiming);
        await target.dropTopic(pacedTopic).catch(() => undefined);
        if (s.paced.failure) failed('half load', s.paced.failure);
        if (s.paced.problems.length) s.incidents.push(`${where} half-load consumer: ${s.paced.problems.join('; ')}`);
        if (s.paced.skipped) {
          s.incidents.push(`${where}: fell behind at half load (${fmtInt(s.paced.targetRate)}/s asked, ${fmtInt(s.paced.achievedRate)}/s acknowledged; ` +
            `${fmtInt(s.paced.skipped)} values not sent because over ${fmtInt(Math.max(target.window * 10, s.paced.targetRate))} were outstanding)`);
        }
      }
    } catch (err) {
      failed('error', String((err as Error)?.message ?? err));
    }
    if (isRedisTarget(target)) {
      s.aofRewrites = Number((await target.persistence().catch(() => ({}) as Record<string, string>)).aof_rewrites ?? NaN) - aof0;
      if (s.aofRewrites > 0) s.incidents.push(`redis ${size} B round ${rnd}: ${s.aofRewrites} AOF rewrite(s) ran during the round (a fork rewriting the dataset; default auto-aof-rewrite)`);
    }
    let busiest = 0;
    for (const [phase, cpu] of [['publish', s.publish?.cpu], ['consume', s.consume?.cpu], ['paced', s.paced?.cpu]] as const) {
      const secs = phase === 'consume' ? s.consume?.seconds ?? NaN : (phase === 'publish' ? peakTiming : pacedTiming).durationMs / 1000;
      if (cpu && secs > 0.2) busiest = Math.max(busiest, cpu.otherCpuS / secs);
    }
    s.otherCpu = round(busiest, 2);
    const peer = peers.get(target.id)!;
    if (!peer.alive()) throw new Error(`died during ${target.id} ${size} B round ${rnd}: ${describeDeath(peer)}`);
    return s;
  };

  try {
    for (const id of wanted) {
      ctx.log(`${at()} starting ${id}…`);
      // A system that cannot start (not installed, broken build) is left out and said so; the others still run.
      try {
        const peer = await startPeer(id);
        peers.set(id, peer);
        targets.set(id, await openTarget(peer, shortVersion[id], options[id]));
      } catch (err) {
        skipped[id] = String((err as Error)?.message ?? err).slice(0, 500);
        incidents.push(`${id} not run: ${skipped[id]}`);
        ctx.log(`${at()} ${id}: not run (${skipped[id]})`);
      }
    }
    const order = [...targets.keys()];
    // JIT and connection warm-up of every target, not measured.
    for (const id of order) {
      const t = targets.get(id)!;
      const topic = `warm${++topicSeq}`;
      await t.createTopic(topic);
      const w = await runPeakPublish(t, topic, 1024, { warmupMs: 0, durationMs: full ? 1000 : 300 });
      await t.dropTopic(topic).catch(() => undefined);
      if (w.failure) throw new Error(`${id} warm-up: ${w.failure}`);
      ctx.log(`${at()} ${id} warm-up: ${fmtInt(w.msgsPerSec)} msg/s at 1 KB`);
    }
    for (let rnd = 1; rnd <= reps; rnd++) {
      for (const size of sizes) {
        const rot = order.map((_, i) => order[(i + rnd - 1) % order.length]);
        for (const id of rot) {
          ctx.log(`${at()} round ${rnd}/${reps}, ${size} B, ${id}…`);
          let s: RoundSample;
          let busyRetries = 0;
          // A round during which other processes took CPU (other sessions' builds and tests) is run
          // again, up to busyRetriesMax times: on 2 vCPUs they would distort it.
          for (;;) {
            s = await runRound(targets.get(id)!, size, rnd);
            if (!((s.otherCpu ?? 0) > BUSY_LIMIT)) break;
            if (busyRetries >= busyRetriesMax) {
              incidents.push(`${id} ${size} B round ${rnd}: machine busy, other processes used ${s.otherCpu} CPU (kept after ${busyRetries} retries)`);
              break;
            }
            busyRetries++;
            ctx.log(`${at()}   ${id} ${size} B: other processes used ${s.otherCpu} CPU during the round; again in 2 s`);
            await new Promise((r) => setTimeout(r, 2000));
          }
          s.busyRetries = busyRetries;
          incidents.push(...s.incidents);
          const key = `${size}/${id}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          ctx.log(`${at()}   ${id} ${size} B: publish ${fmtInt(s.publish?.msgsPerSec ?? NaN)} msg/s, consume ${fmtInt(s.consume?.msgsPerSec ?? NaN)} msg/s, ` +
            `half load ${fmtInt(s.paced?.targetRate ?? NaN)}/s: ack p99 ${fmtInt(s.paced?.ack.p99us ?? NaN)} us, e2e p99 ${fmtInt(s.paced?.e2e.p99us ?? NaN)} us${s.failure ? ` FAILED: ${s.failure}` : ''}`);
        }
      }
    }
  } finally {
    for (const t of targets.values()) await t.close().catch(() => undefined);
    for (const p of peers.values()) await p.stop().catch(() => undefined);
  }

  const present = [...targets.keys()];
  for (const size of sizes) {
    const res = aggregate(size, present, (id) => samples.get(`${size}/${id}`) ?? [], reps);
    results.push(res);
  }
  const durability = Object.fromEntries([...targets.values()].map((t) => [t.id, t.durability]));
  const driving = Object.fromEntries([...targets.values()].map((t) => [t.id, t.driving]));
  const labels = Object.fromEntries([...targets.values()].map((t) => [t.id, t.label]));
  for (const line of formatResults(results, present, labels)) ctx.print(line);
  ctx.print('Durability of an acknowledged publish, as configured here (the comparison is conservative for Strata, the only one that fsyncs before acking):');
  for (const [id, d] of Object.entries(durability)) ctx.print(`  ${id}: ${d}`);
  for (const [id, why] of Object.entries(skipped)) ctx.print(`  ${id}: NOT RUN — ${why}`);
  for (const msg of incidents) ctx.print(`! ${msg}`);

  const meta = {
    ...versions,
    strataCommit,
    strataTreeDirty,
    command: `npm run bench -- log${ctx.args.length ? ` ${ctx.args.join(' ')}` : ''}`,
    commands: Object.fromEntries([...peers.values()].map((p) => [p.kind, p.command])),
    labels,
    driving,
    durability,
    skipped,
    repetitions: reps,
    timing: { peak: peakTiming, paced: pacedTiming },
    sizes,
    goals: GOALS,
    loadavgAtEnd: os.loadavg().map((x) => round(x, 2)),
  };
  const pick = (r: SizeResult, f: (x: TargetSizeFigures) => number | null) => Object.fromEntries(present.map((id) => [id, r.targets[id] ? f(r.targets[id]!) : null]));
  const summary = {
    unit: 'median msgs/s (MB/s = 10^6 B/s of payload), latency µs at half of each system\'s own peak',
    targets: present,
    skipped,
    sizes: Object.fromEntries(results.map((r) => [String(r.size), {
      publish: pick(r, (x) => x.publishMsgsPerSec),
      publishMBs: pick(r, (x) => x.publishMBPerSec),
      consume: pick(r, (x) => x.consumeMsgsPerSec),
      halfLoadRate: pick(r, (x) => x.halfLoadRate),
      ackP50us: pick(r, (x) => x.ackP50us),
      ackP99us: pick(r, (x) => x.ackP99us),
      e2eP50us: pick(r, (x) => x.e2eP50us),
      e2eP99us: pick(r, (x) => x.e2eP99us),
      ratios: r.ratios,
      paired: r.paired,
      goals: r.goals,
    }])),
    busyRounds: results.reduce((a, r) => a + Object.values(r.targets).reduce((b, f) => b + (f?.rounds.filter((x) => (x.otherCpu ?? 0) > BUSY_LIMIT).length ?? 0), 0), 0),
    goalsMet: present.includes('strata') ? results.every((r) => r.goals.vsRedis === true && r.goals.vsNats === true && r.goals.p99Ack === true) : null,
    incidents: incidents.length,
  };
  return { meta, results: { sizes: results, incidents }, summary };
}

function aggregate(size: number, present: TargetId[], list: (id: TargetId) => RoundSample[], reps: number): SizeResult {
  const targets: Partial<Record<TargetId, TargetSizeFigures>> = {};
  for (const id of present) {
    const rs = list(id);
    // Each phase's figures come from the rounds in which that phase completed.
    const okPub = (r: RoundSample) => !!r.publish && !r.publish.failure;
    const okCon = (r: RoundSample) => !!r.consume && !r.consume.failure;
    const okPaced = (r: RoundSample) => !!r.paced && !r.paced.failure;
    const med = (ok: (r: RoundSample) => boolean, f: (r: RoundSample) => number | undefined, digits = 0) =>
      finiteOrNull(round(median(rs.filter(ok).map((r) => f(r) ?? NaN)), digits));
    const cpuMed = (ok: (r: RoundSample) => boolean, f: (r: RoundSample) => Record<string, number> | undefined) => {
      const keys = ['clientCpuS', 'serverCpuS', 'irqCpuS', 'otherCpuS'];
      return Object.fromEntries(keys.map((k) => [k, med(ok, (r) => f(r)?.[k], 2)]));
    };
    targets[id] = {
      publishMsgsPerSec: med(okPub, (r) => r.publish?.msgsPerSec),
      publishMBPerSec: med(okPub, (r) => r.publish?.mbPerSec, 1),
      publishAckP50us: med(okPub, (r) => r.publish?.ack.p50us),
      publishAckP99us: med(okPub, (r) => r.publish?.ack.p99us),
      consumeMsgsPerSec: med(okCon, (r) => r.consume?.msgsPerSec),
      consumeMBPerSec: med(okCon, (r) => r.consume?.mbPerSec, 1),
      halfLoadRate: med(okPaced, (r) => r.paced?.targetRate),
      halfLoadAchievedRate: med(okPaced, (r) => r.paced?.achievedRate),
      halfLoadSkipped: med(okPaced, (r) => r.paced?.skipped),
      ackP50us: med(okPaced, (r) => r.paced?.ack.p50us),
      ackP99us: med(okPaced, (r) => r.paced?.ack.p99us),
      ackP999us: med(okPaced, (r) => r.paced?.ack.p999us),
      e2eP50us: med(okPaced, (r) => r.paced?.e2e.p50us),
      e2eP99us: med(okPaced, (r) => r.paced?.e2e.p99us),
      e2eP999us: med(okPaced, (r) => r.paced?.e2e.p999us),
      pacerLagP99us: med(okPaced, (r) => r.paced?.pacerLag.p99us),
      publishSamples: rs.map((r) => finiteOrNull(round(okPub(r) ? r.publish!.msgsPerSec : NaN))),
      consumeSamples: rs.map((r) => finiteOrNull(round(okCon(r) ? r.consume!.msgsPerSec : NaN))),
      ackP99Samples: rs.map((r) => finiteOrNull(okPaced(r) ? r.paced!.ack.p99us : NaN)),
      e2eP99Samples: rs.map((r) => finiteOrNull(okPaced(r) ? r.paced!.e2e.p99us : NaN)),
      cpu: {
        publish: cpuMed(okPub, (r) => r.publish?.cpu as unknown as Record<string, number>),
        consume: cpuMed(okCon, (r) => r.consume?.cpu as unknown as Record<string, number>),
        paced: cpuMed(okPaced, (r) => r.paced?.cpu as unknown as Record<string, number>),
      },
      busyRetries: rs.reduce((a, r) => a + (r.busyRetries ?? 0), 0),
      rounds: rs,
    };
  }
  const v = (id: TargetId, f: (x: TargetSizeFigures) => number | null) => (targets[id] ? f(targets[id]!) ?? NaN : NaN);
  const r = (a: number, b: number) => finiteOrNull(ratio(a, b));
  const pub = (x: TargetSizeFigures) => x.publishMsgsPerSec;
  const con = (x: TargetSizeFigures) => x.consumeMsgsPerSec;
  const ack = (x: TargetSizeFigures) => x.ackP99us;
  const e2e = (x: TargetSizeFigures) => x.e2eP99us;
  const ratios = {
    publish_strata_vs_redis: r(v('strata', pub), v('redis', pub)),
    publish_strata_vs_nats: r(v('strata', pub), v('nats', pub)),
    publish_redis_vs_nats: r(v('redis', pub), v('nats', pub)),
    consume_strata_vs_redis: r(v('strata', con), v('redis', con)),
    consume_strata_vs_nats: r(v('strata', con), v('nats', con)),
    ackP99_strata_vs_redis: r(v('strata', ack), v('redis', ack)),
    ackP99_strata_vs_nats: r(v('strata', ack), v('nats', ack)),
    e2eP99_strata_vs_redis: r(v('strata', e2e), v('redis', e2e)),
    e2eP99_strata_vs_nats: r(v('strata', e2e), v('nats', e2e)),
  };
  const perRound = (a: TargetId, b: TargetId) => {
    const xs: number[] = [];
    for (let i = 0; i < reps; i++) {
      const sa = list(a)[i];
      const sb = list(b)[i];
      if (sa?.publish && sb?.publish && !sa.publish.failure && !sb.publish.failure) xs.push(ratio(sa.publish?.msgsPerSec ?? NaN, sb.publish?.msgsPerSec ?? NaN));
    }
    return finiteOrNull(round(median(xs), 3));
  };
  const paired = {
    publish_strata_vs_redis: present.includes('strata') && present.includes('redis') ? perRound('strata', 'redis') : null,
    publish_strata_vs_nats: present.includes('strata') && present.includes('nats') ? perRound('strata', 'nats') : null,
    publish_redis_vs_nats: present.includes('redis') && present.includes('nats') ? perRound('redis', 'nats') : null,
  };
  const strataAck = v('strata', ack);
  const goals = {
    vsRedis: ratios.publish_strata_vs_redis === null ? null : ratios.publish_strata_vs_redis >= GOALS.publishVsRedisAtLeast,
    vsNats: ratios.publish_strata_vs_nats === null ? null : ratios.publish_strata_vs_nats >= GOALS.publishVsNatsAtLeast,
    p99Ack: Number.isFinite(strataAck) ? strataAck <= GOALS.p99AckAtHalfLoadMsAtMost * 1000 : null,
  };
  return { size, targets, ratios, paired, goals };
}

function formatResults(results: SizeResult[], present: TargetId[], labels: Record<string, string>): string[] {
  const lines: string[] = [];
  const n = (x: number | null) => fmtInt(x ?? NaN);
  const x = (q: number | null) => (q === null ? '-' : `${q.toFixed(2)}x`);
  const yes = (b: boolean | null) => (b === null ? 'n/a (strata not run)' : b ? 'met' : 'NOT met');
  for (const id of present) lines.push(`${id.padEnd(7)} ${labels[id]}`);
  for (const r of results) {
    lines.push(`${r.size} B messages  [median of ${Math.max(0, ...present.map((id) => r.targets[id]?.rounds.length ?? 0))} rounds]`);
    for (const id of present) {
      const f = r.targets[id]!;
      lines.push(`  ${id.padEnd(7)} publish ${n(f.publishMsgsPerSec).padStart(9)} msg/s ${String(f.publishMBPerSec ?? '-').padStart(6)} MB/s` +
        ` (ack p50/p99 ${n(f.publishAckP50us)}/${n(f.publishAckP99us)} us)  consume ${n(f.consumeMsgsPerSec).padStart(9)} msg/s ${String(f.consumeMBPerSec ?? '-').padStart(6)} MB/s` +
        `  | at half load ${n(f.halfLoadRate)}/s: ack p50/p99 ${n(f.ackP50us)}/${n(f.ackP99us)} us, publish-to-consume p50/p99 ${n(f.e2eP50us)}/${n(f.e2eP99us)} us` +
        `  | runs ${f.publishSamples.map(n).join(' / ')}`);
    }
    const q = r.ratios;
    lines.push(`  publish: strata/redis ${x(q.publish_strata_vs_redis)} (goal >= ${GOALS.publishVsRedisAtLeast}: ${yes(r.goals.vsRedis)}), ` +
      `strata/nats ${x(q.publish_strata_vs_nats)} (goal >= ${GOALS.publishVsNatsAtLeast}: ${yes(r.goals.vsNats)}), redis/nats ${x(q.publish_redis_vs_nats)}; ` +
      `per round: strata/redis ${x(r.paired.publish_strata_vs_redis)}, strata/nats ${x(r.paired.publish_strata_vs_nats)}, redis/nats ${x(r.paired.publish_redis_vs_nats)}`);
    lines.push(`  consume: strata/redis ${x(q.consume_strata_vs_redis)}, strata/nats ${x(q.consume_strata_vs_nats)}; ` +
      `p99 at half load, strata vs redis / nats: ack ${x(q.ackP99_strata_vs_redis)} / ${x(q.ackP99_strata_vs_nats)}, publish-to-consume ${x(q.e2eP99_strata_vs_redis)} / ${x(q.e2eP99_strata_vs_nats)}; ` +
      `strata p99 ack <= ${GOALS.p99AckAtHalfLoadMsAtMost} ms: ${yes(r.goals.p99Ack)}`);
  }
  return lines;
}
