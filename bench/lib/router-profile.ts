/** Self time per function of a V8 .cpuprofile (node --cpu-prof), for finding a hot path. */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  fn: string;
  /** file:line (repository-relative when under the repository). */
  where: string;
  selfMs: number;
  pct: number;
}

/** The `top` functions by self time, GC included; percentages are of the busy (not idle) time. */
export function topSelfTime(file: string, top = 15, root = ''): { totalMs: number; idleMs: number; rows: SelfTime[] } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  } else {
    const per = (p.endTime - p.startTime) / Math.max(1, p.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  const agg = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const url = cf.url.replace(/^file:\/\//, '').replace(root, '');
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}@${where}`;
    const a = agg.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    a.us += us;
    agg.set(key, a);
  }
  const rows = [...agg.values()].sort((a, b) => b.us - a.us).slice(0, top)
    .map((a) => ({ fn: a.fn, where: a.where, selfMs: Math.round(a.us / 100) / 10, pct: Math.round((a.us / total) * 1000) / 10 }));
  return { totalMs: Math.round(total / 1000), idleMs: Math.round(idle / 1000), rows };
}
