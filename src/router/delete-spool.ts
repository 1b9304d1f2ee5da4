import { mkdirSync, openSync, readSync, fstatSync, closeSync, writeFileSync, readFileSync, ftruncateSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { crc32c } from '../core/crc32c.js';
import type { Destination } from './destination.js';
import type { Request } from './protocol/request.js';

/**
 * mcrouter's reliable delete stream: a delete that cannot reach its server is appended to a file
 * for that server (fsynced before the client is answered) and replayed, in order, once the
 * server answers probes again. Deletes are idempotent, so replaying one twice (after a crash
 * between replay and cursor update) is harmless.
 *
 * Format (docs/router.md): `<server>.spool` is a sequence of records
 * `u32le length | u32le crc32c(payload) | payload`, the payload being the delete's command line
 * (`delete <key>` or `md <key> <flags>`). `<server>.cursor` holds, in decimal, the offset up
 * to which records were delivered. A torn or corrupt tail is cut off when the file is opened.
 */
export class DeleteSpool {
  private readonly files = new Map<string, SpoolFile>();

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  private file(server: string): SpoolFile {
    let f = this.files.get(server);
    if (!f) {
      f = new SpoolFile(path.join(this.dir, server.replace(/[^A-Za-z0-9.-]/g, '_')), this.log);
      this.files.set(server, f);
    }
    return f;
  }

  /** Keep a delete for `server` on disk; resolves once it is fsynced. */
  append(server: string, line: Buffer): Promise<void> {
    return this.file(server).append(line);
  }

  /** Deletes kept for `server` and not yet delivered. */
  pending(server: string): number {
    return this.file(server).pendingCount();
  }

  /** Whether anything is kept for `server` (without reading the file). */
  hasPending(server: string): boolean {
    return this.file(server).hasPending();
  }

  /** Replay what is kept for the destination while it answers; returns how many were delivered. */
  drain(dest: Destination): Promise<number> {
    return this.file(dest.name).drain(dest);
  }

  async close(): Promise<void> {
    for (const f of this.files.values()) await f.close();
  }
}

const HEADER = 8;
const BATCH = 100;

class SpoolFile {
  private handle: Promise<FileHandle> | null = null;
  private size: number;
  private cursor: number;
  private batch: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private writing = false;
  private draining: Promise<number> | null = null;

  constructor(
    private readonly base: string,
    private readonly log: Logger,
  ) {
    const { size, cursor } = this.recover();
    this.size = size;
    this.cursor = cursor;
  }

  /** Cut a torn tail; read the cursor (0 if missing or unreadable). */
  private recover(): { size: number; cursor: number } {
    const file = this.base + '.spool';
    if (!existsSync(file)) return { size: 0, cursor: 0 };
    const fd = openSync(file, 'r+');
    try {
      const total = fstatSync(fd).size;
      const data = Buffer.alloc(total);
      readSync(fd, data, 0, total, 0);
      let good = 0;
      for (const rec of records(data, 0)) good = rec.next;
      if (good < total) {
        this.log.warn('delete spool: cutting a torn or corrupt tail', { file, kept: good, dropped: total - good });
        ftruncateSync(fd, good);
      }
      let cursor = 0;
      try {
        cursor = Number(readFileSync(this.base + '.cursor', 'latin1').trim()) || 0;
      } catch {
        cursor = 0;
      }
      if (cursor > good || !isRecordBoundary(data, cursor)) {
        // Never leave a cursor that a later file could take for one of its own boundaries.
        cursor = 0;
        writeFileSync(this.base + '.cursor', '0');
      }
      return { size: good, cursor };
    } finally {
      closeSync(fd);
    }
  }

  hasPending(): boolean {
    return this.size > this.cursor || this.batch.length > 0 || this.writing;
  }

  pendingCount(): number {
    if (this.size === this.cursor) return 0;
    const fd = openSync(this.base + '.spool', 'r');
    try {
      const data = Buffer.alloc(this.size - this.cursor);
      readSync(fd, data, 0, data.length, this.cursor);
      let n = 0;
      for (const _ of records(data, 0)) n++;
      return n;
    } finally {
      closeSync(fd);
    }
  }

  private open(): Promise<FileHandle> {
    this.handle ??= open(this.base + '.spool', 'a');
    return this.handle;
  }

  append(line: Buffer): Promise<void> {
    const rec = Buffer.allocUnsafe(HEADER + line.length);
    rec.writeUInt32LE(line.length, 0);
    rec.writeUInt32LE(crc32c(line), 4);
    line.copy(rec, HEADER);
    this.batch.push(rec);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.writing) void this.writeBatches();
    return done;
  }

  /** Group commit: everything appended while the previous fsync ran goes out in one write and one fsync. */
  private async writeBatches(): Promise<void> {
    this.writing = true;
    while (this.batch.length > 0) {
      const chunk = Buffer.concat(this.batch);
      const waiters = this.waiters;
      this.batch = [];
      this.waiters = [];
      try {
        const fh = await this.open();
        await fh.write(chunk, 0, chunk.length, null);
        await fh.datasync();
        this.size += chunk.length;
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err as Error);
      }
    }
    this.writing = false;
  }

  drain(dest: Destination): Promise<number> {
    this.draining ??= this.replay(dest).finally(() => (this.draining = null));
    return this.draining;
  }

  private async replay(dest: Destination): Promise<number> {
    let delivered = 0;
    while (this.cursor < this.size && dest.state === 'up') {
      const fd = openSync(this.base + '.spool', 'r');
      const data = Buffer.alloc(this.size - this.cursor);
      try {
        readSync(fd, data, 0, data.length, this.cursor);
      } finally {
        closeSync(fd);
      }
      const batch = [...records(data, 0)].slice(0, BATCH);
      if (batch.length === 0) break;
      const replies = await Promise.all(batch.map((r) => new Promise<boolean>((resolve) => dest.send(spooledRequest(r.payload), (reply) => resolve(reply.status !== 'failed' && reply.status !== 'error')))));
      const ok = replies.indexOf(false) === -1 ? replies.length : replies.indexOf(false);
      if (ok > 0) {
        this.cursor += batch[ok - 1].next;
        delivered += ok;
        writeFileSync(this.base + '.cursor', String(this.cursor));
      }
      if (ok < batch.length) break;
    }
    if (this.cursor === this.size && this.size > 0 && !this.writing) {
      // Everything delivered: start the file over. Appends wait meanwhile (writing = true).
      this.writing = true;
      try {
        // Cursor first: a crash between the two replays delivered deletes (harmless), where
        // the other order could leave an old cursor pointing into new records.
        writeFileSync(this.base + '.cursor', '0');
        this.cursor = 0;
        const fh = await this.open();
        await fh.truncate(0);
        this.size = 0;
      } finally {
        this.writing = false;
        if (this.batch.length > 0) void this.writeBatches();
      }
    }
    if (delivered > 0) this.log.info('delete spool: replayed deletes', { server: dest.name, delivered, left: this.size > this.cursor });
    return delivered;
  }

  async close(): Promise<void> {
    if (this.handle) await (await this.handle).close();
    this.handle = null;
  }
}

function spooledRequest(line: Buffer): Request {
  const isMeta = line[0] === 109; // 'm'
  const text = line.toString('latin1');
  const key = text.split(' ')[1] ?? '';
  return { op: isMeta ? 'md' : 'delete', key: Buffer.from(key, 'latin1'), line, data: null, shape: isMeta ? 'meta' : 'line' };
}

function* records(data: Buffer, from: number): Generator<{ payload: Buffer; next: number }> {
  let pos = from;
  while (pos + HEADER <= data.length) {
    const len = data.readUInt32LE(pos);
    const end = pos + HEADER + len;
    if (end > data.length) return;
    const payload = data.subarray(pos + HEADER, end);
    if (crc32c(payload) !== data.readUInt32LE(pos + 4)) return;
    yield { payload, next: end };
    pos = end;
  }
}

function isRecordBoundary(data: Buffer, offset: number): boolean {
  if (offset === 0) return true;
  for (const r of records(data, 0)) {
    if (r.next === offset) return true;
    if (r.next > offset) return false;
  }
  return false;
}
