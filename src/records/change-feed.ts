import { LogClient } from '../log/client.js';
import { ChangeKind, decodeChange } from './change-codec.js';
import { recordFields } from './record-codec.js';
import { changeTopic } from './table-def.js';
import { formatVersion } from './version.js';

export interface ChangeEvent {
  table: string;
  key: string;
  /** "gen.ver" */
  version: string;
  deleted: boolean;
  value: Record<string, unknown> | null;
  master: string;
  /** The region whose log carried the change (the record's master when it was written). */
  region: string;
  /** When the master committed it (ms since the epoch, the master's clock). */
  writtenAt: number;
  partition: number;
  offset: number;
}

export interface ChangeFeedOptions {
  /** Where to start in every region's log. Default 'latest'. */
  from?: 'earliest' | 'latest';
  signal?: AbortSignal;
}

/**
 * A table's committed changes, from every region's change topic merged (docs/records.md, "Change
 * feed"). Each record's changes arrive in version order from any one region; across a mastership
 * move, a consumer may see the new master's changes before the old master's last ones, so it
 * keeps, per key, the highest version it has seen. Delivery is at least once.
 */
export async function* changeFeed(logs: Record<string, Array<{ host: string; port: number }>>, table: string, opts: ChangeFeedOptions = {}): AsyncGenerator<ChangeEvent> {
  const connected = await Promise.allSettled(Object.entries(logs).map(async ([region, brokers]) => ({ region, client: await LogClient.connect({ brokers, retryTimeoutMs: 30_000 }) })));
  const clients = connected.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
  const refused = connected.find((c): c is PromiseRejectedResult => c.status === 'rejected');
  if (refused) {
    for (const c of clients) await c.client.close();
    throw refused.reason;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  opts.signal?.addEventListener('abort', stop);
  const queue: ChangeEvent[] = [];
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  let running = clients.length;
  const incarnations = new Map<string, number>();
  const pumps = clients.map(async ({ region, client }) => {
    try {
      for await (const rec of client.consume(changeTopic(table), { from: opts.from ?? 'latest', signal: abort.signal, durableOnly: true })) {
        if (!rec.key || !rec.value) continue;
        const change = decodeChange(rec.value);
        const at = `${region}/${rec.partition}/${change.writer}`;
        const seen = incarnations.get(at) ?? 0;
        if (change.kind === ChangeKind.fence) {
          if (change.incarnation > seen) incarnations.set(at, change.incarnation);
          continue;
        }
        if (change.incarnation < seen) continue;
        const r = change.record;
        queue.push({ table, key: rec.key.toString('utf8'), version: formatVersion([r.gen, r.ver]), deleted: r.deleted, value: recordFields(r), master: r.master, region, writtenAt: r.writtenAt, partition: rec.partition, offset: rec.offset });
        wake?.();
        // Bounded: a slow consumer holds the pumps back.
        while (queue.length > 10_000 && !abort.signal.aborted) await new Promise((r) => setTimeout(r, 5));
      }
    } catch (err) {
      if (!abort.signal.aborted) failure = err;
    } finally {
      running--;
      wake?.();
    }
  });
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (failure) throw failure;
      if (running === 0 || abort.signal.aborted) return;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
  } finally {
    abort.abort();
    opts.signal?.removeEventListener('abort', stop);
    await Promise.allSettled(pumps);
    for (const c of clients) await c.client.close();
  }
}
