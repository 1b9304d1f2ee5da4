import type { DecodedRecord } from '../storage/record.js';

/**
 * How many of `pending` (lines not acknowledged, oldest first) the broker already holds: the
 * length of the run of `stored` records, starting at offset `from`, that equal them one for one
 * in value, timestamp (the time the line was read, to the millisecond) and key. A send whose
 * acknowledgement was lost (the broker died after storing, before answering) leaves exactly such
 * a run where the shipper's next record was expected; resending only what follows it keeps each
 * line in the topic once.
 */
export function deliveredPrefix(stored: DecodedRecord[], from: number, pending: Array<{ value: Buffer; timestamp: number }>, key: Buffer | null): number {
  let n = 0;
  while (n < stored.length && n < pending.length) {
    const s = stored[n];
    const p = pending[n];
    if (s.offset !== from + n || s.timestamp !== p.timestamp || !s.value || !s.value.equals(p.value)) break;
    if (key ? !s.key || !s.key.equals(key) : s.key !== null) break;
    n++;
  }
  return n;
}
