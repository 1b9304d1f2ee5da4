import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { etcdMissing } from '../helpers/etcd.js';
import { runJepsen } from '../helpers/records-jepsen.js';
import { checkHistory } from '../helpers/timeline-checker.js';

/** Seeds run by `npm test`; `npm run soak:records` runs many more. Even seeds run two records nodes per region (tablet moves join the faults). */
const SEEDS = (process.env.RECORDS_JEPSEN_SEEDS ?? '1,2').split(',').map(Number);
const DURATION_MS = Number(process.env.RECORDS_JEPSEN_MS ?? 12_000);

for (const seed of SEEDS) {
  test(`records under kills, partitions and WAN delay keep per-record timelines (seed ${seed})`, { skip: etcdMissing(), timeout: 300_000 }, async (t) => {
    const nodesPerRegion = seed % 2 === 0 ? 2 : 1;
    const run = await runJepsen({ seed, regions: ['west', 'central', 'east'], processesPerRegion: 3, nodesPerRegion, keys: 6, durationMs: DURATION_MS, faults: true, log: (l) => t.diagnostic(l) });
    const result = checkHistory(run.input);
    t.diagnostic(`faults: ${run.faults.join('; ')}`);
    t.diagnostic(`ops: ${JSON.stringify(run.counts)}; applies: ${run.input.applies?.length}; staleness: ${JSON.stringify(result.stats.readAnyStaleness)}`);
    for (const v of result.violations.slice(0, 20)) t.diagnostic(`VIOLATION ${v.rule} ${v.key}: ${v.message} (ops ${v.ops.join(',')})`);
    if (result.violations.length > 0) {
      const file = path.join(tmpdir(), `strata-jepsen-seed-${seed}.json`);
      writeFileSync(file, JSON.stringify({ seed, faults: run.faults, violations: result.violations, ...run.input }));
      t.diagnostic(`history written to ${file}`);
    }
    assert.equal(result.violations.length, 0, `seed ${seed}: ${result.violations.length} violations`);
    const okWrites = run.input.ops.filter((o) => o.outcome === 'ok' && (o.f === 'write' || o.f === 'tas')).length;
    assert.ok(okWrites > 50, `seed ${seed}: only ${okWrites} writes succeeded`);
  });
}
