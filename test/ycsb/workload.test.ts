import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord } from '../../bench/ycsb/db.js';
import { MemoryStore, memoryBinding } from '../../bench/ycsb/bindings/memory.js';
import { ScrambledZipfianGenerator, SkewedLatestGenerator, fnvhash64, javaStringHashCode } from '../../bench/ycsb/generators.js';
import { loadBinding, parseArgs } from '../../bench/ycsb/main.js';
import { MeasuredDB } from '../../bench/ycsb/measured-db.js';
import { Measurements, javaDouble, type PhaseSummary } from '../../bench/ycsb/measurements.js';
import { PRESETS, presetProperties } from '../../bench/ycsb/presets.js';
import { loadPropertiesFile, parseProperties } from '../../bench/ycsb/properties.js';
import { seededRandom } from '../../bench/ycsb/random.js';
import { runPhase } from '../../bench/ycsb/runner.js';
import { CoreWorkload, buildKeyName } from '../../bench/ycsb/workload.js';

const PRINTABLE = /^[\x20-\x7e]*$/;

test('presets a–f have YCSB’s proportions, distributions and counts', () => {
  const expected: { [w: string]: { [k: string]: string } } = {
    a: { readproportion: '0.5', updateproportion: '0.5', scanproportion: '0', insertproportion: '0', requestdistribution: 'zipfian' },
    b: { readproportion: '0.95', updateproportion: '0.05', scanproportion: '0', insertproportion: '0', requestdistribution: 'zipfian' },
    c: { readproportion: '1', updateproportion: '0', scanproportion: '0', insertproportion: '0', requestdistribution: 'zipfian' },
    d: { readproportion: '0.95', updateproportion: '0', scanproportion: '0', insertproportion: '0.05', requestdistribution: 'latest' },
    e: { readproportion: '0', updateproportion: '0', scanproportion: '0.95', insertproportion: '0.05', requestdistribution: 'zipfian', maxscanlength: '100', scanlengthdistribution: 'uniform' },
    f: { readproportion: '0.5', updateproportion: '0', scanproportion: '0', insertproportion: '0', readmodifywriteproportion: '0.5', requestdistribution: 'zipfian' },
  };
  assert.deepEqual(Object.keys(PRESETS).sort(), Object.keys(expected));
  for (const [w, props] of Object.entries(expected)) {
    const p = presetProperties(w);
    for (const [k, v] of Object.entries(props)) assert.equal(p.get(k), v, `workload ${w}: ${k}`);
    assert.equal(p.get('recordcount'), '1000');
    assert.equal(p.get('operationcount'), '1000');
    assert.equal(p.get('readallfields'), 'true');
    assert.equal(p.get('workload'), 'site.ycsb.workloads.CoreWorkload');
    const wl = new CoreWorkload(p, seededRandom(1));
    assert.ok(wl.keychooser instanceof (w === 'd' ? SkewedLatestGenerator : ScrambledZipfianGenerator), `workload ${w} key chooser`);
  }
  assert.throws(() => presetProperties('g'), /unknown workload/);
});

test('the operation chooser follows the preset proportions', () => {
  const wl = new CoreWorkload(presetProperties('b'), seededRandom(9));
  const c = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    const op = wl.operationchooser.nextValue()!;
    c.set(op, (c.get(op) ?? 0) + 1);
  }
  assert.deepEqual([...c.keys()].sort(), ['READ', 'UPDATE']);
  assert.ok(Math.abs(c.get('READ')! / 1e5 - 0.95) < 0.005);
});

test('key names are "user" + fnvhash64(keynum), or the zero-padded number with insertorder=ordered', () => {
  assert.equal(buildKeyName(0, 1, false), 'user6284781860667377211');
  assert.equal(buildKeyName(42, 1, false), `user${fnvhash64(42)}`);
  assert.equal(buildKeyName(5, 8, true), 'user00000005'); // YCSB's own example
  assert.equal(buildKeyName(5, 1, true), 'user5');
  assert.equal(buildKeyName(0, 19, false), 'user6284781860667377211', 'padding only fills short numbers');
  assert.equal(buildKeyName(0, 22, false), 'user0006284781860667377211');
  assert.equal(buildKeyName(2, 21, false), `user00${fnvhash64(2)}`);
  const wl = new CoreWorkload(new Map([['insertorder', 'ordered'], ['zeropadding', '4'], ['recordcount', '10']]));
  assert.equal(wl.buildKeyName(7), 'user0007');
});

test('records have fieldcount fields of fieldlength printable characters', () => {
  const wl = new CoreWorkload(presetProperties('a'), seededRandom(3));
  const v = wl.buildValues('user1');
  assert.deepEqual([...v.keys()], Array.from({ length: 10 }, (_, i) => `field${i}`));
  for (const s of v.values()) assert.ok(s.length === 100 && PRINTABLE.test(s));
  assert.ok(new Set(v.values()).size === 10, 'values are random');

  const custom = new CoreWorkload(new Map([['fieldcount', '3'], ['fieldnameprefix', 'f'], ['fieldlengthdistribution', 'uniform'], ['fieldlength', '20'], ['minfieldlength', '5'], ['recordcount', '10']]), seededRandom(4));
  const lengths = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const r = custom.buildValues('k');
    assert.deepEqual([...r.keys()], ['f0', 'f1', 'f2']);
    for (const s of r.values()) lengths.add(s.length);
  }
  assert.equal(Math.min(...lengths), 5);
  assert.equal(Math.max(...lengths), 20);
});

test('dataintegrity values are key:field followed by Java hashCodes, cut to the field length', () => {
  const wl = new CoreWorkload(new Map([['dataintegrity', 'true'], ['recordcount', '10']]));
  const v = wl.buildDeterministicValue('user1', 'field0');
  assert.equal(v.length, 100);
  const first = 'user1:field0';
  const second = `${first}:${javaStringHashCode(first)}`;
  assert.ok(v.startsWith(`${second}:${javaStringHashCode(second)}`));
  assert.equal(wl.buildDeterministicValue('user1', 'field0'), v);
});

test('with inserts, the zipfian key space is sized recordcount + 2·operationcount·insertproportion and unseen keys are skipped', () => {
  const wl = new CoreWorkload(presetProperties('e'), seededRandom(5)); // 1000 records, 1000 ops, 5 % inserts
  let max = 0;
  let beyond = 0;
  for (let i = 0; i < 100_000; i++) {
    const k = wl.keychooser.nextValue();
    max = Math.max(max, k);
    if (k >= 1000) beyond++;
  }
  assert.ok(max <= 1100 && max >= 1090, `key chooser max ${max}`);
  assert.ok(beyond > 0);
  for (let i = 0; i < 20_000; i++) assert.ok(wl.nextKeynum() <= 999, 'only inserted keys');
});

test('properties files: separators, comments, continuations, escapes, later names win', () => {
  const p = parseProperties(
    [
      '# a comment \\',
      'recordcount=1000',
      '  ! another comment',
      'operationcount : 500   ',
      'table usertable2',
      'long.value = one \\',
      '    two',
      'escaped\\=name=tab\\there \\u0041',
      'recordcount=2000',
      'empty=',
    ].join('\n'),
  );
  assert.deepEqual(Object.fromEntries(p), {
    recordcount: '2000',
    operationcount: '500',
    table: 'usertable2',
    'long.value': 'one two',
    'escaped=name': 'tab\there A',
    empty: '',
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ycsb-props-'));
  try {
    const file = path.join(dir, 'workload');
    writeFileSync(file, 'recordcount=7\nreadproportion=0.25\n');
    assert.equal(loadPropertiesFile(file).get('readproportion'), '0.25');
    const opts = parseArgs(['--workload', 'a', '--db', 'memory', '-P', file, '-p', 'recordcount=9', '--threads', '3', '--load']);
    assert.equal(opts.props.get('recordcount'), '9', '-p wins over -P');
    assert.equal(opts.props.get('readproportion'), '0.25', '-P wins over the preset');
    assert.equal(opts.props.get('updateproportion'), '0.5', 'the preset fills the rest');
    assert.equal(opts.props.get('threadcount'), '3');
    assert.deepEqual(opts.phases, ['load']);
    assert.throws(() => loadPropertiesFile(path.join(dir, 'missing')), /Unable to open/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const both = parseArgs(['--db', 'redis', '--workload', 'E', '--records', '50', '--operations', '60', '--target', '100', '--intended']);
  assert.deepEqual(both.phases, ['load', 'run']);
  assert.equal(both.props.get('recordcount'), '50');
  assert.equal(both.props.get('operationcount'), '60');
  assert.equal(both.props.get('target'), '100');
  assert.equal(both.props.get('measurement.interval'), 'intended');
  assert.throws(() => parseArgs(['--workload', 'a', '--db', 'mysql']), /unknown --db/);
  assert.throws(() => parseArgs(['--workload', 'a']), /--db is required/);
  assert.throws(() => parseArgs(['--workload', 'a', '--db', 'memory', '-p', 'novalue']), /name=value/);
  assert.throws(() => parseArgs(['--workload', 'a', '--db', 'memory', '--threads', 'x']), /integer/);
});

test('bindings load by name; a missing binding file is a clear error', async () => {
  assert.equal(typeof (await loadBinding('memory')), 'function');
  await assert.rejects(loadBinding('nosuchbinding'), /bench\/ycsb\/bindings\/nosuchbinding\.ts does not exist/);
});

test('YCSB text export: OVERALL, per-operation latencies, percentiles and return codes', () => {
  const m = new Measurements(new Map());
  for (const us of [10, 20, 30]) {
    m.measure('READ', us);
    m.reportStatus('READ', 'OK');
  }
  m.measure('UPDATE-FAILED', 5);
  m.reportStatus('UPDATE', 'NOT_FOUND');
  assert.equal(
    m.exportText(1000, 4),
    [
      '[OVERALL], RunTime(ms), 1000',
      '[OVERALL], Throughput(ops/sec), 4.0',
      '[READ], Operations, 3',
      '[READ], AverageLatency(us), 20.0',
      '[READ], MinLatency(us), 10',
      '[READ], MaxLatency(us), 30',
      '[READ], 50thPercentileLatency(us), 20',
      '[READ], 95thPercentileLatency(us), 30',
      '[READ], 99thPercentileLatency(us), 30',
      '[READ], Return=OK, 3',
      '[UPDATE-FAILED], Operations, 1',
      '[UPDATE-FAILED], AverageLatency(us), 5.0',
      '[UPDATE-FAILED], MinLatency(us), 5',
      '[UPDATE-FAILED], MaxLatency(us), 5',
      '[UPDATE-FAILED], 50thPercentileLatency(us), 5',
      '[UPDATE-FAILED], 95thPercentileLatency(us), 5',
      '[UPDATE-FAILED], 99thPercentileLatency(us), 5',
      '[UPDATE], Operations, 0',
      '[UPDATE], AverageLatency(us), 0.0',
      '[UPDATE], MinLatency(us), 0',
      '[UPDATE], MaxLatency(us), 0',
      '[UPDATE], 50thPercentileLatency(us), 0',
      '[UPDATE], 95thPercentileLatency(us), 0',
      '[UPDATE], 99thPercentileLatency(us), 0',
      '[UPDATE], Return=NOT_FOUND, 1',
      '',
    ].join('\n'),
  );
  const s = m.summary(1000, 4);
  assert.equal(s.throughput, 4);
  assert.deepEqual(s.measurements.UPDATE.returns, { NOT_FOUND: 1 });
  assert.equal(s.measurements.UPDATE.errors, 1);
  assert.deepEqual(s.measurements.READ.percentilesUs, { p50Us: 20, p95Us: 30, p99Us: 30 });
  assert.equal(javaDouble(12345678.9), '1.23456789E7');
  assert.equal(javaDouble(0.0001), '1.0E-4');
  assert.equal(javaDouble(1234.5), '1234.5');
});

test('a failed call is timed as OP-FAILED and counted under OP; measurement.interval=both adds Intended- histograms', async () => {
  const m = new Measurements(new Map([['measurement.interval', 'both']]));
  const db = new MeasuredDB(memoryBinding()(new Map()), m);
  db.intendedStartMs = performance.now() - 50; // the pacing meant this call to start 50 ms ago
  assert.equal(await db.read('usertable', 'nokey', null, new Map()), 'NOT_FOUND');
  const s = m.summary(1, 1).measurements;
  assert.equal(s['READ-FAILED'].count, 1);
  assert.equal(s['Intended-READ-FAILED'].count, 1);
  assert.ok(s['Intended-READ-FAILED'].minUs >= 50_000, 'intended latency counts from the intended start');
  assert.deepEqual(s.READ.returns, { NOT_FOUND: 1 });
  const throwing = new MeasuredDB({ read: () => Promise.reject(new Error('boom')) } as unknown as DB, m);
  assert.equal(await throwing.read('t', 'k', null, new Map()), 'ERROR');
});

/** A DB that checks every key it is asked for was inserted before the call, and records what it was asked. */
function spying(store: MemoryStore, factory: DBFactory, seen: { scanLengths: number[]; updateWidths: number[]; readFields: Array<Set<string> | null>; unseen: string[] }): DBFactory {
  return (props: Properties) => {
    const db = factory(props);
    const exists = (table: string, key: string) => store.table(table).rows.has(key);
    return {
      init: () => db.init(),
      cleanup: () => db.cleanup(),
      read(table: string, key: string, fields: Set<string> | null, result: RecordValues) {
        if (!exists(table, key)) seen.unseen.push(key);
        seen.readFields.push(fields);
        return db.read(table, key, fields, result);
      },
      scan(table: string, startKey: string, n: number, fields: Set<string> | null, result: ScanRecord[]) {
        if (!exists(table, startKey)) seen.unseen.push(startKey);
        seen.scanLengths.push(n);
        return db.scan(table, startKey, n, fields, result);
      },
      update(table: string, key: string, values: RecordValues) {
        if (!exists(table, key)) seen.unseen.push(key);
        seen.updateWidths.push(values.size);
        return db.update(table, key, values);
      },
      insert: (table: string, key: string, values: RecordValues) => db.insert(table, key, values),
      delete: (table: string, key: string) => db.delete(table, key),
    };
  };
}

async function loadAndRun(name: string) {
  const props = presetProperties(name);
  for (const [k, v] of Object.entries({ recordcount: '300', operationcount: '1000', threadcount: '4', status: 'false' })) props.set(k, v);
  const store = new MemoryStore();
  const seen = { scanLengths: [] as number[], updateWidths: [] as number[], readFields: [] as Array<Set<string> | null>, unseen: [] as string[] };
  const createDB = spying(store, memoryBinding(store), seen);
  const load = await runPhase({ phase: 'load', props, workload: new CoreWorkload(props, seededRandom(1)), createDB });
  const loaded = store.table('usertable').rows.size;
  const run = await runPhase({ phase: 'run', props, workload: new CoreWorkload(props, seededRandom(2)), createDB });
  const summary = (r: typeof load): PhaseSummary => r.measurements.summary(r.runtimeMs, r.operations);
  return { store, seen, loaded, load: summary(load), run: summary(run) };
}

/** Return=OK count of an operation (0 if it never ran). */
function ok(s: PhaseSummary, op: string): number {
  return s.measurements[op]?.returns.OK ?? 0;
}

for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) {
  test(`workload ${name}: load then run against the memory binding`, async () => {
    const { store, seen, loaded, load, run } = await loadAndRun(name);
    assert.equal(load.operations, 300);
    assert.equal(ok(load, 'INSERT'), 300);
    assert.equal(loaded, 300);
    for (const row of store.table('usertable').rows.values()) {
      assert.equal(row.size, 10);
      for (const v of row.values()) assert.ok(v.length === 100 && PRINTABLE.test(v));
    }
    assert.equal(run.operations, 1000);
    assert.deepEqual(seen.unseen, [], 'no operation asked for a key not inserted yet');
    for (const [op, s] of Object.entries(run.measurements)) assert.equal(s.errors, 0, `${op} had errors`);
    assert.ok(!Object.keys(run.measurements).some((m) => m.endsWith('-FAILED')), 'every read found its record');
    assert.ok(seen.readFields.every((f) => f === null), 'readallfields=true reads whole records');
    assert.ok(seen.updateWidths.every((w) => w === 1), 'writeallfields=false updates one field');
    const reads = ok(run, 'READ');
    const share = (n: number) => n / 1000;
    const rows = store.table('usertable').rows.size;
    switch (name) {
      case 'a':
        assert.equal(reads + ok(run, 'UPDATE'), 1000);
        assert.ok(Math.abs(share(reads) - 0.5) < 0.06, `reads ${reads}`);
        break;
      case 'b':
        assert.equal(reads + ok(run, 'UPDATE'), 1000);
        assert.ok(Math.abs(share(reads) - 0.95) < 0.03, `reads ${reads}`);
        break;
      case 'c':
        assert.equal(reads, 1000);
        break;
      case 'd':
        assert.equal(reads + ok(run, 'INSERT'), 1000);
        assert.ok(ok(run, 'INSERT') > 20 && ok(run, 'INSERT') < 80, `inserts ${ok(run, 'INSERT')}`);
        assert.equal(rows, 300 + ok(run, 'INSERT'));
        break;
      case 'e':
        assert.equal(ok(run, 'SCAN') + ok(run, 'INSERT'), 1000);
        assert.ok(ok(run, 'INSERT') > 20 && ok(run, 'INSERT') < 80);
        assert.equal(rows, 300 + ok(run, 'INSERT'));
        assert.ok(seen.scanLengths.every((n) => n >= 1 && n <= 100), 'maxscanlength=100');
        assert.ok(Math.max(...seen.scanLengths) > 90 && Math.min(...seen.scanLengths) < 10, 'uniform scan lengths');
        break;
      case 'f': {
        const rmw = ok(run, 'READ-MODIFY-WRITE');
        assert.ok(Math.abs(share(rmw) - 0.5) < 0.06, `read-modify-writes ${rmw}`);
        assert.equal(reads, 1000, "plain reads plus each read-modify-write's read");
        assert.equal(ok(run, 'UPDATE'), rmw, "each read-modify-write's update");
        break;
      }
    }
    if (name !== 'f' && name !== 'a' && name !== 'b') assert.equal(run.measurements.UPDATE, undefined);
  });
}
