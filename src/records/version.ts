import { DecodeError } from '../core/bytes.js';

/**
 * A record's version, as PNUTS numbers them: (generation, sequence). An insert (a write to an
 * absent or deleted record) starts the next generation at sequence 1; every later update and the
 * delete bump the sequence. Versions compare lexicographically. (0, 0) is "no record ever".
 */
export type Version = readonly [gen: number, ver: number];

export const NO_VERSION: Version = [0, 0];

export function compareVersions(a: Version, b: Version): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** The text form users see and send back: "gen.ver", e.g. "1.5". */
export function formatVersion(v: Version): string {
  return `${v[0]}.${v[1]}`;
}

const VERSION_TEXT = /^(\d{1,10})\.(\d{1,10})$/;

export function parseVersion(text: string): Version {
  const m = VERSION_TEXT.exec(text);
  if (!m) throw new DecodeError(`version must look like "gen.ver" (e.g. "1.5"), not ${JSON.stringify(text)}`);
  const v: Version = [Number(m[1]), Number(m[2])];
  if (v[0] > 0xffffffff || v[1] > 0xffffffff) throw new DecodeError(`version ${text} is out of range`);
  return v;
}
