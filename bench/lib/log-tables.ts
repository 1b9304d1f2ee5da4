/**
 * Render bench/results/log.json as the Markdown tables of docs/benchmarks.md (log section):
 * `node --import tsx bench/lib/log-tables.ts [bench/results/log.json]`.
 */
import { readFileSync } from 'node:fs';
import type { SizeResult, TargetSizeFigures } from '../log.js';

const file = process.argv[2] ?? new URL('../results/log.json', import.meta.url).pathname;
const data = JSON.parse(readFileSync(file, 'utf8')) as {
  machine: Record<string, unknown>; natsServer: string; redisServer: string; strataCommit: string; strataTreeDirty: boolean;
  command: string; quick: boolean; repetitions: number; wallSeconds: number;
  timing: { peak: { warmupMs: number; durationMs: number }; paced: { warmupMs: number; durationMs: number } };
  labels: Record<string, string>; driving: Record<string, string>; durability: Record<string, string>; commands: Record<string, string>;
  skipped: Record<string, string>;
  goals: { publishVsRedisAtLeast: number; publishVsNatsAtLeast: number; p99AckAtHalfLoadMsAtMost: number };
  results: { sizes: SizeResult[]; incidents: string[] };
};
process.stdout.on('error', () => process.exit(0)); // | head
const int = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const x2 = (x: number | null | undefined) => (x == null ? '–' : `${x.toFixed(2)}×`);
const ms = (us: number | null | undefined) => (us == null ? '–' : (us / 1000).toFixed(us < 10_000 ? 2 : 1));
const ORDER = ['strata', 'nats', 'redis'] as const;
const present = ORDER.filter((id) => data.results.sizes.some((s) => s.targets[id]));
const NAME: Record<string, string> = { strata: 'Strata', nats: 'NATS JetStream', redis: 'Redis XADD' };
const fig = (s: SizeResult, id: string): TargetSizeFigures | undefined => s.targets[id as keyof typeof s.targets];
const sizeName = (n: number) => (n >= 1024 && n % 1024 === 0 ? `${n / 1024} KB` : `${n} B`);

const m = data.machine;
console.log(`Run: ${String(m.date)}, ${String(m.cpuModel)}, ${String(m.nproc)} vCPU, ${String(m.totalMemoryGiB)} GiB, Node ${String(m.node)}, ` +
  `${data.natsServer.replace(/^nats-server: v?/, 'nats-server ')}, redis-server ${/v=(\S+)/.exec(data.redisServer)?.[1] ?? data.redisServer}, Strata ${data.strataCommit}${data.strataTreeDirty ? ' (dirty tree)' : ''}; \`${data.command}\`${data.quick ? ' (QUICK: not for the docs)' : ''}; ` +
  `${data.repetitions} rounds per figure (peak: ${data.timing.peak.warmupMs / 1000} s warm-up + ${data.timing.peak.durationMs / 1000} s; half load: ` +
  `${data.timing.paced.warmupMs / 1000} s + ${data.timing.paced.durationMs / 1000} s), median; whole bench ${data.wallSeconds} s.`);
for (const [id, why] of Object.entries(data.skipped ?? {})) console.log(`${NAME[id] ?? id} was not run: ${why}.`);
console.log('');

console.log(`| durable publish, peak | ${present.map((id) => `${NAME[id]} msg/s (MB/s)`).join(' | ')} | Strata / Redis | Strata / NATS | Redis / NATS | (per round: S/R · S/N · R/N) |`);
console.log(`|---|${present.map(() => '---:').join('|')}|---:|---:|---:|---|`);
for (const s of data.results.sizes) {
  const cells = present.map((id) => {
    const f = fig(s, id);
    return f ? `${int(f.publishMsgsPerSec)} (${f.publishMBPerSec ?? '–'})` : '–';
  });
  console.log(`| ${sizeName(s.size)} | ${cells.join(' | ')} | ${x2(s.ratios.publish_strata_vs_redis)} | ${x2(s.ratios.publish_strata_vs_nats)} | ${x2(s.ratios.publish_redis_vs_nats)} | ` +
    `${x2(s.paired.publish_strata_vs_redis)} · ${x2(s.paired.publish_strata_vs_nats)} · ${x2(s.paired.publish_redis_vs_nats)} |`);
}
console.log('');

console.log(`| consume (read back all stored) | ${present.map((id) => `${NAME[id]} msg/s (MB/s)`).join(' | ')} | Strata / Redis | Strata / NATS |`);
console.log(`|---|${present.map(() => '---:').join('|')}|---:|---:|`);
for (const s of data.results.sizes) {
  const cells = present.map((id) => {
    const f = fig(s, id);
    return f ? `${int(f.consumeMsgsPerSec)} (${f.consumeMBPerSec ?? '–'})` : '–';
  });
  console.log(`| ${sizeName(s.size)} | ${cells.join(' | ')} | ${x2(s.ratios.consume_strata_vs_redis)} | ${x2(s.ratios.consume_strata_vs_nats)} |`);
}
console.log('');

console.log('| at half of its own peak | system | rate msg/s (achieved) | not sent: fell behind | publish→ack p50 / p99 / p99.9 ms | publish→consume p50 / p99 / p99.9 ms | pacer lag p99 ms | ack p99 per round ms |');
console.log('|---|---|---:|---:|---|---|---:|---|');
for (const s of data.results.sizes) {
  for (const id of present) {
    const f = fig(s, id);
    if (!f) continue;
    console.log(`| ${sizeName(s.size)} | ${NAME[id]} | ${int(f.halfLoadRate)} (${int(f.halfLoadAchievedRate)}) | ${int(f.halfLoadSkipped)} | ${ms(f.ackP50us)} / ${ms(f.ackP99us)} / ${ms(f.ackP999us)} | ` +
      `${ms(f.e2eP50us)} / ${ms(f.e2eP99us)} / ${ms(f.e2eP999us)} | ${ms(f.pacerLagP99us)} | ${f.ackP99Samples.map(ms).join(' / ')} |`);
  }
}
console.log('');

const secs = { publish: data.timing.peak.durationMs / 1000, paced: data.timing.paced.durationMs / 1000 };
console.log(`| CPU-seconds (median) | system | peak publish: client · server · other (of ${2 * secs.publish} available) | read-back: client · server | half load: client · server · other | publish runs (msg/s) | rounds repeated (machine busy) |`);
console.log('|---|---|---|---|---|---|---:|');
for (const s of data.results.sizes) {
  for (const id of present) {
    const f = fig(s, id);
    if (!f) continue;
    const c = f.cpu;
    console.log(`| ${sizeName(s.size)} | ${NAME[id]} | ${c.publish.clientCpuS ?? '–'} · ${c.publish.serverCpuS ?? '–'} · ${c.publish.otherCpuS ?? '–'} | ` +
      `${c.consume.clientCpuS ?? '–'} · ${c.consume.serverCpuS ?? '–'} | ${c.paced.clientCpuS ?? '–'} · ${c.paced.serverCpuS ?? '–'} · ${c.paced.otherCpuS ?? '–'} | ` +
      `${f.publishSamples.map(int).join(' / ')} | ${f.busyRetries} |`);
  }
}
console.log('');

console.log('| system | server command | client, driven how | an acknowledged publish means |');
console.log('|---|---|---|---|');
for (const id of present) console.log(`| ${data.labels[id] ?? id} | \`${data.commands[id] ?? '?'}\` | ${data.driving[id] ?? '?'} | ${data.durability[id] ?? '?'} |`);
console.log('');

const g = data.goals;
const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : '**not met**');
console.log(`| goal | ${data.results.sizes.map((s) => sizeName(s.size)).join(' | ')} |`);
console.log(`|---|${data.results.sizes.map(() => '---').join('|')}|`);
console.log(`| Strata durable publish ≥ ${g.publishVsRedisAtLeast}× Redis XADD pipelined | ${data.results.sizes.map((s) => `${yes(s.goals.vsRedis)} (${x2(s.ratios.publish_strata_vs_redis)})`).join(' | ')} |`);
console.log(`| Strata durable publish ≥ ${g.publishVsNatsAtLeast}× NATS JetStream (Node client) | ${data.results.sizes.map((s) => `${yes(s.goals.vsNats)} (${x2(s.ratios.publish_strata_vs_nats)})`).join(' | ')} |`);
console.log(`| Strata p99 publish→ack ≤ ${g.p99AckAtHalfLoadMsAtMost} ms at half load | ${data.results.sizes.map((s) => `${yes(s.goals.p99Ack)} (${ms(fig(s, 'strata')?.ackP99us)} ms)`).join(' | ')} |`);
if (data.results.incidents.length) console.log(`\nIncidents:\n${data.results.incidents.map((i) => `- ${i}`).join('\n')}`);
