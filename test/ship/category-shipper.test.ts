import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { RpcCode, RpcError } from '../../src/net/rpc-frame.js';
import type { DecodedRecord } from '../../src/storage/record.js';
import type { Upstream } from '../../src/ship/broker-link.js';
import { ByteBudget } from '../../src/ship/byte-budget.js';
import { CategoryShipper, type LineIn } from '../../src/ship/category-shipper.js';
import type { WhenFull } from '../../src/ship/spool-room.js';
import { ShipStats } from '../../src/ship/ship-stats.js';
import { spooledSize } from '../../src/ship/spool-log.js';
import { eventually } from '../helpers/router.js';

/** One partition in memory that can be taken down, and can store a batch but lose its acknowledgement. */
class FakeBroker implements Upstream {
  readonly records: DecodedRecord[] = [];
  up = true;
  /** The next produce stores its lines, then fails as if the connection dropped before the reply. */
  loseNextAck = false;
  produced = 0;

  private check(): void {
    if (!this.up) throw new RpcError(RpcCode.closed, 'connection refused');
  }
  async partitionFor(): Promise<number> {
    this.check();
    return 0;
  }
  async endOffset(): Promise<number> {
    this.check();
    return this.records.length;
  }
  async produce(_t: string, _p: number, key: Buffer | null, lines: LineIn[]): Promise<number> {
    this.check();
    this.produced++;
    const base = this.records.length;
    for (const l of lines) this.records.push({ offset: this.records.length, timestamp: l.timestamp, key, value: Buffer.from(l.value) });
    if (this.loseNextAck) {
      this.loseNextAck = false;
      this.up = false;
      throw new RpcError(RpcCode.closed, 'connection closed');
    }
    return base;
  }
  async fetch(_t: string, _p: number, offset: number): Promise<DecodedRecord[]> {
    this.check();
    return this.records.slice(offset);
  }
  values(): string[] {
    return this.records.map((r) => r.value!.toString());
  }
}

const lines = (from: number, n: number, prefix = 'l'): LineIn[] => Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`${prefix}${from + i}`), timestamp: 1_700_000_000_000 + from + i }));
const names = (from: number, n: number, prefix = 'l') => lines(from, n, prefix).map((l) => l.value.toString());

function setup(t: { after(fn: () => void | Promise<void>): void }, over: { whenFull?: WhenFull; spoolMaxBytes?: number; dir?: string; broker?: FakeBroker } = {}) {
  const dir = over.dir ?? mkdtempSync(path.join(tmpdir(), 'strata-category-'));
  const broker = over.broker ?? new FakeBroker();
  const messages: string[] = [];
  const stats = new ShipStats(() => ({}));
  const spoolBudget = new ByteBudget(over.spoolMaxBytes ?? 1 << 20);
  let shipper: CategoryShipper | null = null;
  shipper = new CategoryShipper({
    category: 'web',
    topic: 'web',
    key: null,
    dir,
    segmentBytes: spooledSize(Buffer.from('l100')) * 4,
    whenFull: over.whenFull ?? 'block',
    memory: new ByteBudget(1 << 20),
    spoolBudget,
    dropOldestSomewhere: () => shipper!.dropOldestSegment(),
    link: broker,
    stats,
    log: createLogger('debug', {}, (l) => messages.push((JSON.parse(l) as { msg: string }).msg)),
    roundBytes: 1024,
    retryMaxMs: 20,
  });
  shipper.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await shipper!.stop();
    shipper!.close();
  };
  t.after(stop);
  if (!over.dir) t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, broker, shipper, stats, messages, spoolBudget, stop };
}

test('lines go straight to the broker, in order, while it answers', async (t) => {
  const { broker, shipper, stats } = setup(t);
  const handed: string[] = [];
  await shipper.accept(lines(0, 50), (l) => handed.push(l.value.toString()));
  await shipper.drained();
  assert.deepEqual(broker.values(), names(0, 50));
  assert.deepEqual(handed, names(0, 50));
  assert.equal(stats.forwarded, 50);
  assert.equal(stats.spooled, 0);
});

test('broker down: lines are spooled and handed over; back up: sent from the spool in order, then streaming again', async (t) => {
  const { broker, shipper, stats, messages } = setup(t);
  broker.up = false;
  const handed: string[] = [];
  await shipper.accept(lines(0, 10), (l) => handed.push(l.value.toString()));
  await eventually('the lines spooled', () => stats.spooled === 10);
  await shipper.accept(lines(10, 10), (l) => handed.push(l.value.toString()));
  assert.deepEqual(handed, names(0, 20), 'spooled lines are handed over (their input may move on)');
  assert.ok(messages.includes('broker unreachable, spooling to disk'), 'the outage is logged');
  assert.equal(shipper.spooledLines, 20);
  broker.up = true;
  await shipper.drained();
  assert.deepEqual(broker.values(), names(0, 20));
  assert.ok(messages.includes('spool drained; forwarding directly again'), 'the return to streaming is logged');
  await shipper.accept(lines(20, 5), () => {});
  await eventually('streaming again', () => broker.records.length === 25);
  assert.equal(stats.spooled, 20);
});

test('a lost acknowledgement: the lines the broker stored are not sent again', async (t) => {
  const { broker, shipper, stats, messages } = setup(t);
  await shipper.accept(lines(0, 5), () => {});
  await shipper.drained();
  broker.loseNextAck = true;
  await shipper.accept(lines(5, 5), () => {});
  await eventually('the failed send spooled', () => stats.spooled === 5);
  await shipper.accept(lines(10, 5), () => {});
  broker.up = true;
  await shipper.drained();
  assert.deepEqual(broker.values(), names(0, 15), 'each line once, in order');
  assert.equal(stats.alreadyDelivered, 5);
  assert.ok(messages.includes('lines stored by the broker before it failed to acknowledge them: not sent again'), 'the skip is logged');
});

test('stopped with lines not acknowledged: they are spooled, and the next run sends them once (even if the last send was stored)', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-category-'));
  const first = setup(t, { dir });
  first.broker.loseNextAck = true;
  await first.shipper.accept(lines(0, 8), () => {});
  await eventually('the failed send spooled', () => first.stats.spooled === 8);
  await first.stop();
  const second = setup(t, { dir, broker: first.broker });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(second.shipper.spooledLines, 8);
  first.broker.up = true;
  await second.shipper.drained();
  assert.deepEqual(first.broker.values(), names(0, 8));
  assert.equal(second.stats.alreadyDelivered, 8);
  assert.equal(second.stats.forwarded, 0);
});

test('full spool, drop-newest: later lines are dropped and counted; the spool stays within its bound', async (t) => {
  const size = spooledSize(Buffer.from('l100'));
  const { broker, shipper, stats, spoolBudget } = setup(t, { whenFull: 'drop-newest', spoolMaxBytes: size * 10 });
  broker.up = false;
  for (let i = 0; i < 30; i += 5) await shipper.accept(lines(100 + i, 5), () => {});
  await eventually('all lines spooled or dropped', () => stats.spooled + stats.dropped === 30);
  assert.equal(stats.spooled, 10);
  assert.equal(stats.dropped, 20);
  assert.ok(spoolBudget.used <= size * 10, `spool ${spoolBudget.used} bytes, bound ${size * 10}`);
  broker.up = true;
  await shipper.drained();
  assert.deepEqual(broker.values(), names(100, 10), 'the oldest lines kept');
});

test('full spool, drop-oldest: whole old segments are dropped and counted; the newest lines kept', async (t) => {
  const size = spooledSize(Buffer.from('l100'));
  const { broker, shipper, stats, spoolBudget } = setup(t, { whenFull: 'drop-oldest', spoolMaxBytes: size * 10 });
  broker.up = false;
  for (let i = 0; i < 30; i += 5) await shipper.accept(lines(100 + i, 5), () => {});
  await eventually('all lines spooled', () => stats.spooled === 30);
  assert.equal(stats.dropped, 30 - shipper.spooledLines);
  assert.ok(spoolBudget.used <= size * 10, `spool ${spoolBudget.used} bytes, bound ${size * 10}`);
  broker.up = true;
  await shipper.drained();
  assert.deepEqual(broker.values(), names(130 - broker.records.length, broker.records.length), 'a run of the newest lines');
  assert.ok(broker.records.length >= 6, `${broker.records.length} lines kept`);
});

test('full spool, block: accept waits until forwarding makes room; nothing is dropped', async (t) => {
  const size = spooledSize(Buffer.from('l100'));
  const { broker, shipper, stats, spoolBudget } = setup(t, { whenFull: 'block', spoolMaxBytes: size * 10 });
  broker.up = false;
  await shipper.accept(lines(100, 10), () => {});
  await eventually('spooled', () => stats.spooled === 10);
  let accepted = false;
  const more = shipper.accept(lines(110, 10), () => {}).then(() => (accepted = true));
  await eventually('the spool is full and the input waits', () => stats.spooled === 10 && spoolBudget.used === size * 10);
  assert.equal(accepted, false);
  broker.up = true;
  await more;
  await shipper.drained();
  assert.deepEqual(broker.values(), names(100, 20));
  assert.equal(stats.dropped, 0);
});
