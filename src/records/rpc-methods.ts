import type { RpcMethod } from '../net/rpc-server.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import { BufferWriter } from '../core/bytes.js';
import type { Catalog } from './catalog.js';
import type { NodeRouter } from './node-router.js';
import { CONSISTENCY_NAMES, RecordsMethod, decodeRead, decodeScan, decodeWrite, encodeRead } from './protocol.js';
import type { TabletController } from './tablet-controller.js';
import type { Access } from './access.js';
import { MAX_KEY_BYTES, resolveTableRequest, type TableRequest } from './table-def.js';

function json(payload: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new RpcError(RpcCode.badRequest, `${what} must be a JSON object`);
}

export function checkKey(key: string): void {
  if (key.length === 0) throw new RpcError(RpcCode.invalid, 'the key is empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new RpcError(RpcCode.invalid, `keys are at most ${MAX_KEY_BYTES} bytes`);
  if (key.charCodeAt(0) === 0) throw new RpcError(RpcCode.invalid, 'keys may not start with a NUL character');
}

/** The records service's RPC methods (docs/records.md, "Protocol"). */
export function recordsMethods(
  router: NodeRouter,
  catalog: Catalog,
  defaults: { region: string; partitions: number; tablets: number },
  setUp: (table: string) => Promise<void>,
  tablets: TabletController,
  positions: (table: string) => Record<string, number[]>,
  access: Access,
): Map<number, RpcMethod> {
  const m = new Map<number, RpcMethod>();
  m.set(RecordsMethod.auth, access.auth);
  m.set(RecordsMethod.nodeAuth, access.nodeAuth);

  m.set(RecordsMethod.tables, () => {
    const tables = [...catalog.tables.values()].map((t) => t.state);
    return Buffer.from(JSON.stringify({ tables, regions: [...catalog.regions.keys()], logs: Object.fromEntries([...catalog.regions].map(([r, info]) => [r, info.logBrokers])) }));
  });

  m.set(RecordsMethod.createTable, async (payload) => {
    const def = resolveTableRequest(json(payload, 'a table definition') as unknown as TableRequest, defaults);
    const state = await catalog.createTable(def);
    await setUp(def.name);
    return Buffer.from(JSON.stringify(state.def));
  });

  m.set(RecordsMethod.read, (payload, conn) => {
    const req = decodeRead(payload);
    if (req.forwarded) access.requireNode(conn, 'a forwarded read');
    checkKey(req.key);
    return router.readAnyHere(req) ?? router.read(req, payload);
  });

  m.set(RecordsMethod.write, (payload, conn) => {
    const req = decodeWrite(payload);
    if (req.forwarded) access.requireNode(conn, 'a forwarded write');
    checkKey(req.key);
    return router.write(req, payload);
  });

  m.set(RecordsMethod.scan, (payload) => {
    const req = decodeScan(payload);
    for (const bound of [req.start, req.end, req.after, req.stopAt]) {
      if (Buffer.byteLength(bound) > MAX_KEY_BYTES + 8) throw new RpcError(RpcCode.invalid, `scan bounds are keys: at most ${MAX_KEY_BYTES} bytes`);
    }
    return router.scan(req);
  });

  m.set(RecordsMethod.multiget, async (payload) => {
    const req = json(payload, 'a multiget request');
    const keys = req.keys;
    if (typeof req.table !== 'string') throw new RpcError(RpcCode.invalid, 'table must be a string');
    if (!Array.isArray(keys) || keys.length > 1000 || keys.some((k) => typeof k !== 'string')) throw new RpcError(RpcCode.invalid, 'keys must be an array of at most 1000 strings');
    const consistency = CONSISTENCY_NAMES[String(req.consistency ?? 'any')];
    if (consistency === undefined || consistency === 1) throw new RpcError(RpcCode.invalid, 'multiget consistency is "any" or "latest"');
    const replies = await Promise.all(
      (keys as string[]).map(async (key) => {
        checkKey(key);
        const one = encodeRead({ table: req.table as string, key, consistency, required: [0, 0], forwarded: false, known: null });
        return router.read(decodeRead(one), one);
      }),
    );
    const w = new BufferWriter(256).u32(replies.length);
    for (const r of replies) w.bytes(r);
    return Buffer.from(w.view());
  });

  m.set(RecordsMethod.splitTablet, async (payload) => {
    const req = json(payload, 'a split request');
    if (typeof req.table !== 'string' || !Number.isInteger(req.tablet)) throw new RpcError(RpcCode.invalid, 'give table (string) and tablet (id)');
    if (req.at !== undefined && typeof req.at !== 'string') throw new RpcError(RpcCode.invalid, 'at must be a string (a key; in a hash table 8 hex digits of the hash)');
    return Buffer.from(JSON.stringify(await tablets.split(req.table, req.tablet as number, req.at as string | undefined)));
  });

  m.set(RecordsMethod.moveTablet, async (payload) => {
    const req = json(payload, 'a move request');
    if (typeof req.table !== 'string' || !Number.isInteger(req.tablet) || typeof req.to !== 'string') throw new RpcError(RpcCode.invalid, 'give table (string), tablet (id) and to (node id)');
    if (req.region !== undefined && typeof req.region !== 'string') throw new RpcError(RpcCode.invalid, 'region must be a string');
    return Buffer.from(JSON.stringify(await tablets.move(req.table, req.tablet as number, req.to, req.region as string | undefined)));
  });

  m.set(RecordsMethod.positions, (payload, conn) => {
    access.requireNode(conn, 'positions');
    const req = json(payload, 'a positions request');
    if (typeof req.table !== 'string') throw new RpcError(RpcCode.invalid, 'table must be a string');
    return Buffer.from(JSON.stringify(positions(req.table)));
  });

  m.set(RecordsMethod.copyRange, (payload, conn) => {
    access.requireNode(conn, 'copyRange');
    const req = json(payload, 'a copy request');
    const strings = ['table', 'start', 'end', 'after'].every((k) => typeof req[k] === 'string');
    if (!strings || !Number.isInteger(req.limit)) throw new RpcError(RpcCode.invalid, 'give table, start, end, after (strings) and limit');
    return router.copyRange(req.table as string, req.start as string, req.end as string, req.after as string, req.limit as number);
  });

  return m;
}
