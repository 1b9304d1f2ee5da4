/**
 * YCSB's generators (site.ycsb.generator), ported from their descriptions with the same constants
 * and formulas. Each takes a random source returning doubles in [0, 1) so runs can be repeated;
 * where YCSB takes `Math.abs(nextLong()) % n` this takes `floor(random() * n)`, the same uniform
 * choice without the modulo bias.
 */
import type { Random } from './random.js';

export interface NumberGenerator {
  nextValue(): number;
  lastValue(): number;
}

const FNV_OFFSET_BASIS_64 = 0xcbf29ce484222325n;
const FNV_PRIME_64 = 1099511628211n;
const LONG_MIN = -(1n << 63n);

/**
 * Utils.fnvhash64: FNV-1a over the 8 little-endian bytes of a Java long, then Math.abs of the
 * signed result. As in Java, Math.abs(Long.MIN_VALUE) stays negative (one hash in 2^64).
 */
export function fnvhash64(value: number | bigint): bigint {
  let val = BigInt.asIntN(64, BigInt(value));
  let hash = FNV_OFFSET_BASIS_64;
  for (let i = 0; i < 8; i++) {
    const octet = val & 0xffn;
    val >>= 8n;
    hash = BigInt.asUintN(64, (hash ^ octet) * FNV_PRIME_64);
  }
  const signed = BigInt.asIntN(64, hash);
  return signed < 0n && signed !== LONG_MIN ? -signed : signed;
}

/** Java's String.hashCode: s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in 32-bit int arithmetic. */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

export class ConstantIntegerGenerator implements NumberGenerator {
  constructor(private readonly value: number) {}
  nextValue(): number {
    return this.value;
  }
  lastValue(): number {
    return this.value;
  }
}

/** Uniform over [lb, ub], both inclusive. */
export class UniformLongGenerator implements NumberGenerator {
  private readonly interval: number;
  private last: number;
  constructor(private readonly lb: number, ub: number, private readonly random: Random = Math.random) {
    this.interval = ub - lb + 1;
    this.last = lb;
  }
  nextValue(): number {
    this.last = this.lb + Math.floor(this.random() * this.interval);
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

/** countstart, countstart+1, ...; lastValue() is the last value handed out. */
export class CounterGenerator implements NumberGenerator {
  protected counter: number;
  constructor(countstart: number) {
    this.counter = countstart;
  }
  nextValue(): number {
    return this.counter++;
  }
  lastValue(): number {
    return this.counter - 1;
  }
}

/** YCSB's requestdistribution=sequential: countstart + (n mod interval). */
export class SequentialGenerator implements NumberGenerator {
  private counter = 0;
  private readonly interval: number;
  private last = 0;
  constructor(private readonly countstart: number, countend: number) {
    this.interval = countend - countstart + 1;
  }
  nextValue(): number {
    this.last = this.countstart + (this.counter++ % this.interval);
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

const WINDOW_SIZE = 1 << 20;
const WINDOW_MASK = WINDOW_SIZE - 1;

/**
 * A counter whose lastValue() is the highest value below which every value has been acknowledged,
 * so `latest` never picks an insert that has not completed. Acknowledgements may arrive out of
 * order; a window of 2^20 pending values, as in YCSB.
 */
export class AcknowledgedCounterGenerator extends CounterGenerator {
  private readonly window = new Uint8Array(WINDOW_SIZE);
  private limit: number;
  constructor(countstart: number) {
    super(countstart);
    this.limit = countstart - 1;
  }
  override lastValue(): number {
    return this.limit;
  }
  acknowledge(value: number): void {
    const slot = value & WINDOW_MASK;
    if (this.window[slot]) throw new Error('Too many unacknowledged insertion keys.');
    this.window[slot] = 1;
    // One event loop: YCSB's tryLock always succeeds here. Same loop bound as YCSB.
    const beforeFirstSlot = this.limit & WINDOW_MASK;
    let index: number;
    for (index = this.limit + 1; index !== beforeFirstSlot; ++index) {
      const s = index & WINDOW_MASK;
      if (!this.window[s]) break;
      this.window[s] = 0;
    }
    this.limit = index - 1;
  }
}

export const ZIPFIAN_CONSTANT = 0.99;

/** Σ_{i=st+1..n} 1/i^theta added to initialsum (YCSB's zetastatic). */
export function zetaStatic(st: number, n: number, theta: number, initialsum: number): number {
  let sum = initialsum;
  for (let i = st; i < n; i++) sum += 1 / Math.pow(i + 1, theta);
  return sum;
}

/**
 * Gray et al., "Quickly Generating Billion-Record Synthetic Databases" (SIGMOD 1994), as YCSB's
 * ZipfianGenerator: item `min` is the most popular. nextLong(itemcount) with a larger count extends
 * zeta incrementally; as in YCSB, eta is then recomputed with the item count given at construction
 * and a smaller count does not recompute anything.
 */
export class ZipfianGenerator implements NumberGenerator {
  private readonly items: number;
  private readonly base: number;
  private readonly theta: number;
  private readonly zeta2theta: number;
  private readonly alpha: number;
  private zetan: number;
  private eta: number;
  private countforzeta: number;
  private last = 0;

  constructor(min: number, max: number, theta = ZIPFIAN_CONSTANT, zetan?: number, private readonly random: Random = Math.random) {
    this.items = max - min + 1;
    this.base = min;
    this.theta = theta;
    this.zeta2theta = zetaStatic(0, 2, theta, 0);
    this.alpha = 1 / (1 - theta);
    this.zetan = zetan ?? zetaStatic(0, this.items, theta, 0);
    this.countforzeta = this.items;
    this.eta = this.computeEta();
    this.nextValue();
  }

  /** A generator over [0, items). */
  static ofItems(items: number, random: Random = Math.random): ZipfianGenerator {
    return new ZipfianGenerator(0, items - 1, ZIPFIAN_CONSTANT, undefined, random);
  }

  private computeEta(): number {
    return (1 - Math.pow(2 / this.items, 1 - this.theta)) / (1 - this.zeta2theta / this.zetan);
  }

  nextLong(itemcount: number): number {
    if (itemcount > this.countforzeta) {
      this.zetan = zetaStatic(this.countforzeta, itemcount, this.theta, this.zetan);
      this.countforzeta = itemcount;
      this.eta = this.computeEta();
    }
    const u = this.random();
    const uz = u * this.zetan;
    if (uz < 1) this.last = this.base;
    else if (uz < 1 + Math.pow(0.5, this.theta)) this.last = this.base + 1;
    else this.last = this.base + Math.floor(itemcount * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    return this.last;
  }

  nextValue(): number {
    return this.nextLong(this.items);
  }

  lastValue(): number {
    return this.last;
  }
}

/** The Gray generator's item space for the scrambled zipfian, and zeta over it at theta 0.99. */
export const SCRAMBLED_ITEM_COUNT = 10_000_000_000;
export const SCRAMBLED_ZETAN = 26.46902820178302;

/**
 * Zipfian popularity scattered over [min, max]: a zipfian over 10^10 items, hashed with FNV and
 * taken mod the item count, so the popular items are not clustered. As in YCSB, the inner
 * generator covers [0, ITEM_COUNT] whatever the range.
 */
export class ScrambledZipfianGenerator implements NumberGenerator {
  private readonly gen: ZipfianGenerator;
  private readonly itemcount: bigint;
  private last: number;
  constructor(private readonly min: number, max: number, random: Random = Math.random) {
    this.itemcount = BigInt(max - min + 1);
    this.gen = new ZipfianGenerator(0, SCRAMBLED_ITEM_COUNT, ZIPFIAN_CONSTANT, SCRAMBLED_ZETAN, random);
    this.last = min;
  }
  nextValue(): number {
    this.last = this.min + Number(fnvhash64(this.gen.nextValue()) % this.itemcount);
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

/** max - zipfian(max), where max is the basis counter's last (acknowledged) value: recent items are popular. */
export class SkewedLatestGenerator implements NumberGenerator {
  private readonly zipfian: ZipfianGenerator;
  private last = 0;
  constructor(private readonly basis: NumberGenerator, random: Random = Math.random) {
    this.zipfian = ZipfianGenerator.ofItems(basis.lastValue(), random);
    this.nextValue();
  }
  nextValue(): number {
    const max = this.basis.lastValue();
    this.last = max - this.zipfian.nextLong(max);
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

/**
 * hotOpnFraction of the draws fall uniformly in the first hotsetFraction of [lb, ub], the rest
 * uniformly in the remainder. Out-of-range fractions become 0 as in YCSB; where YCSB would divide by
 * an empty set's size, the draw goes to the other set.
 */
export class HotspotIntegerGenerator implements NumberGenerator {
  private readonly lb: number;
  private readonly hotInterval: number;
  private readonly coldInterval: number;
  private readonly hotOpnFraction: number;
  private last: number;
  constructor(lb: number, ub: number, hotsetFraction: number, hotOpnFraction: number, private readonly random: Random = Math.random) {
    if (hotsetFraction < 0 || hotsetFraction > 1) hotsetFraction = 0;
    if (hotOpnFraction < 0 || hotOpnFraction > 1) hotOpnFraction = 0;
    if (lb > ub) [lb, ub] = [ub, lb];
    this.lb = lb;
    const interval = ub - lb + 1;
    this.hotInterval = Math.trunc(interval * hotsetFraction);
    this.coldInterval = interval - this.hotInterval;
    this.hotOpnFraction = hotOpnFraction;
    this.last = lb;
  }
  nextValue(): number {
    const hot = this.random() < this.hotOpnFraction;
    if ((hot && this.hotInterval > 0) || this.coldInterval === 0) this.last = this.lb + Math.floor(this.random() * this.hotInterval);
    else this.last = this.lb + this.hotInterval + Math.floor(this.random() * this.coldInterval);
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

/** Exponentially distributed doubles with rate gamma (YCSB's ExponentialGenerator). */
export class ExponentialGenerator implements NumberGenerator {
  private last = 0;
  private constructor(private readonly gamma: number, private readonly random: Random) {}
  /** percentile % of the draws fall below range (exponential.percentile, exponential.frac). */
  static ofPercentile(percentile: number, range: number, random: Random = Math.random): ExponentialGenerator {
    return new ExponentialGenerator(-Math.log(1 - percentile / 100) / range, random);
  }
  static ofMean(mean: number, random: Random = Math.random): ExponentialGenerator {
    return new ExponentialGenerator(1 / mean, random);
  }
  nextValue(): number {
    this.last = -Math.log(this.random()) / this.gamma;
    return this.last;
  }
  lastValue(): number {
    return this.last;
  }
}

/** Chooses among values with the given weights (YCSB's operation chooser). */
export class DiscreteGenerator<T = string> {
  private readonly values: Array<{ weight: number; value: T }> = [];
  constructor(private readonly random: Random = Math.random) {}
  addValue(weight: number, value: T): void {
    this.values.push({ weight, value });
  }
  /** null when no value has a weight (YCSB ends the run then). */
  nextValue(): T | null {
    if (this.values.length === 0) return null;
    let sum = 0;
    for (const p of this.values) sum += p.weight;
    let val = this.random();
    for (const p of this.values) {
      const pw = p.weight / sum;
      if (val < pw) return p.value;
      val -= pw;
    }
    // Rounding can leave val just at the total; YCSB would fail an assertion here.
    return this.values[this.values.length - 1].value;
  }
}
