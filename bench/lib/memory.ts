/** Memory per stored item: VmRSS of a fresh server before and after storing N small items. */
import { startServer, type ServerSpec } from './servers.js';
import { preload } from './preload.js';
import { rssBytes } from './procs.js';
import { stats } from './memc.js';

export interface MemoryResult {
  server: string;
  items: number;
  valueSize: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerItem: number;
  stored: number;
  currItems: number;
  statBytes: number;
  evictions: number;
  loadSeconds: number;
  failure?: string;
}

export async function measureMemory(spec: ServerSpec, items: number, valueSize: number): Promise<MemoryResult> {
  const server = await startServer(spec);
  try {
    const rssBeforeBytes = rssBytes(server.pid);
    const p = await preload({ port: server.port, count: items, valueSize, connections: 2, window: 512 });
    if (!server.alive()) throw new Error(`${spec.id} died while loading: ${server.output().slice(-500)}`);
    const s = await stats(server.port);
    const rssAfterBytes = rssBytes(server.pid);
    const currItems = Number(s.curr_items);
    const failure = p.stored !== items || currItems !== items
      ? `stored ${p.stored}/${items}, curr_items ${currItems}, ${p.errors} errors ${p.errorLines.join(' | ')}`
      : undefined;
    return {
      server: spec.id, items, valueSize, rssBeforeBytes, rssAfterBytes,
      bytesPerItem: (rssAfterBytes - rssBeforeBytes) / items,
      stored: p.stored, currItems, statBytes: Number(s.bytes), evictions: Number(s.evictions),
      loadSeconds: p.seconds, failure,
    };
  } finally {
    await server.stop();
  }
}
