import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FilePosition } from './tail-follower.js';

/**
 * How far a followed file has been handed over (acknowledged by the broker, spooled or dropped by
 * policy): `<dir>/<category>.<sha1(path), 12 hex>.json` holding {"path", "ino", "offset"}.
 * Written whole to a temporary file and renamed over the old one, so a crash leaves either.
 */
export class InputCheckpoint {
  readonly file: string;
  private saved: FilePosition | null;
  private latest: FilePosition | null;

  constructor(
    dir: string,
    category: string,
    readonly input: string,
  ) {
    mkdirSync(dir, { recursive: true });
    const id = createHash('sha1').update(path.resolve(input)).digest('hex').slice(0, 12);
    this.file = path.join(dir, `${category}.${id}.json`);
    this.saved = this.load();
    this.latest = this.saved;
  }

  /** Where the previous run stopped, or null. */
  get position(): FilePosition | null {
    return this.latest;
  }

  /** Note progress (in memory; `save` writes it). */
  advance(pos: FilePosition): void {
    this.latest = pos;
  }

  /** Write the latest position if it changed since the last save. */
  save(): void {
    const p = this.latest;
    if (!p || (this.saved && this.saved.ino === p.ino && this.saved.offset === p.offset)) return;
    const tmp = this.file + '.tmp';
    writeFileSync(tmp, JSON.stringify({ path: path.resolve(this.input), ino: p.ino, offset: p.offset }) + '\n');
    renameSync(tmp, this.file);
    this.saved = p;
  }

  private load(): FilePosition | null {
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as { ino?: unknown; offset?: unknown };
      if (typeof v.ino === 'number' && typeof v.offset === 'number' && v.offset >= 0) return { ino: v.ino, offset: v.offset };
    } catch {
      /* none yet, or unreadable: start from the beginning */
    }
    return null;
  }
}
