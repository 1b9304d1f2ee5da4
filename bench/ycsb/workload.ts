/**
 * YCSB's CoreWorkload: the same property names, defaults, key names, key choosers and operations.
 * One instance is shared by all client workers of a phase, as in YCSB.
 */
import { performance } from 'node:perf_hooks';
import { isOk, type Properties, type RecordValues, type ScanRecord, type Status } from './db.js';
import {
  AcknowledgedCounterGenerator,
  ConstantIntegerGenerator,
  CounterGenerator,
  DiscreteGenerator,
  ExponentialGenerator,
  HotspotIntegerGenerator,
  ScrambledZipfianGenerator,
  SequentialGenerator,
  SkewedLatestGenerator,
  UniformLongGenerator,
  ZipfianGenerator,
  fnvhash64,
  javaStringHashCode,
  type NumberGenerator,
} from './generators.js';
import type { MeasuredDB } from './measured-db.js';
import type { Random } from './random.js';

const INT_MAX = 2147483647;

export type Operation = 'READ' | 'UPDATE' | 'INSERT' | 'SCAN' | 'READMODIFYWRITE';

/** Typed reads of properties; a malformed number stops the run naming the property. */
export class PropertyReader {
  constructor(readonly props: Properties) {}
  string(name: string, fallback: string): string {
    return this.props.get(name) ?? fallback;
  }
  int(name: string, fallback: number): number {
    const raw = this.props.get(name);
    if (raw === undefined) return fallback;
    if (!/^[+-]?\d+$/.test(raw.trim())) throw new Error(`property ${name}=${raw} is not an integer`);
    return Number(raw.trim());
  }
  float(name: string, fallback: number): number {
    const raw = this.props.get(name);
    if (raw === undefined) return fallback;
    const v = Number(raw.trim());
    if (raw.trim() === '' || !Number.isFinite(v)) throw new Error(`property ${name}=${raw} is not a number`);
    return v;
  }
  /** Java's Boolean.parseBoolean: "true" in any case is true, anything else false. */
  bool(name: string, fallback: boolean): boolean {
    const raw = this.props.get(name);
    return raw === undefined ? fallback : raw.trim().toLowerCase() === 'true';
  }
}

/** YCSB's buildKeyName: "user" + keynum (FNV-hashed unless insertorder=ordered), zero-padded to zeropadding digits. */
export function buildKeyName(keynum: number, zeropadding: number, orderedinserts: boolean): string {
  const value = orderedinserts ? String(keynum) : fnvhash64(keynum).toString();
  return `user${'0'.repeat(Math.max(0, zeropadding - value.length))}${value}`;
}

/** A printable ASCII string (0x20–0x7E) of the given length: YCSB's RandomByteIterator fills fields with printable bytes. */
export function randomPrintable(length: number, random: Random): string {
  const buf = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i += 4) {
    let x = Math.floor(random() * 81450625); // 95^4: four uniform base-95 digits per draw
    for (let j = i; j < i + 4 && j < length; j++) {
      buf[j] = 0x20 + (x % 95);
      x = Math.floor(x / 95);
    }
  }
  return buf.toString('latin1');
}

function fieldLengthGenerator(p: PropertyReader, random: Random): NumberGenerator {
  const dist = p.string('fieldlengthdistribution', 'constant');
  const fieldlength = p.int('fieldlength', 100);
  const minfieldlength = p.int('minfieldlength', 1);
  switch (dist) {
    case 'constant':
      return new ConstantIntegerGenerator(fieldlength);
    case 'uniform':
      return new UniformLongGenerator(minfieldlength, fieldlength, random);
    case 'zipfian':
      return new ZipfianGenerator(minfieldlength, fieldlength, undefined, undefined, random);
    default:
      throw new Error(`fieldlengthdistribution "${dist}" is not supported (constant, uniform, zipfian)`);
  }
}

export class CoreWorkload {
  readonly table: string;
  readonly fieldnames: string[];
  readonly recordcount: number;
  readonly insertstart: number;
  readonly insertcount: number;
  readonly zeropadding: number;
  readonly orderedinserts: boolean;
  readonly readallfields: boolean;
  readonly readallfieldsbyname: boolean;
  readonly writeallfields: boolean;
  readonly dataintegrity: boolean;
  readonly operationchooser: DiscreteGenerator<Operation>;
  readonly keychooser: NumberGenerator;
  readonly transactioninsertkeysequence: AcknowledgedCounterGenerator;
  private readonly keysequence: CounterGenerator;
  private readonly fieldchooser: UniformLongGenerator;
  private readonly fieldlengthgenerator: NumberGenerator;
  private readonly scanlength: NumberGenerator;
  private readonly insertionRetryLimit: number;
  private readonly insertionRetryInterval: number;
  private stopRequested = false;

  constructor(props: Properties, private readonly random: Random = Math.random) {
    const p = new PropertyReader(props);
    this.table = p.string('table', 'usertable');
    const fieldcount = p.int('fieldcount', 10);
    const prefix = p.string('fieldnameprefix', 'field');
    this.fieldnames = Array.from({ length: fieldcount }, (_, i) => `${prefix}${i}`);
    this.fieldlengthgenerator = fieldLengthGenerator(p, random);

    let recordcount = p.int('recordcount', 0);
    if (recordcount === 0) recordcount = INT_MAX;
    this.recordcount = recordcount;
    const requestdistrib = p.string('requestdistribution', 'uniform');
    const minscanlength = p.int('minscanlength', 1);
    const maxscanlength = p.int('maxscanlength', 1000);
    const scanlengthdistrib = p.string('scanlengthdistribution', 'uniform');
    this.insertstart = p.int('insertstart', 0);
    this.insertcount = p.int('insertcount', recordcount - this.insertstart);
    if (recordcount < this.insertstart + this.insertcount) {
      throw new Error('Invalid combination of insertstart, insertcount and recordcount: recordcount must be bigger than insertstart + insertcount.');
    }
    this.zeropadding = p.int('zeropadding', 1);
    this.readallfields = p.bool('readallfields', true);
    this.readallfieldsbyname = p.bool('readallfieldsbyname', false);
    this.writeallfields = p.bool('writeallfields', false);
    this.dataintegrity = p.bool('dataintegrity', false);
    if (this.dataintegrity && p.string('fieldlengthdistribution', 'constant') !== 'constant') {
      throw new Error('Must have constant field size to check data integrity.');
    }
    this.orderedinserts = p.string('insertorder', 'hashed') !== 'hashed';

    this.keysequence = new CounterGenerator(this.insertstart);
    this.operationchooser = createOperationGenerator(p, random);
    this.transactioninsertkeysequence = new AcknowledgedCounterGenerator(recordcount);
    const last = this.insertstart + this.insertcount - 1;
    switch (requestdistrib) {
      case 'uniform':
        this.keychooser = new UniformLongGenerator(this.insertstart, last, random);
        break;
      case 'exponential':
        this.keychooser = ExponentialGenerator.ofPercentile(p.float('exponential.percentile', 95), recordcount * p.float('exponential.frac', 0.8571428571), random);
        break;
      case 'sequential':
        this.keychooser = new SequentialGenerator(this.insertstart, last);
        break;
      case 'zipfian': {
        // Size the key space for the inserts expected during the run (2 is YCSB's fudge factor), so
        // the popular keys stay the same as records are added; keys not inserted yet are skipped.
        const opcount = p.int('operationcount', 0);
        const expectednewkeys = Math.trunc(opcount * p.float('insertproportion', 0) * 2.0);
        this.keychooser = new ScrambledZipfianGenerator(this.insertstart, this.insertstart + this.insertcount + expectednewkeys, random);
        break;
      }
      case 'latest':
        this.keychooser = new SkewedLatestGenerator(this.transactioninsertkeysequence, random);
        break;
      case 'hotspot':
        this.keychooser = new HotspotIntegerGenerator(this.insertstart, last, p.float('hotspotdatafraction', 0.2), p.float('hotspotopnfraction', 0.8), random);
        break;
      default:
        throw new Error(`Unknown request distribution "${requestdistrib}"`);
    }
    this.fieldchooser = new UniformLongGenerator(0, fieldcount - 1, random);
    if (scanlengthdistrib === 'uniform') this.scanlength = new UniformLongGenerator(minscanlength, maxscanlength, random);
    else if (scanlengthdistrib === 'zipfian') this.scanlength = new ZipfianGenerator(minscanlength, maxscanlength, undefined, undefined, random);
    else throw new Error(`Distribution "${scanlengthdistrib}" not allowed for scan length`);
    this.insertionRetryLimit = p.int('core_workload_insertion_retry_limit', 0);
    this.insertionRetryInterval = p.int('core_workload_insertion_retry_interval', 3);
  }

  buildKeyName(keynum: number): string {
    return buildKeyName(keynum, this.zeropadding, this.orderedinserts);
  }

  /** YCSB's buildDeterministicValue: key:field, then ":" + Java hashCode of the text so far, to the field length. */
  buildDeterministicValue(key: string, fieldkey: string): string {
    const size = this.fieldlengthgenerator.nextValue();
    let sb = `${key}:${fieldkey}`;
    while (sb.length < size) sb += `:${javaStringHashCode(sb)}`;
    return sb.slice(0, size);
  }

  private fieldValue(key: string, fieldkey: string): string {
    return this.dataintegrity ? this.buildDeterministicValue(key, fieldkey) : randomPrintable(this.fieldlengthgenerator.nextValue(), this.random);
  }

  buildValues(key: string): RecordValues {
    const values: RecordValues = new Map();
    for (const f of this.fieldnames) values.set(f, this.fieldValue(key, f));
    return values;
  }

  private buildSingleValue(key: string): RecordValues {
    const f = this.fieldnames[this.fieldchooser.nextValue()];
    return new Map([[f, this.fieldValue(key, f)]]);
  }

  private oneRandomField(): Set<string> {
    return new Set([this.fieldnames[this.fieldchooser.nextValue()]]);
  }

  requestStop(): void {
    this.stopRequested = true;
  }

  isStopRequested(): boolean {
    return this.stopRequested;
  }

  /** Insert the next record of the load phase; false would end the worker (never, as in YCSB). */
  async doInsert(db: MeasuredDB): Promise<boolean> {
    const dbkey = this.buildKeyName(this.keysequence.nextValue());
    const values = this.buildValues(dbkey);
    for (let retries = 0; ; ) {
      if (isOk(await db.insert(this.table, dbkey, values))) break;
      if (++retries > this.insertionRetryLimit) {
        process.stderr.write(`Error inserting, not retrying any more. number of attempts: ${retries}. Insertion Retry Limit: ${this.insertionRetryLimit}\n`);
        break;
      }
      process.stderr.write(`Retrying insertion, retry count: ${retries}\n`);
      await new Promise((r) => setTimeout(r, 1000 * this.insertionRetryInterval * (0.8 + 0.4 * this.random())));
    }
    return true;
  }

  /** One operation of the run phase; false when no operation has a proportion. */
  async doTransaction(db: MeasuredDB): Promise<boolean> {
    const operation = this.operationchooser.nextValue();
    if (operation === null) return false;
    switch (operation) {
      case 'READ':
        await this.doTransactionRead(db);
        break;
      case 'UPDATE':
        await this.doTransactionUpdate(db);
        break;
      case 'INSERT':
        await this.doTransactionInsert(db);
        break;
      case 'SCAN':
        await this.doTransactionScan(db);
        break;
      default:
        await this.doTransactionReadModifyWrite(db);
    }
    return true;
  }

  /** A key number from the request distribution, skipping keys whose insert has not been acknowledged. */
  nextKeynum(): number {
    let keynum: number;
    if (this.keychooser instanceof ExponentialGenerator) {
      do keynum = this.transactioninsertkeysequence.lastValue() - Math.trunc(this.keychooser.nextValue());
      while (keynum < 0);
    } else {
      do keynum = this.keychooser.nextValue();
      while (keynum > this.transactioninsertkeysequence.lastValue());
    }
    return keynum;
  }

  /** YCSB's verifyRow, timed under VERIFY: OK, UNEXPECTED_STATE for a wrong value, ERROR for no data. */
  private verifyRow(db: MeasuredDB, key: string, cells: RecordValues): void {
    const st = performance.now();
    let status: Status = 'OK';
    if (cells.size === 0) status = 'ERROR';
    for (const [field, value] of cells) {
      if (value !== this.buildDeterministicValue(key, field)) {
        status = 'UNEXPECTED_STATE';
        break;
      }
    }
    db.measurements.measure('VERIFY', (performance.now() - st) * 1000);
    db.measurements.reportStatus('VERIFY', status);
  }

  async doTransactionRead(db: MeasuredDB): Promise<Status> {
    const keyname = this.buildKeyName(this.nextKeynum());
    let fields: Set<string> | null = null;
    if (!this.readallfields) fields = this.oneRandomField();
    else if (this.dataintegrity || this.readallfieldsbyname) fields = new Set(this.fieldnames);
    const cells: RecordValues = new Map();
    const status = await db.read(this.table, keyname, fields, cells);
    if (this.dataintegrity) this.verifyRow(db, keyname, cells);
    return status;
  }

  /** Read then update one record, timed as one READ-MODIFY-WRITE (the READ and UPDATE are also timed on their own, as in YCSB). */
  async doTransactionReadModifyWrite(db: MeasuredDB): Promise<Status> {
    const keyname = this.buildKeyName(this.nextKeynum());
    const fields = this.readallfields ? null : this.oneRandomField();
    const values = this.writeallfields ? this.buildValues(keyname) : this.buildSingleValue(keyname);
    const cells: RecordValues = new Map();
    const ist = db.intendedStart();
    const st = performance.now();
    let status = await db.read(this.table, keyname, fields, cells);
    if (isOk(status)) status = await db.update(this.table, keyname, values);
    const en = performance.now();
    if (this.dataintegrity) this.verifyRow(db, keyname, cells);
    db.record('READ-MODIFY-WRITE', ist, st, en);
    db.measurements.reportStatus('READ-MODIFY-WRITE', status);
    return status;
  }

  async doTransactionScan(db: MeasuredDB): Promise<Status> {
    const startkeyname = this.buildKeyName(this.nextKeynum());
    const len = this.scanlength.nextValue();
    const fields = this.readallfields ? null : this.oneRandomField();
    const result: ScanRecord[] = [];
    return db.scan(this.table, startkeyname, len, fields, result);
  }

  async doTransactionUpdate(db: MeasuredDB): Promise<Status> {
    const keyname = this.buildKeyName(this.nextKeynum());
    const values = this.writeallfields ? this.buildValues(keyname) : this.buildSingleValue(keyname);
    return db.update(this.table, keyname, values);
  }

  async doTransactionInsert(db: MeasuredDB): Promise<Status> {
    const keynum = this.transactioninsertkeysequence.nextValue();
    try {
      const dbkey = this.buildKeyName(keynum);
      return await db.insert(this.table, dbkey, this.buildValues(dbkey));
    } finally {
      this.transactioninsertkeysequence.acknowledge(keynum);
    }
  }
}

/** The operation chooser from the five proportions (YCSB's createOperationGenerator). */
export function createOperationGenerator(p: PropertyReader, random: Random): DiscreteGenerator<Operation> {
  const chooser = new DiscreteGenerator<Operation>(random);
  const add = (name: string, fallback: number, op: Operation) => {
    const w = p.float(name, fallback);
    if (w > 0) chooser.addValue(w, op);
  };
  add('readproportion', 0.95, 'READ');
  add('updateproportion', 0.05, 'UPDATE');
  add('insertproportion', 0, 'INSERT');
  add('scanproportion', 0, 'SCAN');
  add('readmodifywriteproportion', 0, 'READMODIFYWRITE');
  return chooser;
}
