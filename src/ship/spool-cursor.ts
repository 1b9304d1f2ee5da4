import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the next line of a category is expected to land in its topic (if nobody else writes there). */
export interface ExpectedOffset {
  partition: number;
  offset: number;
}

export interface SpoolCursorState {
  /** The first spooled line not yet acknowledged by the broker. */
  next: number;
  /** Where the line at `next` lands when sent, as far as known: what a resend is checked against. */
  expected: ExpectedOffset | null;
}

/**
 * The durable cursor of a category's spool, `<spool>/<category>/cursor.json`:
 * {"next": spool offset, "expected": {"partition", "offset"} | null}. Both fields are written
 * together (temporary file renamed over the old one), so after a crash they still describe the
 * same moment: the lines from `next` on were not acknowledged, and those of them the broker
 * stored after all are found from `expected` on (docs/ship.md, "Guarantees").
 */
export class SpoolCursor {
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, 'cursor.json');
  }

  load(): SpoolCursorState {
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<SpoolCursorState>;
      const next = typeof v.next === 'number' && v.next >= 0 ? v.next : 0;
      const e = v.expected;
      const expected = e && typeof e.partition === 'number' && typeof e.offset === 'number' ? { partition: e.partition, offset: e.offset } : null;
      return { next, expected };
    } catch {
      return { next: 0, expected: null };
    }
  }

  save(state: SpoolCursorState): void {
    const tmp = this.file + '.tmp';
    writeFileSync(tmp, JSON.stringify(state) + '\n');
    renameSync(tmp, this.file);
  }
}
