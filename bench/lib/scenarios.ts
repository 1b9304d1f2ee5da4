/** The timed scenarios of the cache bench: memcaslap loads and the pipelined Node generator. */
import type { RunningServer } from './servers.js';
import { runMemcaslap } from './memcaslap.js';
import { runLoad } from './loadgen.js';
import { preload } from './preload.js';

export interface Sample {
  /** ops/s, or keys/s for multiget scenarios. */
  value: number;
  p50us?: number;
  p99us?: number;
  serverCpuS: number;
  clientCpuS: number;
  seconds: number;
  /** The run broke (crash, hang, tool failure): value is NaN and left out of medians. */
  failure?: string;
  /** Something wrong but measured (error replies, wrong values, misses). */
  notes?: string;
  detail: unknown;
}

export interface Scenario {
  id: string;
  title: string;
  unit: 'ops/s' | 'keys/s';
  tool: 'memcaslap' | 'loadgen';
  /** Run once per server before the repetitions (e.g. store the keyspace). */
  prepare?(server: RunningServer): Promise<void>;
  run(server: RunningServer): Promise<Sample>;
}

export interface Timing {
  memcaslapSeconds: number;
  loadWarmupMs: number;
  loadDurationMs: number;
}

export const KEYSPACE = 10_000;

function memcaslap(id: string, title: string, threads: number, concurrency: number, valueSize: number, t: Timing, extra: { window?: string; division?: number } = {}): Scenario {
  const division = extra.division ?? 1;
  return {
    id, title, tool: 'memcaslap', unit: division > 1 ? 'keys/s' : 'ops/s',
    async run(server) {
      const r = await runMemcaslap({ port: server.port, serverPid: server.pid, threads, concurrency, seconds: t.memcaslapSeconds, valueSize, ...extra });
      const notes = r.errorLines > 0 ? `${r.errorLines} error lines from memcaslap` : undefined;
      const value = r.failure ? NaN : r.tps;
      return { value, serverCpuS: r.serverCpuS, clientCpuS: r.clientCpuS, seconds: r.runSeconds, failure: r.failure, notes, detail: r };
    },
  };
}

function loadgen(id: string, title: string, connections: number, window: number, valueSize: number, t: Timing, keysPerGet = 1): Scenario {
  return {
    id, title, tool: 'loadgen', unit: keysPerGet > 1 ? 'keys/s' : 'ops/s',
    async prepare(server) {
      const p = await preload({ port: server.port, count: KEYSPACE, valueSize });
      if (p.stored !== KEYSPACE) throw new Error(`preload on ${server.spec.id}: ${p.stored}/${KEYSPACE} stored; ${p.errorLines.join(' | ')}`);
    },
    async run(server) {
      const r = await runLoad({
        port: server.port, serverPid: server.pid, connections, window, valueSize, keyspace: KEYSPACE, keysPerGet,
        getRatio: 0.9, warmupMs: t.loadWarmupMs, durationMs: t.loadDurationMs,
      });
      const problems = [r.errors ? `${r.errors} error replies (${r.errorLines.join(' | ')})` : '',
        r.badValues ? `${r.badValues} wrong values` : '', r.wrongKeys ? `${r.wrongKeys} replies for the wrong key` : '',
        r.hitRatio < 0.999 ? `hit ratio ${r.hitRatio.toFixed(4)} on a preloaded keyspace` : ''].filter(Boolean);
      return {
        value: r.failure ? NaN : keysPerGet > 1 ? r.keysPerSec : r.requestsPerSec, p50us: r.p50us, p99us: r.p99us,
        serverCpuS: r.serverCpuS, clientCpuS: r.clientCpuS, seconds: r.seconds,
        failure: r.failure, notes: problems.length ? problems.join('; ') : undefined, detail: r,
      };
    },
  };
}

export function scenarios(t: Timing): Scenario[] {
  return [
    memcaslap('memcaslap_c1_32B', 'memcaslap -T1 -c1 -X 32 (ping-pong), 32 B', 1, 1, 32, t),
    memcaslap('memcaslap_c64_32B', 'memcaslap -T2 -c64 -X 32, 32 B', 2, 64, 32, t),
    memcaslap('memcaslap_c1_4KB', 'memcaslap -T1 -c1 -X 4096 -w 1k (ping-pong), 4 KB', 1, 1, 4096, t, { window: '1k' }),
    memcaslap('memcaslap_c64_4KB', 'memcaslap -T2 -c64 -X 4096 -w 1k, 4 KB', 2, 64, 4096, t, { window: '1k' }),
    memcaslap('memcaslap_c64_mget10_32B', 'memcaslap -T2 -c64 -X 32 -d 10 (10-key multiget), 32 B', 2, 64, 32, t, { division: 10 }),
    loadgen('loadgen_1x1_32B', 'Node generator 1 conn x window 1 (ping-pong), 32 B', 1, 1, 32, t),
    loadgen('loadgen_64x16_32B', 'Node generator 64 conns x window 16, 32 B', 64, 16, 32, t),
    loadgen('loadgen_1x1_4KB', 'Node generator 1 conn x window 1 (ping-pong), 4 KB', 1, 1, 4096, t),
    loadgen('loadgen_64x16_4KB', 'Node generator 64 conns x window 16, 4 KB', 64, 16, 4096, t),
    loadgen('loadgen_64x16_mget10_32B', 'Node generator 64 conns x window 16, 10-key multiget, 32 B', 64, 16, 32, t, 10),
  ];
}
