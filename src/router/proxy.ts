import type { Connection, ConnectionHandler } from '../net/tcp-server.js';
import type { Router } from './router.js';
import { RequestParser, type ClientCommand, type Quiet } from './protocol/parser.js';
import type { Request } from './protocol/request.js';
import { type Reply, startsWith } from './protocol/reply.js';

export interface ProxyContext {
  router: Router;
  itemSizeMax: number;
  version: string;
  stats: ProxyStats;
  /** Extra `stats` lines (name, value). */
  statLines(): Array<[string, string | number]>;
}

export interface ProxyStats {
  startedMs: number;
  totalConnections: number;
  currConnections: number;
  cmdGet: number;
  getHits: number;
  getMisses: number;
  cmdOther: number;
  failedRequests: number;
}

/**
 * A connection stops reading while this many commands wait for replies, or while this many reply
 * bytes wait for the client to read them: a client that never reads holds at most about
 * MAX_OUTSTANDING replies plus WRITE_HIGH_WATER bytes in the router.
 */
const MAX_OUTSTANDING = 256;
const WRITE_HIGH_WATER = 4 * 1024 * 1024;

const END = Buffer.from('END\r\n');
const EMPTY = Buffer.alloc(0);

/** A client command's place in the reply order: its bytes once known. */
interface Slot {
  /** A multiget's parts stay separate until the one concatenation of the write. */
  bytes: Buffer | Buffer[] | null;
  /** Close the connection once this slot's bytes are sent. */
  close: boolean;
}

/**
 * One client connection of the router: parses text/meta requests, routes each key, and writes
 * replies in request order (a multi-key get is answered once all its keys are), one socket write
 * per batch of replies ready together.
 */
export class RouterConnection implements ConnectionHandler {
  private readonly parser: RequestParser;
  private input: Buffer | null = null;
  private slots: Slot[] = [];
  private head = 0;
  private outstanding = 0;
  private flushQueued = false;
  private closed = false;
  private closing = false;
  /** Reading stopped because too many commands wait for replies. */
  private paused = false;

  constructor(
    private readonly conn: Connection,
    private readonly ctx: ProxyContext,
  ) {
    this.parser = new RequestParser(ctx.itemSizeMax);
    ctx.stats.totalConnections++;
    ctx.stats.currConnections++;
  }

  onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.slots.length === 0 && chunk[0] === 0x80 && this.input === null) {
      this.push(Buffer.from('SERVER_ERROR the router speaks the text and meta protocols, not binary\r\n'), true);
      this.scheduleFlush();
      return;
    }
    // The chunk's memory is reused after this returns, and requests keep slices of it: own it.
    this.input = this.input === null ? Buffer.from(chunk) : Buffer.concat([this.input, chunk]);
    this.parseInput();
  }

  private parseInput(): void {
    const buf = this.input!;
    this.input = null;
    const pos = this.parser.parse(buf, 0, buf.length, (cmd) => {
      this.handle(cmd);
      return !this.closing && this.canTakeMore();
    });
    if (pos < buf.length && !this.closing) this.input = buf.subarray(pos);
    if (!this.canTakeMore() && !this.paused) {
      this.paused = true;
      this.conn.socket.pause();
    }
    this.scheduleFlush();
  }

  private handle(cmd: ClientCommand): void {
    switch (cmd.kind) {
      case 'error':
        if (cmd.tooLarge !== undefined) this.dropStale(cmd.tooLarge);
        return this.push(Buffer.from(cmd.reply, 'latin1'), cmd.close);
      case 'keys':
        return this.multiGet(cmd.op, cmd.exptime, cmd.keys);
      case 'keyed':
        return this.keyed(cmd.req, cmd.quiet);
      case 'local':
        return this.local(cmd.op, cmd.args, cmd.quiet);
    }
  }

  private multiGet(op: 'get' | 'gets' | 'gat' | 'gats', exptime: string | null, keys: Buffer[]): void {
    const stats = this.ctx.stats;
    stats.cmdGet += keys.length;
    const slot = this.open();
    if (keys.length === 0) return this.fill(slot, END); // `gat <exptime>` without keys, as memcached
    const parts: Buffer[] = new Array(keys.length);
    let left = keys.length;
    const router = this.ctx.router;
    for (let i = 0; i < keys.length; i++) {
      const req: Request =
        exptime === null
          ? { op, key: keys[i], line: null, data: null, shape: 'values' }
          : { op, key: keys[i], line: Buffer.from(`${op} ${exptime} ${keys[i].toString('latin1')}`, 'latin1'), data: null, shape: 'values' };
      router.route(req, (reply) => {
        if (reply.status === 'ok') {
          parts[i] = reply.bytes;
          stats.getHits++;
        } else {
          parts[i] = EMPTY;
          stats.getMisses++;
          if (reply.status !== 'miss') stats.failedRequests++;
        }
        if (--left === 0) {
          parts.push(END);
          this.fill(slot, parts);
        }
      });
    }
  }

  /** memcached removes the old value of a key whose new value was refused as too large. */
  private dropStale(key: string): void {
    const k = Buffer.from(key, 'latin1');
    this.ctx.router.route({ op: 'delete', key: k, line: Buffer.concat([Buffer.from('delete '), k]), data: null, shape: 'line' }, () => {});
  }

  private keyed(req: Request, quiet: Quiet): void {
    this.ctx.stats.cmdOther++;
    const slot = this.open();
    this.ctx.router.route(req, (reply) => this.fill(slot, this.answer(req, reply, quiet)));
  }

  /** What the client sees of a routed reply: a failure to read is a miss, not an error storm. */
  private answer(req: Request, reply: Reply, quiet: Quiet): Buffer {
    if (reply.status === 'failed') {
      this.ctx.stats.failedRequests++;
      if (req.op === 'mg' || req.op === 'me') return quiet === 'meta' ? EMPTY : Buffer.from('EN\r\n');
      if (quiet === 'noreply') return EMPTY;
      return Buffer.from(`SERVER_ERROR ${reply.reason ?? 'unavailable'}\r\n`, 'latin1');
    }
    if (quiet === 'noreply') return EMPTY;
    if (quiet === 'meta') {
      const b = reply.bytes;
      const hidden = req.op === 'mg' ? startsWith(b, 'EN') : req.op === 'ma' ? startsWith(b, 'HD') || startsWith(b, 'VA') : startsWith(b, 'HD');
      if (hidden) return EMPTY;
    }
    return reply.bytes;
  }

  private local(op: 'version' | 'stats' | 'flush_all' | 'verbosity' | 'quit' | 'mn', args: string[], quiet: Quiet): void {
    switch (op) {
      case 'quit':
        return this.push(EMPTY, true);
      case 'mn':
        return this.push(Buffer.from('MN\r\n'));
      case 'version':
        return this.push(Buffer.from(`VERSION ${this.ctx.version}\r\n`)); // memcached ignores arguments here
      case 'verbosity':
        if (quiet === 'noreply') return this.push(EMPTY);
        return this.push(Buffer.from(args.length === 1 ? 'OK\r\n' : 'ERROR\r\n'));
      case 'stats':
        return this.push(Buffer.from(args.length ? 'ERROR\r\n' : this.statsText()));
      case 'flush_all':
        return this.flushAll(args, quiet);
    }
  }

  /** flush_all goes to every server of the configuration; OK only if all said OK. */
  private flushAll(args: string[], quiet: Quiet): void {
    if (args.length > 1 || (args.length === 1 && !/^-?[0-9]+$/.test(args[0]))) return this.push(Buffer.from('CLIENT_ERROR bad command line format\r\n'));
    const slot = this.open();
    const servers = this.ctx.router.servers();
    let left = servers.length;
    let failure: string | null = null;
    const line = Buffer.from(['flush_all', ...args].join(' '));
    if (left === 0) return this.fill(slot, quiet === 'noreply' ? EMPTY : Buffer.from('OK\r\n'));
    for (const d of servers) {
      d.send({ op: 'flush_all', key: EMPTY, line, data: null, shape: 'line' }, (reply) => {
        if (reply.status !== 'ok' || !startsWith(reply.bytes, 'OK')) failure ??= `${d.name}: ${reply.reason ?? reply.bytes.toString('latin1').trim()}`;
        if (--left > 0) return;
        this.fill(slot, quiet === 'noreply' ? EMPTY : Buffer.from(failure ? `SERVER_ERROR flush_all failed on ${failure}\r\n` : 'OK\r\n', 'latin1'));
      });
    }
  }

  private statsText(): string {
    const s = this.ctx.stats;
    const now = Date.now();
    const lines: Array<[string, string | number]> = [
      ['pid', process.pid],
      ['uptime', Math.floor((now - s.startedMs) / 1000)],
      ['time', Math.floor(now / 1000)],
      ['version', this.ctx.version],
      ['curr_connections', s.currConnections],
      ['total_connections', s.totalConnections],
      ['cmd_get', s.cmdGet],
      ['get_hits', s.getHits],
      ['get_misses', s.getMisses],
      ['cmd_other', s.cmdOther],
      ['failed_requests', s.failedRequests],
      ...this.ctx.statLines(),
    ];
    return lines.map(([k, v]) => `STAT ${k} ${v}\r\n`).join('') + 'END\r\n';
  }

  private open(): Slot {
    const slot: Slot = { bytes: null, close: false };
    this.slots.push(slot);
    this.outstanding++;
    return slot;
  }

  private push(bytes: Buffer, close = false): void {
    this.slots.push({ bytes, close });
    if (close) this.closing = true;
  }

  private fill(slot: Slot, bytes: Buffer | Buffer[]): void {
    slot.bytes = bytes;
    this.outstanding--;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** Send every reply that is ready in order, in one write. */
  private flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    const out: Buffer[] = [];
    let close = false;
    while (this.head < this.slots.length) {
      const slot = this.slots[this.head];
      if (slot.bytes === null) break;
      if (Array.isArray(slot.bytes)) {
        for (const part of slot.bytes) if (part.length > 0) out.push(part);
      } else if (slot.bytes.length > 0) out.push(slot.bytes);
      this.head++;
      if (slot.close) {
        close = true;
        break;
      }
    }
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
    if (out.length > 0) this.conn.write(out.length === 1 ? out[0] : Buffer.concat(out));
    if (close) {
      this.closed = true;
      this.conn.end();
      return;
    }
    if (this.paused && this.canTakeMore()) {
      this.paused = false;
      this.conn.socket.resume();
      if (this.input !== null) this.parseInput();
    }
  }

  onDrain(): void {
    if (this.paused && this.canTakeMore()) {
      this.paused = false;
      this.conn.socket.resume();
    }
    if (this.input !== null && this.canTakeMore()) this.parseInput();
  }

  private canTakeMore(): boolean {
    return this.outstanding < MAX_OUTSTANDING && this.conn.socket.writableLength < WRITE_HIGH_WATER;
  }

  onClose(): void {
    this.closed = true;
    this.ctx.stats.currConnections--;
    this.input = null;
  }
}
