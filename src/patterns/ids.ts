import { systemClock, type Clock } from '../core/clock.js';
import { StrataError } from '../core/errors.js';

/**
 * A 64-bit id layout: [time: timeBits][node/shard: nodeBits][sequence: sequenceBits] in the low
 * bits. Snowflake uses 63 (the sign bit stays 0); Instagram's uses all 64, so its ids pass 2^63
 * (negative in a signed BIGINT) once 2^40 ms (~34.8 years) have passed since its epoch.
 */
export interface IdLayout {
  timeBits: number;
  nodeBits: number;
  sequenceBits: number;
  /** The custom epoch, ms since the Unix epoch. */
  epochMs: number;
}

/** Twitter's Snowflake: 41-bit ms, 10-bit node id, 12-bit sequence, Twitter's epoch (2010-11-04). */
export const SNOWFLAKE: IdLayout = Object.freeze({ timeBits: 41, nodeBits: 10, sequenceBits: 12, epochMs: 1288834974657 });
/** Instagram's: 41-bit ms, 13-bit logical shard id, 10-bit sequence, Instagram's epoch (2011-08-31). */
export const INSTAGRAM: IdLayout = Object.freeze({ timeBits: 41, nodeBits: 13, sequenceBits: 10, epochMs: 1314220021721 });

export interface IdParts {
  /** Ms since the Unix epoch. */
  timestampMs: number;
  /** Node id (Snowflake) or shard id (Instagram). */
  node: number;
  sequence: number;
}

/** The clock went backwards: the generator refuses to issue ids until it catches up (as Snowflake). */
export class ClockBackwardsError extends StrataError {
  constructor(readonly byMs: number) {
    super('CLOCK_BACKWARDS', `clock moved backwards by ${byMs} ms; refusing to issue ids until it catches up`);
    this.name = 'ClockBackwardsError';
  }
}

function check(layout: IdLayout): void {
  const { timeBits, nodeBits, sequenceBits } = layout;
  if (![timeBits, nodeBits, sequenceBits].every((b) => Number.isInteger(b) && b >= 1) || timeBits + nodeBits + sequenceBits > 64) {
    throw new RangeError('an id layout needs whole positive bit counts that add up to at most 64');
  }
}

export function encodeId(parts: IdParts, layout: IdLayout = SNOWFLAKE): bigint {
  check(layout);
  const t = BigInt(parts.timestampMs - layout.epochMs);
  if (t < 0n || t >= 1n << BigInt(layout.timeBits)) throw new RangeError(`timestamp ${parts.timestampMs} outside the layout's ${layout.timeBits}-bit range from its epoch`);
  if (!(parts.node >= 0 && parts.node < 2 ** layout.nodeBits && Number.isInteger(parts.node))) throw new RangeError(`node ${parts.node} does not fit ${layout.nodeBits} bits`);
  if (!(parts.sequence >= 0 && parts.sequence < 2 ** layout.sequenceBits && Number.isInteger(parts.sequence))) throw new RangeError(`sequence ${parts.sequence} does not fit`);
  return (t << BigInt(layout.nodeBits + layout.sequenceBits)) | (BigInt(parts.node) << BigInt(layout.sequenceBits)) | BigInt(parts.sequence);
}

export function decodeId(id: bigint, layout: IdLayout = SNOWFLAKE): IdParts {
  check(layout);
  if (id < 0n || id >= 1n << BigInt(layout.timeBits + layout.nodeBits + layout.sequenceBits)) throw new RangeError('not an id of this layout');
  const seqBits = BigInt(layout.sequenceBits);
  const nodeBits = BigInt(layout.nodeBits);
  return {
    timestampMs: Number(id >> (nodeBits + seqBits)) + layout.epochMs,
    node: Number((id >> seqBits) & ((1n << nodeBits) - 1n)),
    sequence: Number(id & ((1n << seqBits) - 1n)),
  };
}

/** The logical shard an Instagram-layout id belongs to (so the id routes itself). */
export function shardOf(id: bigint, layout: IdLayout = INSTAGRAM): number {
  return decodeId(id, layout).node;
}

export interface IdGeneratorOptions {
  /** Node id (Snowflake) or shard id (Instagram); unique among generators running at once. */
  node: number;
  layout?: IdLayout | undefined;
  clock?: Clock | undefined;
}

/**
 * Time-ordered 64-bit ids without coordination or autoincrement. Within one generator ids
 * strictly increase. When a millisecond's sequence is used up, `next()` spins until the clock
 * reaches the next millisecond (at most ~1 ms). When the clock goes backwards it throws
 * ClockBackwardsError (refuses) rather than wait: the caller decides whether to retry.
 */
export class IdGenerator {
  readonly layout: IdLayout;
  private readonly clock: Clock;
  private lastMs = -1;
  private sequence = 0;

  constructor(private readonly options: IdGeneratorOptions) {
    this.layout = options.layout ?? SNOWFLAKE;
    check(this.layout);
    this.clock = options.clock ?? systemClock;
    encodeId({ timestampMs: this.layout.epochMs, node: options.node, sequence: 0 }, this.layout); // validates node
  }

  next(): bigint {
    let now = this.clock.nowMs();
    if (now < this.lastMs) throw new ClockBackwardsError(this.lastMs - now);
    if (now === this.lastMs) {
      this.sequence = (this.sequence + 1) % 2 ** this.layout.sequenceBits;
      if (this.sequence === 0) {
        while (now === this.lastMs) now = this.clock.nowMs();
        if (now < this.lastMs) throw new ClockBackwardsError(this.lastMs - now);
      }
    } else {
      this.sequence = 0;
    }
    this.lastMs = now;
    return encodeId({ timestampMs: now, node: this.options.node, sequence: this.sequence }, this.layout);
  }
}

export const snowflake = (opts: { nodeId: number; epochMs?: number | undefined; clock?: Clock | undefined }): IdGenerator =>
  new IdGenerator({ node: opts.nodeId, layout: { ...SNOWFLAKE, epochMs: opts.epochMs ?? SNOWFLAKE.epochMs }, clock: opts.clock });

export const instagramIds = (opts: { shardId: number; epochMs?: number | undefined; clock?: Clock | undefined }): IdGenerator =>
  new IdGenerator({ node: opts.shardId, layout: { ...INSTAGRAM, epochMs: opts.epochMs ?? INSTAGRAM.epochMs }, clock: opts.clock });
