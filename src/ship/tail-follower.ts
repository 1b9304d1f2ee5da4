import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { LineSplitter, type Line } from './line-splitter.js';
import { sleep } from './sleep.js';

/** Where reading stands in one file: its inode and the byte offset just past the last line taken. */
export interface FilePosition {
  ino: number;
  offset: number;
}

/** A line of a followed file; `end` is an offset in the file with inode `ino`. */
export interface FileLine extends Line {
  ino: number;
}

export interface TailOptions {
  /** How often the file is checked for growth, rotation and truncation once read to its end. */
  pollMs: number;
  maxLineBytes: number;
  /** Bytes read at a time. */
  chunkBytes?: number;
  /** Where a previous run stopped (its file may have been rotated since); null: from the start. */
  start?: FilePosition | null;
  log?: Logger;
}

interface OpenFile {
  handle: FileHandle;
  ino: number;
  /** The name it was opened by (a rotated-away file found by its inode has another name). */
  name: string;
}

type PathState = 'same' | 'missing' | 'replaced' | 'truncated';

/**
 * Follows a file by name, like `tail -F`: reads it to its end, then waits for it to grow. When
 * the name comes to point at another file (rotation by rename) the old file is read to its end
 * first; when the file shrinks below the read position (truncation) it is read again from the
 * start. Bytes after the last newline are held back until their newline arrives, except at the
 * end of a file being left behind, where they are passed on as its last line.
 *
 * Lines come in batches from `batches()`, pulled by the caller: nothing more is read until the
 * caller asks for the next batch (backpressure).
 */
export class TailFollower {
  private current: OpenFile | null = null;
  private readPos = 0;
  private splitter: LineSplitter;
  private readonly buf: Buffer;

  constructor(
    readonly file: string,
    private readonly opts: TailOptions,
  ) {
    this.splitter = new LineSplitter(opts.maxLineBytes);
    this.buf = Buffer.allocUnsafe(opts.chunkBytes ?? 64 * 1024);
  }

  /** Bytes read so far from the file being read (lines taken and bytes held back). */
  get readPosition(): number {
    return this.readPos;
  }

  async *batches(signal: AbortSignal): AsyncGenerator<FileLine[]> {
    try {
      await this.openAtStart();
      while (!signal.aborted) {
        if (!this.current && !(await this.openByName(0))) {
          await sleep(this.opts.pollMs, signal);
          continue;
        }
        const lines = await this.readChunk();
        if (lines) {
          if (lines.length > 0) yield lines;
          continue;
        }
        const state = await this.pathState();
        if (state === 'replaced') {
          for (let rest = await this.readChunk(); rest; rest = await this.readChunk()) if (rest.length > 0) yield rest;
          const last = this.flushLast();
          if (last) yield [last];
          this.opts.log?.info('followed file was replaced (rotated); reading the new one', { file: this.file });
          await this.closeCurrent();
        } else if (state === 'truncated') {
          const last = this.flushLast();
          if (last) yield [last];
          this.opts.log?.info('followed file was truncated; reading it again from the start', { file: this.file });
          this.readPos = 0;
          this.splitter.reset(0);
        } else {
          await sleep(this.opts.pollMs, signal);
        }
      }
    } finally {
      await this.closeCurrent();
    }
  }

  /** The next lines of the current file; null at its end. */
  private async readChunk(): Promise<FileLine[] | null> {
    const cur = this.current!;
    const { bytesRead } = await cur.handle.read(this.buf, 0, this.buf.length, this.readPos);
    if (bytesRead === 0) return null;
    this.readPos += bytesRead;
    return this.splitter.push(this.buf.subarray(0, bytesRead)).map((l) => ({ ...l, ino: cur.ino }));
  }

  private flushLast(): FileLine | null {
    const l = this.splitter.flush();
    return l ? { ...l, ino: this.current!.ino } : null;
  }

  /** What happened to the name since the current file was opened. */
  private async pathState(): Promise<PathState> {
    const st = await stat(this.file).catch(() => null);
    if (!st) return 'missing';
    if (st.ino !== this.current!.ino) return 'replaced';
    if (st.size < this.readPos) return 'truncated';
    return 'same';
  }

  /** Resume where a previous run stopped: in the same file, or in the file it was rotated to. */
  private async openAtStart(): Promise<void> {
    const start = this.opts.start;
    if (!start) return void (await this.openByName(0));
    const st = await stat(this.file).catch(() => null);
    if (st && st.ino === start.ino) {
      if (st.size < start.offset) this.opts.log?.info('followed file was truncated while stopped; reading it from the start', { file: this.file });
      return void (await this.openByName(st.size >= start.offset ? start.offset : 0));
    }
    const rotated = await this.findByInode(start.ino);
    if (rotated && rotated.size >= start.offset) {
      this.opts.log?.info('followed file was rotated while stopped; reading the rest of the old one first', { file: this.file, rotatedTo: rotated.name });
      if (await this.openFile(rotated.name, start.offset, start.ino)) return;
    }
    this.opts.log?.warn('the file read last time is gone; reading the current one from its start (lines written to the old one after the stop are lost)', { file: this.file });
    await this.openByName(0);
  }

  /** A file in the same directory with this inode (`app.log` renamed to `app.log.1`), if any. */
  private async findByInode(ino: number): Promise<{ name: string; size: number } | null> {
    const dir = path.dirname(this.file);
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const n of names) {
      const full = path.join(dir, n);
      const st = await stat(full).catch(() => null);
      if (st && st.isFile() && st.ino === ino) return { name: full, size: st.size };
    }
    return null;
  }

  private openByName(offset: number): Promise<boolean> {
    return this.openFile(this.file, offset, null);
  }

  private async openFile(name: string, offset: number, expectedIno: number | null): Promise<boolean> {
    const handle = await open(name, 'r').catch(() => null);
    if (!handle) return false;
    const st = await handle.stat();
    if (expectedIno !== null && st.ino !== expectedIno) {
      await handle.close();
      return false;
    }
    this.current = { handle, ino: st.ino, name };
    this.readPos = offset;
    this.splitter.reset(offset);
    return true;
  }

  private async closeCurrent(): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (cur) await cur.handle.close().catch(() => {});
  }
}
