import type { Logger } from '../core/log.js';
import { Backoff } from './backoff.js';
import type { Upstream } from './broker-link.js';
import type { ByteBudget } from './byte-budget.js';
import { deliveredPrefix } from './delivered-prefix.js';
import type { ShipStats } from './ship-stats.js';
import { SpoolCursor, type SpoolCursorState } from './spool-cursor.js';
import { SpoolLog, spooledSize } from './spool-log.js';
import { sleep } from './sleep.js';
import { SpoolRoom, type WhenFull } from './spool-room.js';

/** What a category is given: a line's bytes and the time it was read. */
export interface LineIn {
  value: Buffer;
  timestamp: number;
}

export interface CategoryOptions {
  category: string;
  topic: string;
  /** Key of every record (null: none). */
  key: Buffer | null;
  /** This category's spool directory. */
  dir: string;
  segmentBytes: number;
  whenFull: WhenFull;
  /** Bytes of lines held in memory, shared by all categories. */
  memory: ByteBudget;
  /** Bytes of the spools, shared by all categories. */
  spoolBudget: ByteBudget;
  /** Under drop-oldest: delete the oldest spool segment of the fullest category; false if none. */
  dropOldestSomewhere: () => boolean;
  link: Upstream;
  stats: ShipStats;
  log: Logger;
  /** Bytes of lines sent in one produce request. */
  roundBytes: number;
  /** Longest wait between attempts while the broker is unreachable. */
  retryMaxMs: number;
}

interface Queued {
  line: LineIn;
  bytes: number;
  /** Tell the line's input it may forget the line. */
  handedOver: () => void;
}

/**
 * The lines of one category on their way to its topic, as Scribe's buffer store: while the
 * broker answers, lines go from a bounded in-memory queue straight to it ("streaming"); when a
 * send fails, the queue and every later line go to the disk spool ("spooling") and are sent from
 * there, oldest first, until it is empty, when streaming resumes. One produce request is in
 * flight at a time, so lines arrive in the order they were read. A line is handed over (its
 * input may move past it) once it is acknowledged, spooled or dropped by the full policy.
 */
export class CategoryShipper {
  private mode: 'streaming' | 'spooling';
  private readonly queue: Queued[] = [];
  private queueBytes = 0;
  private readonly spool: SpoolLog;
  private readonly cursorFile: SpoolCursor;
  private readonly cursor: SpoolCursorState;
  /** The partition lines go to, once the topic is known to exist (reset after a failure). */
  private partition: number | null = null;
  /** Whether the last send may have been stored without its acknowledgement arriving. */
  private uncertain: boolean;
  /** Spool offsets below this are in the request in flight. */
  private sendingUpTo = 0;
  private readonly room: SpoolRoom;
  /** Whether "spool full" was logged since the spool was last drained. */
  private fullLogged = false;
  /** Inputs writing to the spool right now (some waiting for room). */
  private spoolWriters = 0;
  private wake: (() => void) | null = null;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly opts: CategoryOptions) {
    this.spool = SpoolLog.open(opts.dir, { segmentBytes: opts.segmentBytes, log: opts.log });
    this.cursorFile = new SpoolCursor(opts.dir);
    this.cursor = this.cursorFile.load();
    if (this.cursor.next < this.spool.startOffset || this.cursor.next > this.spool.endOffset) {
      this.cursor.next = Math.min(Math.max(this.cursor.next, this.spool.startOffset), this.spool.endOffset);
      this.cursor.expected = null;
    }
    opts.spoolBudget.forceTake(this.spool.bytes);
    this.room = new SpoolRoom(opts.spoolBudget, opts.whenFull, opts.dropOldestSomewhere, () => this.noteFull());
    this.mode = this.spooledLines > 0 ? 'spooling' : 'streaming';
    this.uncertain = this.mode === 'spooling' && this.cursor.expected !== null;
    if (this.mode === 'spooling') opts.log.info('spooled lines from an earlier run to forward', { category: opts.category, lines: this.spooledLines });
  }

  get category(): string {
    return this.opts.category;
  }

  get spoolBytes(): number {
    return this.spool.bytes;
  }

  /** Lines in the spool not yet acknowledged. */
  get spooledLines(): number {
    return Math.max(0, this.spool.endOffset - this.cursor.next);
  }

  get spooling(): boolean {
    return this.mode === 'spooling';
  }

  /** Nothing in memory or in the spool waits to be sent. */
  get idle(): boolean {
    return this.queue.length === 0 && this.spooledLines === 0;
  }

  start(): void {
    this.loop = this.forward(this.stopping.signal);
  }

  /**
   * Take lines from an input. Resolves once each is queued in memory, spooled or dropped; waits
   * while the memory queue is full (and, under `block`, while the spool is full), which is what
   * holds the input back. `handedOver` is called for each line, in order, when the input may
   * forget it (acknowledged, spooled or dropped).
   */
  async accept<L extends LineIn>(lines: L[], handedOver: (line: L) => void): Promise<void> {
    this.opts.stats.read += lines.length;
    if (this.mode === 'streaming') {
      let bytes = 0;
      for (const l of lines) bytes += spooledSize(l.value);
      await this.opts.memory.take(bytes);
      // The mode may have changed while waiting (a failed send, or stopping).
      if (this.mode === 'streaming') {
        for (const line of lines) this.queue.push({ line, bytes: spooledSize(line.value), handedOver: () => handedOver(line) });
        this.queueBytes += bytes;
        this.kick();
        return;
      }
      this.opts.memory.release(bytes);
    }
    // While lines are being written here the forwarder does not go back to streaming, which
    // would let this input's later lines overtake them.
    this.spoolWriters++;
    try {
      for (const line of lines) {
        await this.spoolOne({ line, bytes: spooledSize(line.value), handedOver: () => handedOver(line) });
        this.kick();
      }
    } finally {
      this.spoolWriters--;
      this.kick();
    }
  }

  /** Resolves once nothing waits to be sent (or the shipper stops). */
  drained(): Promise<void> {
    if (this.idle || this.stopping.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Make spooled lines durable (before input checkpoints claim them). */
  syncSpool(): void {
    this.spool.sync();
  }

  /** Delete the oldest spool segment (drop-oldest making room); false if there is none. */
  dropOldestSegment(): boolean {
    const d = this.spool.dropOldest();
    if (!d) return false;
    this.opts.spoolBudget.release(d.bytes);
    const lost = Math.max(0, d.to - Math.max(this.cursor.next, this.sendingUpTo, d.from));
    this.opts.stats.dropped += lost;
    if (this.cursor.next < d.to) {
      // The line the expected offset was for is gone: nothing to check a resend against.
      this.cursor.next = d.to;
      this.cursor.expected = null;
      this.uncertain = false;
      this.cursorFile.save(this.cursor);
    }
    this.notifyIdle();
    return true;
  }

  /** Stop sending; lines still in memory go to the spool for the next run. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.loop;
    this.enterSpooling();
    this.spoolNow(this.queue.splice(0));
    this.opts.memory.release(this.queueBytes);
    this.queueBytes = 0;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  close(): void {
    this.spool.sync();
    this.spool.close();
  }

  private kick(): void {
    this.wake?.();
  }

  // ---- sending ----

  private async forward(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(100, this.opts.retryMaxMs);
    let down = false;
    while (!signal.aborted) {
      if (!this.hasWork()) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      try {
        await this.sendOne(signal);
        if (down) this.opts.log.info('broker reachable again; forwarding spooled lines', { category: this.category, spooledLines: this.spooledLines });
        down = false;
        backoff.reset();
      } catch (err) {
        this.partition = null;
        this.uncertain = this.cursor.expected !== null;
        this.sendingUpTo = this.cursor.next;
        if (signal.aborted) break;
        this.sendFailed(err, !down);
        down = true;
        await sleep(backoff.next(), signal);
      }
    }
  }

  private hasWork(): boolean {
    if (this.mode === 'streaming') return this.queue.length > 0;
    if (this.spooledLines > 0) return true;
    if (this.spoolWriters === 0) this.leaveSpooling();
    return this.queue.length > 0;
  }

  private async sendOne(signal: AbortSignal): Promise<void> {
    const { link, topic, key } = { link: this.opts.link, topic: this.opts.topic, key: this.opts.key };
    if (this.partition === null) {
      const partition = await link.partitionFor(topic, key);
      if (this.cursor.expected?.partition !== partition) {
        this.cursor.expected = { partition, offset: await link.endOffset(topic, partition, signal) };
        this.uncertain = false;
      }
      this.partition = partition;
    }
    if (this.uncertain) await this.skipDelivered(this.partition, signal);
    const round = this.peek();
    if (round.length === 0) return;
    const base = await link.produce(topic, this.partition, key, round, signal);
    this.acknowledged(round.length, base, 'forwarded');
  }

  /** The oldest lines not acknowledged, up to a round's worth: from memory, or from the spool. */
  private peek(): LineIn[] {
    if (this.mode === 'spooling') {
      const records = this.spool.read(this.cursor.next, this.opts.roundBytes);
      this.sendingUpTo = records.length > 0 ? records[records.length - 1].offset + 1 : this.cursor.next;
      return records;
    }
    const out: LineIn[] = [];
    let bytes = 0;
    for (const q of this.queue) {
      if (out.length > 0 && bytes + q.bytes > this.opts.roundBytes) break;
      out.push(q.line);
      bytes += q.bytes;
    }
    return out;
  }

  /** The first `n` lines peeked are stored at `base`...: let them go. */
  private acknowledged(n: number, base: number, counter: 'forwarded' | 'alreadyDelivered'): void {
    this.opts.stats[counter] += n;
    this.cursor.expected = { partition: this.partition!, offset: base + n };
    if (this.mode === 'streaming') {
      const done = this.queue.splice(0, n);
      let bytes = 0;
      for (const q of done) bytes += q.bytes;
      this.queueBytes -= bytes;
      this.opts.memory.release(bytes);
      for (const q of done) q.handedOver();
    } else {
      this.cursor.next = Math.max(this.cursor.next, this.sendingUpTo);
      // The cursor is on disk before the segments it passed are deleted.
      this.cursorFile.save(this.cursor);
      this.opts.spoolBudget.release(this.spool.deleteBelow(this.cursor.next));
      if (this.spooledLines === 0 && this.spoolWriters === 0) this.leaveSpooling();
    }
    this.notifyIdle();
  }

  /**
   * After a failed send, before sending again: the broker may have stored lines whose
   * acknowledgement was lost. Those found right where the next line was expected are let go
   * instead of resent (docs/ship.md, "Guarantees").
   */
  private async skipDelivered(partition: number, signal: AbortSignal): Promise<void> {
    const { link, topic, key } = { link: this.opts.link, topic: this.opts.topic, key: this.opts.key };
    let at = this.cursor.expected!.offset;
    let skipped = 0;
    for (;;) {
      const pending = this.peek();
      if (pending.length === 0) break;
      const stored = await link.fetch(topic, partition, at, this.opts.roundBytes, signal);
      const n = deliveredPrefix(stored, at, pending, key);
      if (n === 0) break;
      // Only the first n of the peeked lines are let go.
      if (this.mode === 'spooling') this.sendingUpTo = this.cursor.next + n;
      this.acknowledged(n, at, 'alreadyDelivered');
      skipped += n;
      at += n;
      if (n < pending.length) break;
    }
    if (skipped > 0) this.opts.log.info('lines stored by the broker before it failed to acknowledge them: not sent again', { category: this.category, lines: skipped });
    this.cursor.expected = { partition, offset: await link.endOffset(topic, partition, signal) };
    this.uncertain = false;
  }

  private sendFailed(err: unknown, firstFailure: boolean): void {
    const wasStreaming = this.mode === 'streaming';
    const fields = { category: this.category, topic: this.opts.topic, err: (err as Error).message ?? String(err), linesInMemory: this.queue.length, spooledLines: this.spooledLines };
    if (wasStreaming || firstFailure) this.opts.log.warn('broker unreachable, spooling to disk', fields);
    else this.opts.log.debug('broker still unreachable', fields);
    if (wasStreaming) {
      this.enterSpooling();
      const queued = this.queue.splice(0);
      this.opts.memory.release(this.queueBytes);
      this.queueBytes = 0;
      this.spoolNow(queued);
      this.opts.stats.report(this.opts.log);
    }
  }

  // ---- spooling ----

  private enterSpooling(): void {
    if (this.mode === 'spooling') return;
    this.mode = 'spooling';
    // The spool is empty past the cursor: the queued lines get offsets from `next` on, and the
    // first of them lands at `expected` if it was stored after all.
    this.cursorFile.save(this.cursor);
  }

  private leaveSpooling(): void {
    if (this.mode === 'streaming' || this.stopping.signal.aborted) return;
    this.mode = 'streaming';
    this.fullLogged = false;
    this.opts.log.info('spool drained; forwarding directly again', { category: this.category });
    this.opts.stats.report(this.opts.log);
    this.notifyIdle();
  }

  /** Write lines taken into memory to the spool at once (`block` keeps them even past the bound). */
  private spoolNow(items: Queued[]): void {
    for (const q of items) this.spooled(q, this.room.takeForTaken(q.bytes));
  }

  /** Write a line from an input to the spool; under `block`, wait for room first. */
  private async spoolOne(q: Queued): Promise<void> {
    this.spooled(q, await this.room.take(q.bytes, this.stopping.signal));
  }

  private spooled(q: Queued, kept: boolean): void {
    if (kept) {
      this.spool.append([q.line]);
      this.opts.stats.spooled++;
    } else {
      this.opts.stats.dropped++;
    }
    q.handedOver();
  }

  private noteFull(): void {
    if (this.fullLogged) return;
    this.fullLogged = true;
    const budget = this.opts.spoolBudget;
    this.opts.log.warn('spool full', { category: this.category, policy: this.opts.whenFull, spoolBytes: budget.used, limit: budget.limit });
  }

  private notifyIdle(): void {
    if (this.idle) for (const w of this.idleWaiters.splice(0)) w();
  }
}
