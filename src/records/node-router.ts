import type { Logger } from '../core/log.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { Catalog } from './catalog.js';
import {
  ReadStatus,
  RecordsMethod,
  WriteStatus,
  Consistency,
  decodeReadReply,
  decodeScanReply,
  decodeWriteReply,
  encodeRead,
  encodeReadReply,
  encodeReadReplyHead,
  encodeScan,
  encodeScanReply,
  encodeWrite,
  encodeWriteReply,
  type ReadRequest,
  type ScanRequest,
  type ScanRow,
  type WriteRequest,
} from './protocol.js';
import { isGone, recordVersion, type StoredRecord } from './record-codec.js';
import type { StorageUnit } from './storage-unit.js';
import type { TableState } from './tablets.js';
import { keyOfStorageKey, tabletFor, tabletIndexAt, storageKey } from './tablets.js';
import { compareVersions } from './version.js';
import type { LocalStore } from './local-store.js';

/** How many times a request follows a record's master as it moves before giving up. */
const MAX_HOPS = 6;
const FORWARD_TIMEOUT_MS = 10_000;
const MOVE_RETRY_MS = 10_000;

export interface RouterDeps {
  region: string;
  nodeId: string;
  catalog: Catalog;
  su: StorageUnit;
  store: LocalStore;
  /** Call another records node (connections made and authenticated on first use). */
  callNode: (nodeId: string, method: number, payload: Buffer, timeoutMs: number) => Promise<Buffer>;
  /** Master writes for a table wait until this node has caught up with its own region's log. */
  ready: (table: string) => Promise<void>;
  log: Logger;
  now: () => number;
}

/**
 * A node's request handling (PNUTS' router and the SU's request side): finds the tablet, passes
 * the request to the node holding it in this region, and there serves reads from the local copy
 * or follows the record's master region for writes, read-latest and read-critical.
 */
export class NodeRouter {
  constructor(private readonly d: RouterDeps) {}

  private table(name: string): TableState {
    const s = this.d.catalog.table(name);
    if (!s) throw new RpcError(RpcCode.notFound, `no table ${name}`);
    return s;
  }

  /** The node holding the key's tablet in a region (this region by default). */
  private ownerOf(state: TableState, key: string, region = this.d.region): string {
    const owner = tabletFor(state, key).owners[region];
    if (!owner) throw new RpcError(RpcCode.tryLater, `table ${state.def.name}: the tablet of this key has no node in region ${region} yet`);
    return owner;
  }

  private call(nodeId: string, method: number, payload: Buffer): Promise<Buffer> {
    return this.d.callNode(nodeId, method, payload, FORWARD_TIMEOUT_MS);
  }

  // ---- reads ----

  /** A client's request is retried while tablets move (`wrongNode`), for up to MOVE_RETRY_MS; a forwarded one is not. */
  private async retryMoves(forwarded: boolean, attempt: () => Promise<Buffer>): Promise<Buffer> {
    if (forwarded) return attempt();
    const deadline = Date.now() + MOVE_RETRY_MS;
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof RpcError && err.code === RpcCode.wrongNode) || Date.now() + delay > deadline) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /**
   * A client's read-any of a tablet held here, answered at once as the record's stored bytes after
   * a reply head (no promise, no re-encoding: the common read). Null when it needs the full path
   * (another node, another consistency, an unknown table: read() answers those, errors included).
   */
  readAnyHere(req: ReadRequest): Buffer[] | null {
    if (req.forwarded || req.consistency !== Consistency.any) return null;
    const state = this.d.catalog.table(req.table);
    if (!state || tabletFor(state, req.key).owners[this.d.region] !== this.d.nodeId) return null;
    const hit = this.d.su.readStored(state.def, req.key);
    if (!hit) return [this.head(ReadStatus.absent)];
    const status = isGone(hit.record, this.d.now()) ? ReadStatus.gone : ReadStatus.present;
    return hit.bytes ? [this.head(status), hit.bytes] : [encodeReadReply(status, this.d.region, hit.record)];
  }

  private readonly heads = new Map<number, Buffer>();

  private head(status: number): Buffer {
    let h = this.heads.get(status);
    if (!h) this.heads.set(status, (h = encodeReadReplyHead(status, this.d.region)));
    return h;
  }

  read(req: ReadRequest, raw: Buffer): Promise<Buffer> {
    return this.retryMoves(req.forwarded, () => this.readOnce(req, raw));
  }

  write(req: WriteRequest, raw: Buffer): Promise<Buffer> {
    return this.retryMoves(req.forwarded, () => this.writeOnce(req, raw));
  }

  private async readOnce(req: ReadRequest, raw: Buffer): Promise<Buffer> {
    const state = this.table(req.table);
    const owner = this.ownerOf(state, req.key);
    if (owner !== this.d.nodeId) {
      if (req.forwarded) throw new RpcError(RpcCode.wrongNode, `node ${this.d.nodeId} does not hold this tablet in region ${this.d.region}`);
      return this.call(owner, RecordsMethod.read, raw);
    }
    const def = state.def;
    if (req.forwarded) return this.readAsMaster(state, req);
    const local = this.d.su.read(def, req.key);
    if (req.consistency === Consistency.any) return this.reply(local);
    if (req.consistency === Consistency.critical && local && compareVersions(recordVersion(local), req.required) >= 0) return this.reply(local);
    return this.readAtMaster(state, req);
  }

  private reply(r: StoredRecord | null): Buffer {
    if (!r) return encodeReadReply(ReadStatus.absent, this.d.region, null);
    return encodeReadReply(isGone(r, this.d.now()) ? ReadStatus.gone : ReadStatus.present, this.d.region, r);
  }

  /** Asked by another region as the record's master. */
  private async readAsMaster(state: TableState, req: ReadRequest): Promise<Buffer> {
    const def = state.def;
    if (req.known) this.d.su.apply(def, req.key, req.known);
    if (!this.d.su.mastersHere(def, req.key)) return encodeReadReply(ReadStatus.elsewhere, this.d.region, this.d.su.read(def, req.key));
    await this.d.ready(def.name);
    const local = this.d.su.read(def, req.key);
    this.checkRequired(req, local);
    return this.reply(local);
  }

  private checkRequired(req: ReadRequest, r: StoredRecord | null): void {
    if (req.consistency !== Consistency.critical) return;
    if (!r || compareVersions(recordVersion(r), req.required) < 0) {
      throw new RpcError(RpcCode.tryLater, `version ${req.required.join('.')} of this record is not committed (the master has ${r ? recordVersion(r).join('.') : 'none'})`);
    }
  }

  /** Follow the record's master (it may move while we look) and read there. */
  private async readAtMaster(state: TableState, req: ReadRequest): Promise<Buffer> {
    const def = state.def;
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const local = this.d.su.read(def, req.key);
      const target = local ? local.master : def.homeRegion;
      if (target === this.d.region) {
        await this.d.ready(def.name);
        const now = this.d.su.read(def, req.key);
        if ((now ? now.master : def.homeRegion) !== this.d.region) continue;
        this.checkRequired(req, now);
        return this.reply(now);
      }
      const owner = this.ownerOf(state, req.key, target);
      const payload = encodeRead({ ...req, forwarded: true, known: local });
      const reply = decodeReadReply(await this.call(owner, RecordsMethod.read, payload));
      if (reply.record) this.d.su.apply(def, req.key, reply.record);
      if (reply.status !== ReadStatus.elsewhere) return encodeReadReply(reply.status, reply.region, reply.record);
      if (!reply.record && target === def.homeRegion) return encodeReadReply(ReadStatus.absent, reply.region, null);
    }
    throw new RpcError(RpcCode.tryLater, `table ${def.name}: the record's master kept moving; try again`);
  }

  // ---- writes ----

  private async writeOnce(req: WriteRequest, raw: Buffer): Promise<Buffer> {
    const state = this.table(req.table);
    const owner = this.ownerOf(state, req.key);
    if (owner !== this.d.nodeId) {
      if (req.forwarded) throw new RpcError(RpcCode.wrongNode, `node ${this.d.nodeId} does not hold this tablet in region ${this.d.region}`);
      return this.call(owner, RecordsMethod.write, raw);
    }
    const def = state.def;
    if (req.forwarded) {
      if (req.known) this.d.su.apply(def, req.key, req.known);
      return this.writeHere(state, req);
    }
    req = { ...req, origin: this.d.region };
    for (let hop = 0; hop < MAX_HOPS; hop++) {
      const local = this.d.su.read(def, req.key);
      const target = local ? local.master : def.homeRegion;
      if (target === this.d.region) {
        const reply = await this.writeHere(state, req);
        if (reply[0] !== WriteStatus.elsewhere) return reply;
        continue;
      }
      const payload = encodeWrite({ ...req, forwarded: true, known: local });
      const reply = decodeWriteReply(await this.call(this.ownerOf(state, req.key, target), RecordsMethod.write, payload));
      if (reply.status !== WriteStatus.elsewhere) return encodeWriteReply(reply.status, reply.version, reply.master);
      if (reply.record) this.d.su.apply(def, req.key, reply.record);
    }
    throw new RpcError(RpcCode.tryLater, `table ${def.name}: the record's master kept moving; try again`);
  }

  private async writeHere(state: TableState, req: WriteRequest): Promise<Buffer> {
    const def = state.def;
    await this.d.ready(def.name);
    let fields: Record<string, unknown> | null = null;
    if (req.fieldsJson) {
      try {
        fields = JSON.parse(req.fieldsJson.toString('utf8')) as Record<string, unknown>;
      } catch {
        throw new RpcError(RpcCode.invalid, 'the fields are not valid JSON');
      }
      if (!fields || typeof fields !== 'object' || Array.isArray(fields)) throw new RpcError(RpcCode.invalid, 'a record is a JSON object');
    }
    // Checked right before the write joins the key's queue (no await between), so a move's drain sees it.
    const now = this.table(def.name);
    const tablet = tabletFor(now, req.key);
    if (tablet.owners[this.d.region] !== this.d.nodeId || (tablet.moving?.region === this.d.region && tablet.moving.state !== 'copying')) {
      throw new RpcError(RpcCode.wrongNode, `tablet ${tablet.id} of ${def.name} is moving to another node; retry`);
    }
    const out = await this.d.su.write(def, req.key, { fields, replace: req.replace, ifVersion: req.ifVersion, origin: req.origin });
    switch (out.kind) {
      case 'ok':
        return encodeWriteReply(WriteStatus.ok, recordVersion(out.record), out.record.master);
      case 'conflict':
        return encodeWriteReply(WriteStatus.conflict, out.current, this.d.region);
      case 'absent':
        return encodeWriteReply(WriteStatus.absent, [0, 0], this.d.region);
      case 'elsewhere':
        return encodeWriteReply(WriteStatus.elsewhere, out.record ? recordVersion(out.record) : [0, 0], out.record?.master ?? def.homeRegion, out.record);
    }
  }

  // ---- scans ----

  async scan(req: ScanRequest): Promise<Buffer> {
    const state = this.table(req.table);
    const def = state.def;
    const limit = Math.max(1, Math.min(req.limit, 10_000));
    if (req.forwarded) {
      const part = this.scanLocal(state, req.start, req.stopAt, limit);
      return encodeScanReply(this.d.region, part.rows, part.done ? '' : part.last);
    }
    const ordered = def.kind === 'ordered';
    const endKey = ordered ? req.end : '';
    let from = req.after ? req.after + '\u0000' : ordered ? req.start : '';
    let ti = tabletIndexAt(state.tablets, ordered ? from : from.slice(0, 8));
    const rows: ScanRow[] = [];
    let next = '';
    while (rows.length < limit && ti < state.tablets.length) {
      const tabletEnd = state.tablets[ti + 1]?.low ?? '';
      const stop = !tabletEnd ? endKey : !endKey ? tabletEnd : tabletEnd < endKey ? tabletEnd : endKey;
      const owner = state.tablets[ti].owners[this.d.region];
      if (!owner) throw new RpcError(RpcCode.tryLater, `table ${def.name}: tablet ${state.tablets[ti].id} has no node in region ${this.d.region} yet`);
      const want = limit - rows.length;
      let part: { rows: ScanRow[]; done: boolean; last: string };
      if (owner === this.d.nodeId) part = this.scanLocal(state, from, stop, want);
      else {
        const got = decodeScanReply(await this.call(owner, RecordsMethod.scan, encodeScan({ ...req, start: from, stopAt: stop, limit: want, forwarded: true, after: '' })));
        part = { rows: got.rows, done: got.next === '', last: got.next };
      }
      rows.push(...part.rows);
      if (!part.done) {
        next = part.last;
        break;
      }
      if (!tabletEnd || (endKey && tabletEnd >= endKey)) break;
      from = tabletEnd;
      ti++;
      if (rows.length >= limit) next = rows.length ? storageKey(def, rows[rows.length - 1].key) : '';
    }
    return encodeScanReply(this.d.region, rows, next);
  }

  /** Every record here with a storage key in [start, end) after `after`, deleted ones included (a tablet being copied away). */
  async copyRange(table: string, start: string, end: string, after: string, limit: number): Promise<Buffer> {
    const def = this.table(table).def;
    // Records applied here a moment ago may still be on their way into lmdb: wait for them.
    await this.d.store.flushed();
    const rows: ScanRow[] = [];
    const from = after ? after + '\u0000' : start;
    let last = '';
    for (const { key, value } of this.d.store.range(def.name, from, end, Math.max(1, Math.min(limit, 10_000)))) {
      last = key;
      const k = keyOfStorageKey(def, key);
      rows.push({ key: k, record: this.d.su.freshest(def, k, value) });
    }
    return encodeScanReply(this.d.region, rows, rows.length >= limit ? last : '');
  }

  /** Live records with storage keys in [from, stop), at most `limit`; `last` is the last storage key looked at. */
  private scanLocal(state: TableState, from: string, stop: string, limit: number): { rows: ScanRow[]; done: boolean; last: string } {
    const def = state.def;
    const now = this.d.now();
    const rows: ScanRow[] = [];
    let last = '';
    for (const { key, value } of this.d.store.range(def.name, from, stop, Number.MAX_SAFE_INTEGER)) {
      last = key;
      const k = keyOfStorageKey(def, key);
      const r = this.d.su.freshest(def, k, value);
      if (isGone(r, now)) continue;
      rows.push({ key: k, record: r });
      if (rows.length >= limit) return { rows, done: false, last };
    }
    return { rows, done: true, last };
  }
}

