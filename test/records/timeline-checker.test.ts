// The timeline checker (test/helpers/timeline-checker.ts) against histories of a reference model of a
// PNUTS-like store: a per-key master timeline, regions that apply it in order with lag and skips,
// mastership moves, clients with real-time intervals and ok/fail/unknown outcomes (unknown writes
// may take effect late, or never). Valid model histories must pass; each injected violation must be
// reported under its rule and no unrelated rule; hand-written histories pin every rule's exact output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkHistory, compareVersions, type Apply, type HistoryInput, type Op, type OpKind, type RecordState, type Version,
} from '../helpers/timeline-checker.js';

// ---------------------------------------------------------------------------------------------
// Reference model.

const KINDS: OpKind[] = ['readAny', 'readCritical', 'readLatest', 'write', 'tas', 'delete'];
const ABSENT: RecordState = { version: null, value: null };
const isWriteKind = (f: OpKind) => f === 'write' || f === 'tas' || f === 'delete';

type Action =
  | { t: 'invoke'; p: number; f: number; key: number; pick: number; dt: number }
  | { t: 'effect'; p: number; dt: number }
  | { t: 'complete'; p: number; mode: number; dt: number }
  | { t: 'deliver'; region: number; key: number; jump: number; dt: number }
  | { t: 'move'; key: number; region: number; dt: number }
  | { t: 'zombie'; i: number; dt: number };

interface Shape {
  regions: number;
  keys: number;
  procsPerRegion: number;
  /** Per key: 0 no record before the history, 1 a live record, 2 a tombstone. */
  initial: number[];
  /** Whether writes left without an answer take effect while healing. */
  healZombies: boolean;
}

type Effect = { ok: true; state: RecordState } | { ok: false; error: string };
interface Pending { op: Op; effect?: Effect }
interface Proc { name: string; region: string; incarnation: number; pending?: Pending }

class Model {
  private clock = 1000;
  private nextId = 0;
  readonly regions: string[];
  readonly keys: string[];
  private readonly timeline = new Map<string, RecordState[]>();
  private readonly master = new Map<string, string>();
  /** region → key → index into the key's timeline (-1: nothing yet). */
  private readonly replica = new Map<string, Map<string, number>>();
  private readonly seq = new Map<string, number>();
  private readonly procs: Proc[] = [];
  private readonly zombies: Pending[] = [];
  readonly ops: Op[] = [];
  readonly applies: Apply[] = [];
  readonly initial: Record<string, RecordState> = {};

  constructor(private readonly shape: Shape) {
    this.regions = ['east', 'west', 'asia'].slice(0, shape.regions);
    this.keys = Array.from({ length: shape.keys }, (_, i) => `k${i}`);
    for (const r of this.regions) {
      this.replica.set(r, new Map());
      this.seq.set(r, 0);
      for (let i = 0; i < shape.procsPerRegion; i++) this.procs.push({ name: `${r}-c${i}`, region: r, incarnation: 0 });
    }
    this.keys.forEach((key, i) => {
      this.master.set(key, this.regions[i % this.regions.length]);
      const kind = shape.initial[i % shape.initial.length];
      const start: RecordState[] = kind === 1 ? [{ version: [2, 3], value: `init-${key}` }] : kind === 2 ? [{ version: [1, 4], value: null }] : [];
      this.timeline.set(key, start);
      for (const r of this.regions) this.replica.get(r)!.set(key, start.length - 1);
      if (start.length) this.initial[key] = start[0];
    });
  }

  step(a: Action): void {
    this.clock += a.dt;
    const proc = 'p' in a ? this.procs[a.p % this.procs.length] : undefined;
    const key = 'key' in a ? this.keys[a.key % this.keys.length] : '';
    const region = 'region' in a ? this.regions[a.region % this.regions.length] : '';
    switch (a.t) {
      case 'invoke': return this.invoke(proc!, KINDS[a.f % KINDS.length], key, a.pick);
      case 'effect': return proc!.pending && !proc!.pending.effect ? this.effect(proc!.pending) : undefined;
      case 'complete': return this.complete(proc!, a.mode % 10);
      case 'deliver': return this.deliver(region, key, a.jump);
      case 'move': return this.move(key, region);
      case 'zombie': return this.zombies.length ? this.effect(this.zombies.splice(a.i % this.zombies.length, 1)[0]) : undefined;
    }
  }

  /** Faults heal: late writes land (or not), every region catches up, the history is handed over. */
  finish(): HistoryInput {
    const late = [...this.zombies, ...this.procs.flatMap((p) => (p.pending && isWriteKind(p.pending.op.f) && !p.pending.effect ? [p.pending] : []))];
    if (this.shape.healZombies) for (const z of late) this.effect(z);
    const finals: Record<string, Record<string, RecordState>> = {};
    for (const r of this.regions) {
      finals[r] = {};
      for (const key of this.keys) {
        this.catchUp(r, key);
        const state = this.replicaState(r, key);
        if (state.version) finals[r][key] = state;
      }
    }
    return { ops: this.ops, applies: this.applies, finals, initial: this.initial };
  }

  get opCount(): number {
    return this.ops.length;
  }

  private invoke(proc: Proc, f: OpKind, key: string, pick: number): void {
    if (proc.pending) return;
    const id = ++this.nextId;
    const op: Op = { id, process: `${proc.name}.${proc.incarnation}`, region: proc.region, f, key, invokeAt: this.clock, outcome: 'unknown' };
    if (f === 'write' || f === 'tas') op.value = `v${id}`;
    if (f === 'delete') op.value = null;
    if (f === 'tas' || f === 'readCritical') op.requiredVersion = this.someVersion(key, proc.region, pick) ?? [1, 1];
    this.ops.push(op);
    proc.pending = { op };
  }

  /** A version a client could plausibly know: the master's, its region's, or any earlier one. */
  private someVersion(key: string, region: string, pick: number): Version | null {
    const tl = this.timeline.get(key)!;
    if (pick % 3 === 0) return this.latest(key).version;
    if (pick % 3 === 1) return this.replicaState(region, key).version;
    return tl.length ? tl[pick % tl.length].version : null;
  }

  private effect(p: Pending): void {
    const { op } = p;
    const latest = this.latest(op.key);
    const local = this.replicaState(op.region, op.key);
    const tombstoneOrAbsent = latest.value === null;
    let e: Effect;
    switch (op.f) {
      case 'readAny': e = { ok: true, state: local };
        break;
      case 'readLatest': e = { ok: true, state: latest };
        break;
      case 'readCritical':
        if (compareVersions(local.version, op.requiredVersion!) >= 0) e = { ok: true, state: local };
        else if (op.id % 2 === 0 && compareVersions(latest.version, op.requiredVersion!) >= 0) e = { ok: true, state: latest };
        else e = { ok: false, error: 'unavailable' };
        break;
      case 'write': e = { ok: true, state: this.commit(op.key, op.value!) };
        break;
      case 'tas':
        e = compareVersions(latest.version, op.requiredVersion!) === 0 ? { ok: true, state: this.commit(op.key, op.value!) } : { ok: false, error: 'version mismatch' };
        break;
      case 'delete': e = tombstoneOrAbsent ? { ok: false, error: 'not found' } : { ok: true, state: this.commit(op.key, null) };
    }
    p.effect = e;
  }

  private complete(proc: Proc, mode: number): void {
    const p = proc.pending;
    if (!p) return;
    proc.pending = undefined;
    const { op } = p;
    if (mode === 7 || mode === 8) {
      // The answer is lost: a write that has not happened yet may still happen later.
      if (mode === 7) op.completeAt = this.clock;
      if (!p.effect && isWriteKind(op.f)) this.zombies.push(p);
      proc.incarnation++;
      return;
    }
    op.completeAt = this.clock;
    if (mode === 6 && !p.effect) {
      op.outcome = 'fail';
      op.error = 'unavailable';
      return;
    }
    if (!p.effect) this.effect(p);
    const e = p.effect!;
    if (e.ok) {
      op.outcome = 'ok';
      op.result = { ...e.state };
    } else {
      op.outcome = 'fail';
      op.error = e.error;
    }
  }

  private commit(key: string, value: string | null): RecordState {
    const cur = this.latest(key).version;
    const version: Version = !cur ? [1, 1] : this.latest(key).value === null && value !== null ? [cur[0] + 1, 1] : [cur[0], cur[1] + 1];
    const tl = this.timeline.get(key)!;
    tl.push({ version, value });
    this.apply(this.master.get(key)!, key, tl.length - 1);
    return { version, value };
  }

  private deliver(region: string, key: string, jump: number): void {
    const at = this.replica.get(region)!.get(key)!;
    const last = this.timeline.get(key)!.length - 1;
    if (at < last) this.apply(region, key, Math.min(last, at + jump));
  }

  private move(key: string, region: string): void {
    this.catchUp(region, key);
    this.master.set(key, region);
  }

  private catchUp(region: string, key: string): void {
    const last = this.timeline.get(key)!.length - 1;
    if (this.replica.get(region)!.get(key)! < last) this.apply(region, key, last);
  }

  private apply(region: string, key: string, index: number): void {
    this.replica.get(region)!.set(key, index);
    const seq = this.seq.get(region)! + 1;
    this.seq.set(region, seq);
    const { version, value } = this.timeline.get(key)![index];
    this.applies.push({ region, key, version: version!, value, seq });
  }

  private latest(key: string): RecordState {
    const tl = this.timeline.get(key)!;
    return tl.length ? tl[tl.length - 1] : ABSENT;
  }

  private replicaState(region: string, key: string): RecordState {
    const at = this.replica.get(region)!.get(key)!;
    return at >= 0 ? this.timeline.get(key)![at] : ABSENT;
  }
}

const dt = fc.nat(2);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('invoke' as const), p: fc.nat(99), f: fc.nat(5), key: fc.nat(9), pick: fc.nat(99), dt }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('effect' as const), p: fc.nat(99), dt }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('complete' as const), p: fc.nat(99), mode: fc.nat(9), dt }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('deliver' as const), region: fc.nat(9), key: fc.nat(9), jump: fc.integer({ min: 1, max: 3 }), dt }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('move' as const), key: fc.nat(9), region: fc.nat(9), dt }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('zombie' as const), i: fc.nat(99), dt }) },
);
const shapeArb: fc.Arbitrary<Shape> = fc.record({
  regions: fc.integer({ min: 2, max: 3 }),
  keys: fc.integer({ min: 1, max: 3 }),
  procsPerRegion: fc.integer({ min: 1, max: 3 }),
  initial: fc.array(fc.nat(2), { minLength: 1, maxLength: 3 }),
  healZombies: fc.boolean(),
});
/** Valid histories: the model run on generated actions. */
const validHistory: fc.Arbitrary<HistoryInput> = fc
  .tuple(shapeArb, fc.array(actionArb, { minLength: 30, maxLength: 250 }))
  .map(([shape, actions]) => {
    const m = new Model(shape);
    for (const a of actions) m.step(a);
    return m.finish();
  });

/** A large valid history from a seeded PRNG (mulberry32), for scale and coverage checks. */
function bigHistory(seed: number, ops: number, keys: number, healZombies: boolean): HistoryInput {
  let s = seed >>> 0;
  const rnd = (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
  const m = new Model({ regions: 3, keys, procsPerRegion: 20, initial: [0, 1, 2], healZombies });
  while (m.opCount < ops) {
    const c = rnd(18);
    const d = rnd(2);
    if (c < 5) m.step({ t: 'invoke', p: rnd(1000), f: rnd(6), key: rnd(keys), pick: rnd(1000), dt: d });
    else if (c < 7) m.step({ t: 'effect', p: rnd(1000), dt: d });
    else if (c < 12) m.step({ t: 'complete', p: rnd(1000), mode: rnd(10), dt: d });
    else if (c < 16) m.step({ t: 'deliver', region: rnd(3), key: rnd(keys), jump: 1 + rnd(3), dt: d });
    else if (c < 17) m.step({ t: 'move', key: rnd(keys), region: rnd(3), dt: d });
    else m.step({ t: 'zombie', i: rnd(1000), dt: d });
  }
  return m.finish();
}

// ---------------------------------------------------------------------------------------------
// Properties over valid histories.

function assertValid(h: HistoryInput): void {
  const r = checkHistory(h);
  assert.deepEqual(r.violations, [], 'a valid history was reported');
  assert.equal(r.ok, true);
  assert.equal(r.stats.ops, h.ops.length);
}

test('every history of the reference model passes', () => {
  fc.assert(fc.property(validHistory, assertValid), { numRuns: 400 });
});

test('outcomes weakened to unknown (ok or fail → unknown, answer dropped) never cause a violation', () => {
  fc.assert(
    fc.property(validHistory, fc.array(fc.boolean(), { minLength: 1 }), fc.boolean(), (h, which, keepCompleteAt) => {
      const w = structuredClone(h);
      w.ops.forEach((op, i) => {
        if (!which[i % which.length]) return;
        op.outcome = 'unknown';
        delete op.result;
        delete op.error;
        if (!keepCompleteAt) delete op.completeAt;
      });
      assertValid(w);
    }),
    { numRuns: 200 },
  );
});

test('the model exercises what the checker checks: unknown writes seen later, mismatched tas, stale reads, skips, moves', () => {
  const h = bigHistory(7, 5000, 20, false);
  const ops = h.ops;
  const seenValues = new Set([...ops.map((o) => o.result?.value), ...h.applies!.map((a) => a.value)]);
  for (const f of KINDS) assert.ok(ops.some((o) => o.f === f && o.outcome === 'ok'), `an ok ${f}`);
  assert.ok(ops.some((o) => o.f === 'write' && o.outcome === 'unknown' && seenValues.has(o.value)), 'an unknown write whose value is seen');
  assert.ok(ops.some((o) => o.f === 'write' && o.outcome === 'unknown' && !seenValues.has(o.value)), 'an unknown write never seen');
  assert.ok(ops.some((o) => o.f === 'tas' && o.error === 'version mismatch'), 'a tas failing on a version mismatch');
  assert.ok(ops.some((o) => o.f === 'readCritical' && o.outcome === 'fail'), 'a readCritical failing');
  assert.ok(ops.some((o) => o.f === 'delete' && o.outcome === 'ok') && ops.some((o) => !isWriteKind(o.f) && o.result?.version && o.result.value === null), 'tombstones read');
  const r = checkHistory(h);
  assert.deepEqual(r.violations, []);
  assert.ok(r.stats.readAnyStaleness.maxVersionsBehind >= 2, 'stale readAny');
  assert.ok(r.stats.readAnyStaleness.meanVersionsBehind > 0);
  assert.equal(r.stats.keys, 20);
  const last = new Map<string, Apply>();
  const skipped = h.applies!.some((a) => {
    const prev = last.get(`${a.region}/${a.key}`);
    last.set(`${a.region}/${a.key}`, a);
    return prev !== undefined && prev.version[0] === a.version[0] && a.version[1] > prev.version[1] + 1;
  });
  assert.ok(skipped, 'a region skipped versions');
});

test('a valid history of 200,000 ops is checked (and passes)', (t) => {
  const h = bigHistory(42, 200_000, 2000, true);
  assert.equal(h.ops.length, 200_000);
  const started = performance.now();
  const r = checkHistory(h);
  t.diagnostic(`checked ${h.ops.length} ops and ${h.applies!.length} applies in ${Math.round(performance.now() - started)} ms`);
  assert.deepEqual(r.violations.slice(0, 3), []);
  assert.equal(r.stats.ops, 200_000);
  assert.ok(r.stats.readAnyStaleness.samples > 10_000);
});

// ---------------------------------------------------------------------------------------------
// Mutations: one injected violation of one kind is reported under its rule, and under no rule it cannot cause.

interface Mutant { input: HistoryInput; key: string; op?: number }
type Mutation = (h: HistoryInput, pick: number) => Mutant | undefined;

const choose = <T>(xs: T[], pick: number): T | undefined => (xs.length ? xs[pick % xs.length] : undefined);
const okWrites = (h: HistoryInput, key?: string) => h.ops.filter((o) => isWriteKind(o.f) && o.outcome === 'ok' && (key === undefined || o.key === key));
const okReads = (h: HistoryInput) => h.ops.filter((o) => !isWriteKind(o.f) && o.outcome === 'ok');
const sameVersion = (a: Version | null, b: Version | null) => compareVersions(a, b) === 0;
const maxVersion = (vs: (Version | null)[]) => vs.reduce<Version | null>((m, v) => (compareVersions(v, m) > 0 ? v : m), null);

/** The genuine (version, value) of a key with the highest version below `limit` (no record if none). */
function stateBelow(h: HistoryInput, key: string, limit: Version | null): RecordState {
  const states: RecordState[] = [
    ...(h.initial?.[key] ? [h.initial[key]] : []),
    ...okWrites(h, key).map((o) => o.result!),
    ...h.applies!.filter((a) => a.key === key),
  ];
  const best = states.filter((s) => compareVersions(s.version, limit) < 0).reduce((m, s) => (compareVersions(s.version, m.version) > 0 ? s : m), ABSENT);
  return { version: best.version, value: best.value };
}

const mutations: Record<string, { rule: string; allowed: string[]; mutate: Mutation }> = {
  'a read sees another write\'s value at an acknowledged version': {
    rule: 'fork',
    allowed: ['fork', 'thin-air', 'future-read'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const r = choose(okReads(h).filter((o) => okWrites(h, o.key).some((w) => o.result!.version && sameVersion(w.result!.version, o.result!.version))), pick);
      const other = r && choose(okWrites(h, r.key).filter((w) => w.f !== 'delete' && w.value !== r.result!.value), pick >> 4);
      if (!r || !other) return undefined;
      r.result = { version: r.result!.version, value: other.value! };
      return { input: h, key: r.key, op: r.id };
    },
  },
  'a readLatest returns a version older than one acknowledged before it began': {
    rule: 'read-latest',
    allowed: ['read-latest'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const acked = (r: Op) => maxVersion(okWrites(h, r.key).filter((w) => w.completeAt! < r.invokeAt).map((w) => w.result!.version));
      const r = choose(okReads(h).filter((o) => o.f === 'readLatest' && acked(o)), pick);
      if (!r) return undefined;
      r.result = stateBelow(h, r.key, acked(r));
      return { input: h, key: r.key, op: r.id };
    },
  },
  'a readCritical returns a version older than required': {
    rule: 'read-critical',
    allowed: ['read-critical'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const r = choose(okReads(h), pick);
      if (!r) return undefined;
      const v = r.result!.version;
      r.f = 'readCritical';
      r.requiredVersion = v ? [v[0], v[1] + 1] : [1, 1];
      return { input: h, key: r.key, op: r.id };
    },
  },
  'two tas succeed on one required version': {
    rule: 'tas',
    allowed: ['tas'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const t = choose(okWrites(h).filter((o) => o.f === 'tas'), pick);
      const w = t && choose(okWrites(h, t.key).filter((o) => o.f !== 'delete' && compareVersions(o.result!.version, t.result!.version) > 0), pick >> 4);
      if (!t || !w) return undefined;
      w.f = 'tas';
      w.requiredVersion = t.requiredVersion;
      return { input: h, key: t.key, op: w.id };
    },
  },
  'a region applies two updates of a key in reverse order': {
    rule: 'apply-order',
    allowed: ['apply-order'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const pairs: [Apply, Apply][] = [];
      const last = new Map<string, Apply>();
      for (const a of h.applies!) {
        const prev = last.get(`${a.region}/${a.key}`);
        if (prev) pairs.push([prev, a]);
        last.set(`${a.region}/${a.key}`, a);
      }
      const pair = choose(pairs, pick);
      if (!pair) return undefined;
      [pair[0].seq, pair[1].seq] = [pair[1].seq, pair[0].seq];
      return { input: h, key: pair[0].key };
    },
  },
  'a region ends without an acknowledged write': {
    rule: 'lost-write',
    allowed: ['lost-write', 'convergence'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const w = choose(okWrites(h), pick);
      if (!w) return undefined;
      const region = choose(Object.keys(h.finals!), pick >> 4)!;
      const top = maxVersion(okWrites(h, w.key).map((o) => o.result!.version));
      const older = stateBelow(h, w.key, top);
      if (older.version) h.finals![region][w.key] = older;
      else delete h.finals![region][w.key];
      return { input: h, key: w.key, op: okWrites(h, w.key).find((o) => sameVersion(o.result!.version, top))!.id };
    },
  },
  'one region ends with a late write the others lack': {
    rule: 'convergence',
    allowed: ['convergence'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const key = choose([...new Set(h.ops.map((o) => o.key))], pick)!;
      const region = choose(Object.keys(h.finals!), pick >> 4)!;
      const top = maxVersion(Object.values(h.finals!).map((f) => f[key]?.version ?? null));
      const id = Math.max(...h.ops.map((o) => o.id)) + 1;
      h.ops.push({ id, process: 'late', region, f: 'write', key, value: 'diverged', invokeAt: 0, outcome: 'unknown' });
      h.finals![region][key] = { version: top ? [top[0], top[1] + 1] : [1, 1], value: 'diverged' };
      return { input: h, key, op: id };
    },
  },
  'a read returns a value nobody wrote': {
    rule: 'thin-air',
    allowed: ['thin-air', 'fork'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const r = choose(okReads(h).filter((o) => o.result!.version), pick);
      if (!r) return undefined;
      r.result = { version: r.result!.version, value: 'ghost' };
      return { input: h, key: r.key, op: r.id };
    },
  },
  'a read completes before the write it returns was invoked': {
    rule: 'future-read',
    allowed: ['future-read'],
    mutate(h0, pick) {
      const h = structuredClone(h0);
      const writerOf = new Map(h.ops.filter((o) => o.f === 'write' || o.f === 'tas').map((o) => [o.value!, o]));
      const r = choose(okReads(h).filter((o) => o.result!.value !== null && writerOf.has(o.result!.value)), pick);
      if (!r) return undefined;
      const w = writerOf.get(r.result!.value!)!;
      Object.assign(r, { process: 'time-traveller', invokeAt: w.invokeAt - 2, completeAt: w.invokeAt - 1 });
      return { input: h, key: r.key, op: r.id };
    },
  },
};

for (const [name, { rule, allowed, mutate }] of Object.entries(mutations)) {
  test(`mutation: ${name} → ${rule}`, () => {
    fc.assert(
      fc.property(validHistory, fc.nat(), (h, pick) => {
        const m = mutate(h, pick);
        fc.pre(m !== undefined);
        const r = checkHistory(m!.input);
        const hit = r.violations.find((v) => v.rule === rule && v.key === m!.key && (m!.op === undefined || v.ops.includes(m!.op)));
        assert.ok(hit, `no ${rule} violation on ${m!.key}${m!.op ? ` naming op ${m!.op}` : ''}: ${JSON.stringify(r.violations)}`);
        for (const v of r.violations) assert.ok(allowed.includes(v.rule), `unrelated ${v.rule}: ${v.message}`);
        assert.equal(r.ok, false);
      }),
      { numRuns: 150 },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Hand-written histories with exact expected violations.

const V = (gen: number, ver: number): Version => [gen, ver];
type Extra = Partial<Op>;
const base = (id: number, f: OpKind, [invokeAt, completeAt]: [number, number?], extra: Extra): Op => ({
  id, process: `p${id}`, region: 'east', f, key: 'k', invokeAt, ...(completeAt === undefined ? {} : { completeAt }), outcome: 'ok', ...extra,
});
/** An ok write (or tas with `requiredVersion` in extra) of `value` assigned `version`. */
const write = (id: number, value: string, version: Version, at: [number, number], extra: Extra = {}): Op =>
  base(id, extra.requiredVersion ? 'tas' : 'write', at, { value, result: { version, value }, ...extra });
const del = (id: number, version: Version, at: [number, number], extra: Extra = {}): Op => base(id, 'delete', at, { value: null, result: { version, value: null }, ...extra });
/** A write whose outcome is unknown: it may have happened. */
const maybe = (id: number, value: string, invokeAt: number, extra: Extra = {}): Op => base(id, 'write', [invokeAt], { value, outcome: 'unknown', ...extra });
const read = (id: number, f: OpKind, version: Version | null, value: string | null, at: [number, number], extra: Extra = {}): Op =>
  base(id, f, at, { result: { version, value }, ...extra });

/** The violations as (rule, key, ops), in a canonical order. */
function found(input: HistoryInput): { rule: string; key: string; ops: number[] }[] {
  return checkHistory(input).violations
    .map(({ rule, key, ops }) => ({ rule, key, ops }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}
const expected = (...vs: [string, string, number[]][]) =>
  vs.map(([rule, key, ops]) => ({ rule, key, ops })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

test('fork: two values at one version, from an ok write and a read of an unknown write, or from two ok writes', () => {
  assert.deepEqual(found({ ops: [write(1, 'a', V(1, 1), [0, 1]), maybe(2, 'b', 0), read(3, 'readAny', V(1, 1), 'b', [2, 3])] }), expected(['fork', 'k', [1, 2, 3]]));
  assert.deepEqual(found({ ops: [write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 1), [0, 1])] }), expected(['fork', 'k', [1, 2]]));
  const applies: Apply[] = [{ region: 'west', key: 'k', version: V(1, 1), value: 'b', seq: 1 }];
  assert.deepEqual(found({ ops: [write(1, 'a', V(1, 1), [0, 1]), maybe(2, 'b', 0)], applies }), expected(['fork', 'k', [1, 2]]));
  const r = checkHistory({ ops: [write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 1), [0, 1])] });
  assert.match(r.violations[0].message, /version 1\.1 has 2 values: "a" \(op 1 \(write\)\); "b" \(op 2 \(write\)\)/);
});

test('realtime-order: a write invoked after another completed got a lower version; concurrent writes may go either way', () => {
  const ops = [
    write(1, 'a', V(1, 2), [0, 10]), write(2, 'b', V(1, 1), [11, 12]),
    // Completed at the same ms the other was invoked: concurrent.
    write(3, 'c', V(1, 2), [0, 10], { key: 'k2' }), write(4, 'd', V(1, 1), [10, 12], { key: 'k2' }),
    // An unknown write seen at a version counts as that write: invoked after op 5 completed, yet below it.
    write(5, 'e', V(1, 2), [0, 10], { key: 'k3' }), maybe(6, 'f', 11, { key: 'k3' }), read(7, 'readAny', V(1, 1), 'f', [12, 13], { key: 'k3' }),
    // An unknown write that timed out early may still take effect after later writes.
    maybe(8, 'g', 0, { key: 'k4', completeAt: 2 }), write(9, 'h', V(1, 1), [5, 6], { key: 'k4' }), read(10, 'readAny', V(1, 2), 'g', [7, 8], { key: 'k4' }),
  ];
  assert.deepEqual(found({ ops }), expected(['realtime-order', 'k', [1, 2]], ['realtime-order', 'k3', [5, 6]]));
});

test('apply-order: a region goes back or applies a version twice; skipping versions is fine', () => {
  const ops = [write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 2), [2, 3]), write(3, 'c', V(1, 3), [4, 5])];
  const ap = (region: string, version: Version, value: string, seq: number): Apply => ({ region, key: 'k', version, value, seq });
  const applies = [
    ap('west', V(1, 1), 'a', 1), ap('west', V(1, 3), 'c', 2), ap('west', V(1, 2), 'b', 3),
    ap('east', V(1, 1), 'a', 4), ap('east', V(1, 1), 'a', 7), ap('east', V(1, 3), 'c', 9),
    ap('asia', V(1, 3), 'c', 3), ap('asia', V(1, 1), 'a', 1), // listed out of order; seq decides
  ];
  assert.deepEqual(found({ ops, applies }), expected(['apply-order', 'k', [2, 3]], ['apply-order', 'k', [1]]));
});

test('thin-air: values never written, written by a failed op, on another key, at the wrong version, twice, tombstones without a delete', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 1]), base(2, 'write', [0, 1], { value: 'b', outcome: 'fail', error: 'unavailable' }),
    read(3, 'readAny', V(1, 5), 'zzz', [2, 3]),
    read(4, 'readAny', V(1, 6), 'b', [2, 3]),
    read(5, 'readLatest', V(1, 2), 'a', [2, 3]),
    read(6, 'readAny', V(1, 7), null, [2, 3]),
    read(7, 'readAny', null, 'q', [2, 3]),
    maybe(8, 'u', 0, { key: 'k2' }), read(9, 'readAny', V(1, 1), 'u', [1, 2], { key: 'k2' }), read(10, 'readAny', V(1, 2), 'u', [1, 2], { key: 'k2' }),
    read(11, 'readAny', V(1, 1), 'a', [2, 3], { key: 'k3' }),
    // Fine: the initial state, no record, a tombstone that an unknown delete may have made.
    read(12, 'readAny', V(2, 3), 'init', [1, 2], { key: 'k4' }), read(13, 'readAny', null, null, [1, 2], { key: 'k4' }),
    base(14, 'delete', [0], { key: 'k4', value: null, outcome: 'unknown' }), read(15, 'readAny', V(2, 4), null, [1, 2], { key: 'k4' }),
  ];
  assert.deepEqual(found({ ops, initial: { k4: { version: V(2, 3), value: 'init' } } }), expected(
    ['thin-air', 'k', [3]], ['thin-air', 'k', [2, 4]], ['thin-air', 'k', [1, 5]], ['thin-air', 'k', [6]], ['thin-air', 'k', [7]],
    ['thin-air', 'k2', [8, 9, 10]], ['thin-air', 'k3', [11]],
  ));
});

test('future-read: a read returns a write (or delete) invoked after the read completed', () => {
  const ops = [
    write(1, 'a', V(1, 1), [5, 6]), read(2, 'readAny', V(1, 1), 'a', [1, 4]),
    maybe(3, 'b', 10), read(4, 'readCritical', V(1, 2), 'b', [2, 9], { requiredVersion: V(1, 1) }),
    del(5, V(1, 3), [20, 21]), read(6, 'readAny', V(1, 3), null, [12, 15]),
    read(7, 'readAny', V(1, 1), 'a', [2, 5]), // invoked at the ms the read completed: fine
  ];
  assert.deepEqual(found({ ops }), expected(['future-read', 'k', [1, 2]], ['future-read', 'k', [3, 4]], ['future-read', 'k', [5, 6]]));
});

test('read-critical: an ok readCritical below its required version; a failed one is fine', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 2), [2, 3]),
    read(3, 'readCritical', V(1, 1), 'a', [4, 5], { requiredVersion: V(1, 2) }),
    base(4, 'readCritical', [4, 5], { requiredVersion: V(1, 2), outcome: 'fail', error: 'unavailable' }),
    read(5, 'readCritical', V(1, 2), 'b', [4, 5], { requiredVersion: V(1, 1) }),
    read(6, 'readCritical', null, null, [4, 5], { requiredVersion: V(1, 1) }),
    read(7, 'readCritical', null, null, [0, 1], { key: 'k2', requiredVersion: V(0, 0) }), // (0, 0): "no record" is enough
  ];
  assert.deepEqual(found({ ops }), expected(['read-critical', 'k', [3]], ['read-critical', 'k', [6]]));
});

test('read-latest: an ok readLatest below a version acknowledged before it began; unknown writes do not count', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 5]),
    read(2, 'readLatest', null, null, [6, 7]),
    read(3, 'readLatest', null, null, [5, 7]), // concurrent with op 1
    write(4, 'b', V(1, 2), [7, 8]),
    read(5, 'readLatest', V(1, 1), 'a', [9, 10]),
    maybe(6, 'c', 10, { completeAt: 11 }), read(7, 'readAny', V(1, 3), 'c', [9, 12]),
    read(8, 'readLatest', V(1, 2), 'b', [13, 14]),
  ];
  assert.deepEqual(found({ ops }), expected(['read-latest', 'k', [1, 2]], ['read-latest', 'k', [4, 5]]));
});

test('tas: two successes on one required version, a version not above the required one, a skipped successor', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 2), [2, 3], { requiredVersion: V(1, 1) }), write(3, 'c', V(1, 3), [2, 4], { requiredVersion: V(1, 1) }),
    write(4, 'd', V(1, 1), [0, 1], { key: 'k2' }), write(5, 'e', V(1, 2), [2, 3], { key: 'k2' }),
    write(6, 'f', V(1, 3), [4, 5], { key: 'k2', requiredVersion: V(1, 1) }),
    write(7, 'g', V(1, 2), [0, 1], { key: 'k3', requiredVersion: V(1, 3) }),
    // An unknown tas seen at a version succeeded too.
    write(8, 'h', V(1, 1), [0, 1], { key: 'k4' }), maybe(9, 'i', 2, { key: 'k4', f: 'tas', requiredVersion: V(1, 1) }),
    write(10, 'j', V(1, 2), [2, 3], { key: 'k4', requiredVersion: V(1, 1) }), read(11, 'readAny', V(1, 3), 'i', [4, 5], { key: 'k4' }),
    // Fine: a tas on a tombstone starts a generation; a definite mismatch.
    write(12, 'k', V(1, 1), [0, 1], { key: 'k5' }), del(13, V(1, 2), [2, 3], { key: 'k5' }),
    write(14, 'l', V(2, 1), [4, 5], { key: 'k5', requiredVersion: V(1, 2) }),
    base(15, 'tas', [4, 5], { key: 'k5', value: 'm', requiredVersion: V(1, 1), outcome: 'fail', error: 'version mismatch' }),
  ];
  assert.deepEqual(found({ ops }), expected(
    ['tas', 'k', [2, 3]], ['tas', 'k', [2, 3]], ['tas', 'k2', [5, 6]], ['tas', 'k3', [7]], ['tas', 'k4', [9, 10]], ['tas', 'k4', [9, 10]],
  ));
});

test('lost-write and convergence: a region below an acknowledged or seen version; regions that disagree', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 2), [2, 3]),
    write(3, 'c', V(1, 1), [0, 1], { key: 'k2' }),
    maybe(4, 'd', 0, { key: 'k3' }), read(5, 'readAny', V(1, 1), 'd', [1, 2], { key: 'k3' }),
    write(6, 'e', V(1, 1), [0, 1], { key: 'k4' }), maybe(7, 'f', 2, { key: 'k4' }),
    write(8, 'g', V(1, 1), [0, 1], { key: 'k5' }), maybe(9, 'h', 2, { key: 'k5' }),
  ];
  const finals = {
    east: { k: { version: V(1, 2), value: 'b' }, k2: { version: V(1, 1), value: 'c' }, k4: { version: V(1, 1), value: 'e' }, k5: { version: V(1, 2), value: 'h' } },
    west: { k: { version: V(1, 1), value: 'a' }, k4: { version: V(1, 2), value: 'f' }, k5: { version: V(1, 2), value: 'h' } },
  };
  assert.deepEqual(found({ ops, finals }), expected(
    ['lost-write', 'k', [2]], ['convergence', 'k', [1, 2]],
    ['lost-write', 'k2', [3]], ['convergence', 'k2', [3]],
    ['lost-write', 'k3', [4]], ['lost-write', 'k3', [4]],
    ['convergence', 'k4', [6, 7]],
  ));
});

test('readAny staleness: known versions between the read and the newest acknowledged before it began', () => {
  const ops = [
    write(1, 'a', V(1, 1), [0, 1]), write(2, 'b', V(1, 2), [2, 3]), write(3, 'c', V(1, 3), [4, 5]),
    read(4, 'readAny', V(1, 1), 'a', [6, 7]), // 2 behind
    read(5, 'readAny', V(1, 3), 'c', [6, 7]), // fresh
    read(6, 'readAny', V(1, 1), 'a', [3, 7]), // only op 1 was acknowledged before: fresh
    read(7, 'readAny', null, null, [6, 7]), // no record yet here: 3 behind
    read(8, 'readLatest', V(1, 3), 'c', [6, 7]), // not a readAny
  ];
  const r = checkHistory({ ops });
  assert.equal(r.ok, true);
  assert.deepEqual(r.stats, { ops: 8, keys: 1, readAnyStaleness: { samples: 4, maxVersionsBehind: 3, meanVersionsBehind: 1.25 } });
});

test('malformed histories are refused, not judged', () => {
  assert.throws(() => checkHistory({ ops: [write(1, 'a', V(1, 1), [0, 1]), write(1, 'b', V(1, 2), [0, 1])] }), /duplicate id/);
  assert.throws(() => checkHistory({ ops: [write(1, 'a', V(1, 1), [0, 1]), write(2, 'a', V(1, 2), [0, 1])] }), /already written/);
  assert.throws(() => checkHistory({ ops: [base(1, 'write', [0, 1], { value: 'a' })] }), /without completeAt or result/);
  assert.throws(() => checkHistory({ ops: [base(1, 'readCritical', [0, 1], { result: { version: null, value: null } })] }), /requiredVersion/);
});
