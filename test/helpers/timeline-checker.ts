/**
 * A Jepsen-style checker for histories of a PNUTS-like record store with per-record timeline
 * consistency (docs: reference records-pnuts-ycsb.md §1.3, "Design notes" → "Timeline checker").
 *
 * The store exposes each record's version (gen, ver) and every written value is unique, so the
 * order of a key's updates can be read off the history: checking is validation, not search, and
 * costs O(n log n) per key. Outcomes follow Jepsen: `ok` happened, `fail` definitely did not,
 * `unknown` may have happened at any time after its invocation (even after it "completed"), so an
 * unknown op never bounds another op in real time and only counts as a write once its value is seen.
 *
 * Conventions the checker relies on:
 * - A read of a deleted record reports the tombstone's version with value null; version null with
 *   value null means "no record here" and is only ever stale, never a thin-air value. Version null
 *   compares as (0, 0), so a required version of (0, 0) is met by "no record".
 * - Every ok delete creates a new version (a store that treats deleting an absent record as a
 *   no-op must report it as `fail`).
 * - When `finals` is given, a key missing from a region's map means the record is absent there.
 * - Malformed input (duplicate ids or written values, ok ops without completion time or result,
 *   tas/readCritical without requiredVersion) is a harness bug: checkHistory throws.
 */

export type Version = readonly [gen: number, ver: number];
export type OpKind = 'readAny' | 'readCritical' | 'readLatest' | 'write' | 'tas' | 'delete';
export interface Op {
  id: number;
  process: string;
  region: string;
  f: OpKind;
  key: string;
  requiredVersion?: Version;
  value?: string | null;
  invokeAt: number;
  completeAt?: number;
  outcome: 'ok' | 'fail' | 'unknown';
  result?: { version: Version | null; value: string | null };
  error?: string;
}
export interface Apply { region: string; key: string; version: Version; value: string | null; seq: number }
export interface RecordState { version: Version | null; value: string | null }
export interface HistoryInput {
  ops: Op[];
  applies?: Apply[];
  finals?: Record<string, Record<string, RecordState>>;
  initial?: Record<string, RecordState>;
}
export interface Violation { rule: string; key: string; message: string; ops: number[] }
export interface CheckResult {
  ok: boolean;
  violations: Violation[];
  stats: { ops: number; keys: number; readAnyStaleness: { samples: number; maxVersionsBehind: number; meanVersionsBehind: number } };
}

export const RULES = [
  'fork', 'realtime-order', 'apply-order', 'thin-air', 'future-read',
  'read-critical', 'read-latest', 'tas', 'lost-write', 'convergence',
] as const;
export type Rule = (typeof RULES)[number];

const NO_VERSION: Version = [0, 0];

/** Lexicographic order on versions; null ("no record") counts as (0, 0), below every real version. */
export function compareVersions(a: Version | null, b: Version | null): number {
  const [x, y] = [a ?? NO_VERSION, b ?? NO_VERSION];
  return x[0] !== y[0] ? x[0] - y[0] : x[1] - y[1];
}

const vkey = (v: Version): string => `${v[0]}.${v[1]}`;
const fmt = (v: Version | null): string => (v ? `(${v[0]},${v[1]})` : 'none');
const show = (value: string | null): string => (value === null ? 'null' : JSON.stringify(value));
const isWrite = (op: Op): boolean => op.f === 'write' || op.f === 'tas' || op.f === 'delete';
const isRead = (op: Op): boolean => !isWrite(op);
const ABSENT: RecordState = { version: null, value: null };

/** One sighting of a (version, value) of a key: an ok write's result, an ok read, an apply, a final state, the initial state. */
interface Sighting {
  version: Version | null;
  value: string | null;
  /** The op whose result it is, if any. */
  op?: number;
  /** What it comes from: an op's result, an apply, a region's final state (finalIn), or the initial state (null). */
  from: Op | Apply | null;
  finalIn?: string;
}

function whereOf(s: Sighting): string {
  if (s.finalIn !== undefined) return `final state in ${s.finalIn}`;
  if (s.from === null) return 'initial state';
  return 'seq' in s.from ? `apply in ${s.from.region} (seq ${s.from.seq})` : `op ${s.from.id} (${s.from.f})`;
}

/** A write known to have taken effect, at its version: every ok write, and each unknown write/tas whose value was seen. */
interface Effective { op: Op; version: Version }

interface KeyHistory {
  key: string;
  writes: Op[];
  okReads: Op[];
  applies: Apply[];
  finals: Map<string, RecordState>;
  initial?: RecordState;
  sightings: Sighting[];
  writerOfValue: Map<string, Op>;
  okDeleteAt: Map<string, Op>;
  unknownDeletes: Op[];
  effective: Effective[];
  /** Distinct versions sighted for the key, ascending. */
  versions: Version[];
  /** For a sighted version: the op that wrote it if known, else the first op that saw it. */
  witness: Map<string, number>;
}

/** The rules, in the order their violations are listed for a key. */
const CHECKS: ((k: KeyHistory) => Violation[])[] = [
  checkFork, checkRealtimeOrder, checkApplyOrder, checkThinAir, checkFutureRead,
  checkReadCritical, checkReadLatest, checkTas, checkLostWrite, checkConvergence,
];

export function checkHistory(input: HistoryInput): CheckResult {
  assertWellFormed(input);
  const violations: Violation[] = [];
  const staleness = { samples: 0, max: 0, sum: 0 };
  const keys = groupByKey(input);
  for (const k of keys) {
    for (const check of CHECKS) for (const v of check(k)) violations.push(v);
    for (const behind of readAnyStaleness(k)) {
      staleness.samples++;
      staleness.sum += behind;
      staleness.max = Math.max(staleness.max, behind);
    }
  }
  return {
    ok: violations.length === 0,
    violations,
    stats: {
      ops: input.ops.length,
      keys: keys.length,
      readAnyStaleness: {
        samples: staleness.samples,
        maxVersionsBehind: staleness.max,
        meanVersionsBehind: staleness.samples ? staleness.sum / staleness.samples : 0,
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Rules: one function each, over one key.

/** fork: one value per (key, version) across ok writes, ok reads, applies, final states and the initial state. */
function checkFork(k: KeyHistory): Violation[] {
  const byVersion = new Map<string, Map<string | null, Sighting[]>>();
  for (const s of k.sightings) {
    if (!s.version) continue;
    const values = getOrSet(byVersion, vkey(s.version), () => new Map<string | null, Sighting[]>());
    getOrSet(values, s.value, () => []).push(s);
  }
  const out: Violation[] = [];
  for (const [version, values] of byVersion) {
    if (values.size < 2) continue;
    const ops: (number | undefined)[] = [];
    const seen: string[] = [];
    for (const [value, sightings] of values) {
      for (const s of sightings) ops.push(s.op);
      ops.push(writerOf(k, sightings[0].version!, value)?.id);
      seen.push(`${show(value)} (${sightings.map(whereOf).join(', ')})`);
    }
    out.push(violation('fork', k.key, `version ${version} has ${values.size} values: ${seen.join('; ')}`, ops));
  }
  return out;
}

/** realtime-order: a write that took effect after an ok write completed got a higher version. */
function checkRealtimeOrder(k: KeyHistory): Violation[] {
  const before = highestAckedBefore(k, k.effective.map((e) => e.op.invokeAt));
  return k.effective.flatMap((e, i) => {
    const a = before[i];
    if (!a || compareVersions(a.version, e.version) < 0) return [];
    const msg = `op ${e.op.id} (${e.op.f}, invoked at ${e.op.invokeAt}) got ${fmt(e.version)}, not above ${fmt(a.version)} of op ${a.op.id} (completed at ${a.op.completeAt})`;
    return [violation('realtime-order', k.key, msg, [a.op.id, e.op.id])];
  });
}

/** apply-order: each region applies a key's versions in strictly increasing order. */
function checkApplyOrder(k: KeyHistory): Violation[] {
  const out: Violation[] = [];
  for (let i = 1; i < k.applies.length; i++) {
    const [prev, cur] = [k.applies[i - 1], k.applies[i]];
    if (prev.region !== cur.region || compareVersions(prev.version, cur.version) < 0) continue;
    const msg = `${cur.region} applied ${fmt(cur.version)} (seq ${cur.seq}) after ${fmt(prev.version)} (seq ${prev.seq})`;
    out.push(violation('apply-order', k.key, msg, [writerOf(k, prev.version, prev.value)?.id, writerOf(k, cur.version, cur.value)?.id]));
  }
  return out;
}

/** thin-air: every value seen was written (ok or unknown) on this key, at one version (the assigned one if the write is ok), or is the initial state. */
function checkThinAir(k: KeyHistory): Violation[] {
  const out: Violation[] = [];
  const byValue = new Map<string, Sighting[]>();
  const tombstones = new Map<string, Sighting[]>();
  for (const s of k.sightings) {
    if (isInitial(k, s.version, s.value)) continue;
    if (s.version === null) {
      if (s.value !== null) out.push(violation('thin-air', k.key, `${whereOf(s)} holds ${show(s.value)} without a version`, [s.op]));
    } else if (s.value === null) getOrSet(tombstones, vkey(s.version), () => []).push(s);
    else getOrSet(byValue, s.value, () => []).push(s);
  }
  for (const [value, sightings] of byValue) {
    const problem = thinAirProblem(k, value, sightings);
    if (problem) out.push(violation('thin-air', k.key, problem.message, [...problem.sightings.map((s) => s.op), k.writerOfValue.get(value)?.id]));
  }
  for (const [version, sightings] of tombstones) {
    if (k.okDeleteAt.has(version) || k.unknownDeletes.length > 0) continue;
    out.push(violation('thin-air', k.key, `tombstone ${version} seen (${sightings.map(whereOf).join(', ')}) but no delete made it`, sightings.map((s) => s.op)));
  }
  return out;
}

function thinAirProblem(k: KeyHistory, value: string, sightings: Sighting[]): { message: string; sightings: Sighting[] } | undefined {
  const w = k.writerOfValue.get(value);
  const where = (ss: Sighting[]) => ss.map((s) => `${whereOf(s)} at ${fmt(s.version)}`).join(', ');
  if (!w) return { message: `${show(value)} was never written to this key, yet seen by ${where(sightings)}`, sightings };
  if (w.outcome === 'fail') return { message: `${show(value)} of failed op ${w.id} seen by ${where(sightings)}`, sightings };
  if (w.outcome === 'ok') {
    const wrong = sightings.filter((s) => compareVersions(s.version, w.result!.version) !== 0);
    if (wrong.length === 0) return undefined;
    return { message: `${show(value)} was assigned ${fmt(w.result!.version)} (op ${w.id}) but seen by ${where(wrong)}`, sightings: wrong };
  }
  const versions = new Set(sightings.map((s) => vkey(s.version!)));
  if (versions.size < 2) return undefined;
  return { message: `${show(value)} of unknown op ${w.id} seen at ${versions.size} versions: ${where(sightings)}`, sightings };
}

/** future-read: the write whose value a read returns was invoked no later than the read completed. */
function checkFutureRead(k: KeyHistory): Violation[] {
  const out: Violation[] = [];
  for (const r of k.okReads) {
    const { version, value } = r.result!;
    if (version === null || isInitial(k, version, value)) continue;
    const writers = candidateWriters(k, version, value);
    if (writers.length === 0 || writers.some((w) => w.invokeAt <= r.completeAt!)) continue; // no writer: thin-air's business
    const msg = `op ${r.id} (${r.f}) completed at ${r.completeAt} with ${show(value)} at ${fmt(version)}, written by an op invoked at ${writers[0].invokeAt}`;
    out.push(violation('future-read', k.key, msg, [r.id, ...writers.map((w) => w.id)]));
  }
  return out;
}

/** The ops that may have written (version, value): the writer of the value; for a tombstone, the ok delete at that version, else every unknown delete. */
function candidateWriters(k: KeyHistory, version: Version, value: string | null): Op[] {
  if (value !== null) return k.writerOfValue.has(value) ? [k.writerOfValue.get(value)!] : [];
  return k.okDeleteAt.has(vkey(version)) ? [k.okDeleteAt.get(vkey(version))!] : k.unknownDeletes;
}

/** read-critical: an ok readCritical returns at least its required version. */
function checkReadCritical(k: KeyHistory): Violation[] {
  return k.okReads
    .filter((r) => r.f === 'readCritical' && compareVersions(r.result!.version, r.requiredVersion!) < 0)
    .map((r) => violation('read-critical', k.key, `op ${r.id} required ${fmt(r.requiredVersion!)} but read ${fmt(r.result!.version)}`, [r.id]));
}

/** read-latest: an ok readLatest returns at least the highest version acknowledged before it was invoked. */
function checkReadLatest(k: KeyHistory): Violation[] {
  const reads = k.okReads.filter((r) => r.f === 'readLatest');
  const before = highestAckedBefore(k, reads.map((r) => r.invokeAt));
  return reads.flatMap((r, i) => {
    const a = before[i];
    if (!a || compareVersions(r.result!.version, a.version) >= 0) return [];
    const msg = `op ${r.id} (invoked at ${r.invokeAt}) read ${fmt(r.result!.version)}, but op ${a.op.id} had acknowledged ${fmt(a.version)} at ${a.op.completeAt}`;
    return [violation('read-latest', k.key, msg, [r.id, a.op.id])];
  });
}

/** tas: at most one successful tas per required version r, and it got the version right after r (none seen in between). */
function checkTas(k: KeyHistory): Violation[] {
  const out: Violation[] = [];
  const succeeded = k.effective.filter((e) => e.op.f === 'tas');
  const byRequired = new Map<string, Effective[]>();
  for (const e of succeeded) getOrSet(byRequired, vkey(e.op.requiredVersion!), () => []).push(e);
  for (const [r, es] of byRequired) {
    if (es.length > 1) out.push(violation('tas', k.key, `${es.length} tas ops succeeded on required version ${r}: ops ${es.map((e) => e.op.id).join(', ')}`, es.map((e) => e.op.id)));
  }
  for (const { op, version } of succeeded) {
    const r = op.requiredVersion!;
    const next = k.versions[countUpTo(k.versions, r)];
    if (compareVersions(version, r) <= 0) {
      out.push(violation('tas', k.key, `tas op ${op.id} on ${fmt(r)} got ${fmt(version)}, not above it`, [op.id]));
    } else if (next && compareVersions(next, version) < 0) {
      out.push(violation('tas', k.key, `tas op ${op.id} on ${fmt(r)} got ${fmt(version)}, but ${fmt(next)} lies between`, [op.id, k.witness.get(vkey(next))]));
    }
  }
  return out;
}

/** lost-write: no region ends below the highest version acknowledged or seen during the history. */
function checkLostWrite(k: KeyHistory): Violation[] {
  const peak = k.sightings.filter((s) => s.finalIn === undefined).reduce<Version | null>((m, s) => (compareVersions(s.version, m) > 0 ? s.version : m), null);
  const out: Violation[] = [];
  for (const [region, final] of k.finals) {
    if (compareVersions(final.version, peak) >= 0) continue;
    const lost = k.writes.filter((w) => w.outcome === 'ok' && compareVersions(w.result!.version, final.version) > 0).map((w) => w.id);
    const msg = `${region} ends at ${fmt(final.version)} but ${fmt(peak)} was acknowledged or seen` + (lost.length ? ` (acknowledged writes lost there: ops ${lost.join(', ')})` : '');
    out.push(violation('lost-write', k.key, msg, lost.length ? lost : [k.witness.get(vkey(peak!))]));
  }
  return out;
}

/** convergence: after healing, every region holds the same version and value. */
function checkConvergence(k: KeyHistory): Violation[] {
  const states = [...k.finals].map(([region, s]) => ({ region, ...s, text: `${fmt(s.version)}=${show(s.value)}` }));
  if (new Set(states.map((s) => s.text)).size < 2) return [];
  const msg = `regions disagree: ${states.map((s) => `${s.region} ${s.text}`).join(', ')}`;
  return [violation('convergence', k.key, msg, states.map((s) => (s.version ? writerOf(k, s.version, s.value)?.id : undefined)))];
}

/** For each ok readAny: how many sighted versions lie above what it read, up to the highest version acknowledged before it was invoked. */
function readAnyStaleness(k: KeyHistory): number[] {
  const reads = k.okReads.filter((r) => r.f === 'readAny');
  const before = highestAckedBefore(k, reads.map((r) => r.invokeAt));
  return reads.map((r, i) => {
    const a = before[i];
    return a ? Math.max(0, countUpTo(k.versions, a.version) - countUpTo(k.versions, r.result!.version)) : 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Indexing.

function groupByKey(input: HistoryInput): KeyHistory[] {
  const keys = new Map<string, KeyHistory>();
  const at = (key: string) => getOrSet(keys, key, () => newKeyHistory(key, input.initial?.[key]));
  for (const op of input.ops) {
    const k = at(op.key);
    if (isWrite(op)) k.writes.push(op);
    else if (op.outcome === 'ok') k.okReads.push(op);
  }
  const applies = [...(input.applies ?? [])].sort((a, b) => (a.region < b.region ? -1 : a.region > b.region ? 1 : a.seq - b.seq));
  for (const a of applies) at(a.key).applies.push(a);
  for (const key of Object.keys(input.initial ?? {})) at(key);
  const regions = Object.keys(input.finals ?? {}).sort();
  for (const region of regions) for (const key of Object.keys(input.finals![region])) at(key);
  const sorted = [...keys.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const k of sorted) {
    for (const region of regions) k.finals.set(region, input.finals![region][k.key] ?? ABSENT);
    indexKey(k);
  }
  return sorted;
}

function newKeyHistory(key: string, initial: RecordState | undefined): KeyHistory {
  return {
    key, initial, writes: [], okReads: [], applies: [], finals: new Map(), sightings: [], writerOfValue: new Map(),
    okDeleteAt: new Map(), unknownDeletes: [], effective: [], versions: [], witness: new Map(),
  };
}

function indexKey(k: KeyHistory): void {
  const sight = (version: Version | null, value: string | null, from: Op | Apply | null, finalIn?: string) => {
    if (version !== null || value !== null) k.sightings.push({ version, value, op: from && 'id' in from ? from.id : undefined, from, finalIn });
  };
  if (k.initial) sight(k.initial.version, k.initial.value, null);
  for (const w of k.writes) {
    if (w.f !== 'delete') k.writerOfValue.set(w.value!, w);
    else if (w.outcome === 'ok') k.okDeleteAt.set(vkey(w.result!.version!), w);
    else if (w.outcome === 'unknown') k.unknownDeletes.push(w);
    if (w.outcome === 'ok') sight(w.result!.version, w.value ?? null, w);
  }
  for (const r of k.okReads) sight(r.result!.version, r.result!.value, r);
  for (const a of k.applies) sight(a.version, a.value, a);
  for (const [region, s] of k.finals) sight(s.version, s.value, null, region);

  const seenAt = new Map<string, Version>();
  const unknownSeen = new Map<string, Effective>(); // an unknown write whose value is seen took effect, at the lowest version seen
  for (const s of k.sightings) {
    if (!s.version) continue;
    const vk = vkey(s.version);
    if (!seenAt.has(vk)) seenAt.set(vk, s.version);
    if (s.op !== undefined && !k.witness.has(vk)) k.witness.set(vk, s.op);
    const w = s.value !== null ? k.writerOfValue.get(s.value) : undefined;
    if (w?.outcome !== 'unknown') continue;
    const e = getOrSet(unknownSeen, s.value!, () => ({ op: w, version: s.version! }));
    if (compareVersions(s.version, e.version) < 0) e.version = s.version;
  }
  for (const w of k.writes) if (w.outcome === 'ok') k.effective.push({ op: w, version: w.result!.version! });
  for (const e of unknownSeen.values()) k.effective.push(e);
  for (const e of k.effective) k.witness.set(vkey(e.version), e.op.id);
  k.versions = [...seenAt.values()].sort(compareVersions);
}

/** For each time t: the ok write of the key with the highest version among those that completed before t. */
function highestAckedBefore(k: KeyHistory, times: number[]): (Effective | undefined)[] {
  const acked = k.effective.filter((e) => e.op.outcome === 'ok').sort((a, b) => a.op.completeAt! - b.op.completeAt!);
  const order = times.map((_, i) => i).sort((a, b) => times[a] - times[b]);
  const out: (Effective | undefined)[] = new Array(times.length);
  let best: Effective | undefined;
  let j = 0;
  for (const i of order) {
    for (; j < acked.length && acked[j].op.completeAt! < times[i]; j++) {
      if (!best || compareVersions(acked[j].version, best.version) > 0) best = acked[j];
    }
    out[i] = best;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

function isInitial(k: KeyHistory, version: Version | null, value: string | null): boolean {
  return !!k.initial && compareVersions(k.initial.version, version) === 0 && k.initial.value === value;
}

/** The op that wrote (version, value), if one op can be named: the writer of the value, or the ok delete at that version. */
function writerOf(k: KeyHistory, version: Version, value: string | null): Op | undefined {
  const writers = candidateWriters(k, version, value);
  return writers.length === 1 ? writers[0] : undefined;
}

/** How many of the ascending `versions` are ≤ v (null: none). */
function countUpTo(versions: Version[], v: Version | null): number {
  let [lo, hi] = [0, versions.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareVersions(versions[mid], v) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function violation(rule: Rule, key: string, message: string, ops: Iterable<number | undefined>): Violation {
  const ids = [...new Set([...ops].filter((id): id is number => id !== undefined))].sort((a, b) => a - b);
  return { rule, key, message, ops: ids };
}

function getOrSet<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = make();
    map.set(key, v);
  }
  return v;
}

function assertWellFormed(input: HistoryInput): void {
  const ids = new Set<number>();
  const values = new Set<string>();
  const fail = (op: Op, why: string) => {
    throw new Error(`malformed history: op ${op.id} ${why}`);
  };
  for (const op of input.ops) {
    if (ids.has(op.id)) fail(op, 'has a duplicate id');
    ids.add(op.id);
    if (op.outcome === 'ok' && (op.completeAt === undefined || !op.result)) fail(op, 'is ok without completeAt or result');
    if (op.completeAt !== undefined && op.completeAt < op.invokeAt) fail(op, 'completed before it was invoked');
    if ((op.f === 'tas' || op.f === 'readCritical') && !op.requiredVersion) fail(op, 'has no requiredVersion');
    if (isRead(op)) continue;
    if (op.outcome === 'ok' && !op.result!.version) fail(op, 'is an ok write without an assigned version');
    if (op.f === 'delete') {
      if (op.value != null) fail(op, 'is a delete with a value');
      continue;
    }
    if (typeof op.value !== 'string') fail(op, 'writes no string value');
    if (values.has(op.value!)) fail(op, `writes ${show(op.value!)}, already written by another op`);
    values.add(op.value!);
  }
}
