/**
 * Crash-test child: appends batches to a partition log with fsync acknowledgement, forever,
 * printing "ack <lastOffset>" after each acknowledged batch. Each record's value names its
 * offset, so the parent can check every surviving record. Usage: log-writer.ts <dir>
 */
import { PartitionLog, DEFAULT_PARTITION_OPTIONS } from '../../src/storage/partition-log.js';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';

const log = PartitionLog.open(process.argv[2], { ...DEFAULT_PARTITION_OPTIONS, segmentBytes: 64 * 1024, indexIntervalBytes: 1024, clock: systemClock, log: createLogger('silent') });
async function producer(): Promise<never> {
  for (;;) {
    const n = 1 + Math.floor(Math.random() * 20);
    const base = log.endOffset;
    const records = Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`k${base + i}`), value: Buffer.from(`v${base + i}:${'x'.repeat((base + i) % 300)}`) }));
    const r = await log.append(records, 'fsync');
    process.stdout.write(`ack ${r.lastOffset}\n`);
  }
}
// Several producers at once, so fsyncs are shared (group commit) when the kill lands.
void Promise.all([producer(), producer(), producer()]);
