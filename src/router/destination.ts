import net from 'node:net';
import { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Request, ReplyShape } from './protocol/request.js';
import { type Reply, MISS, failed, classify, replyEnd, startsWith, valueKey, valueSize } from './protocol/reply.js';

export interface DestinationOptions {
  /** Sockets kept open to the server; requests are spread over them. */
  connections: number;
  /** A request without an answer after this long fails, and its connection is reset. */
  timeoutMs: number;
  /** Consecutive failures (errors, timeouts, refused connects) before the server is marked down. */
  failureLimit: number;
  /** While down, the server is probed (connect + `version`) this often. */
  retryMs: number;
  /** Requests queued or in flight to this server; beyond, requests fail at once (memory stays bounded). */
  maxPending: number;
  /** Most keys merged into one get line. */
  maxBatchKeys: number;
}

export const DEFAULT_DESTINATION_OPTIONS: DestinationOptions = {
  connections: 1,
  timeoutMs: 1000,
  failureLimit: 2,
  retryMs: 1000,
  maxPending: 10_000,
  maxBatchKeys: 100,
};

/** Request bytes one server may have queued or in flight (one request is always let through). */
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

type Callback = (reply: Reply) => void;

/** Requests written as one unit and answered by one reply: a batch of gets, or one other request. */
interface Exchange {
  shape: ReplyShape;
  /** Keys of a get batch (null for other requests). */
  keys: Buffer[] | null;
  callbacks: Callback[];
  sentAt: number;
  /** Get batch: callbacks answered so far. */
  answered: number;
  done: boolean;
}

export interface DestinationStats {
  requests: number;
  failures: number;
  timeouts: number;
  markedDown: number;
}

/**
 * One memcached server behind the router: a few pipelined connections, gets merged into
 * multi-key lines per flush, per-request timeouts, and health: after `failureLimit` consecutive
 * failures the server is marked down (requests fail at once, without waiting) and probed every
 * `retryMs` until it answers again. Emits 'up', 'down', and 'connected' (a connection opened).
 */
export class Destination extends EventEmitter {
  readonly name: string;
  state: 'up' | 'down' = 'up';
  readonly stats: DestinationStats = { requests: 0, failures: 0, timeouts: 0, markedDown: 0 };
  private readonly conns: BackendConnection[] = [];
  private next = 0;
  private consecutiveFailures = 0;
  private probeTimer: NodeJS.Timeout | null = null;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  pending = 0;
  /** Request bytes queued or in flight (values included), bounded by MAX_PENDING_BYTES. */
  pendingBytes = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly options: DestinationOptions,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    super();
    this.name = `${host}:${port}`;
    for (let i = 0; i < options.connections; i++) this.conns.push(new BackendConnection(this));
    this.ticker = setInterval(() => this.checkTimeouts(), Math.max(5, Math.min(100, options.timeoutMs / 4)));
    this.ticker.unref();
  }

  now(): number {
    return this.clock.nowMs();
  }

  /** Send a request; `done` is called exactly once (possibly before this returns). */
  send(req: Request, done: Callback): void {
    this.stats.requests++;
    if (this.closed) return done(failed('router closing'));
    if (this.state === 'down') return done(failed(`${this.name} is down`));
    if (this.pending >= this.options.maxPending) return done(failed(`${this.name}: too many pending requests`));
    const bytes = (req.data?.length ?? 0) + (req.line?.length ?? req.key.length);
    if (this.pendingBytes + bytes > MAX_PENDING_BYTES && this.pending > 0) return done(failed(`${this.name}: too many bytes pending`));
    this.pending++;
    this.pendingBytes += bytes;
    const conn = this.conns[this.next];
    this.next = (this.next + 1) % this.conns.length;
    conn.enqueue(req, (reply) => {
      this.pending--;
      this.pendingBytes -= bytes;
      done(reply);
    });
  }

  /** A reply came back: the server is healthy. */
  succeeded(): void {
    this.consecutiveFailures = 0;
  }

  /** Something failed on a connection (refused, reset, timed out). */
  failed(reason: string): void {
    this.stats.failures++;
    this.consecutiveFailures++;
    if (this.state === 'up' && this.consecutiveFailures >= this.options.failureLimit) this.markDown(reason);
  }

  private markDown(reason: string): void {
    if (this.closed) return;
    this.state = 'down';
    this.stats.markedDown++;
    this.log.warn('server marked down', { server: this.name, reason });
    for (const c of this.conns) c.reset(`${this.name} is down`);
    this.emit('down');
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      this.probe();
    }, this.options.retryMs);
    this.probeTimer.unref();
  }

  /** Connect and ask `version`; an answer brings the server back. */
  private probe(): void {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    let answered = false;
    const finish = (ok: boolean) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      socket.destroy();
      if (this.closed) return;
      if (ok) {
        this.state = 'up';
        this.consecutiveFailures = 0;
        this.log.info('server back up', { server: this.name });
        this.emit('up');
      } else this.scheduleProbe();
    };
    const timer = setTimeout(() => finish(false), this.options.timeoutMs);
    let input = '';
    socket.on('connect', () => socket.write('version\r\n'));
    socket.on('data', (chunk) => {
      input += chunk.toString('latin1');
      if (input.includes('\n')) finish(input.startsWith('VERSION'));
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  }

  private checkTimeouts(): void {
    const now = this.clock.nowMs();
    for (const c of this.conns) c.checkTimeout(now, this.options.timeoutMs);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    for (const c of this.conns) c.reset('router closing');
    this.removeAllListeners();
  }
}

/** One pipelined socket to a server. */
class BackendConnection {
  private socket: net.Socket | null = null;
  private connected = false;
  /** Requests waiting for the next flush. */
  private queued: Request[] = [];
  private queuedCallbacks: Callback[] = [];
  private flushScheduled = false;
  /** Exchanges written and waiting for their replies, oldest first. */
  private inflight: Exchange[] = [];
  private head = 0;
  private input: Buffer | null = null;
  /** Reads that arrived after `input`, not yet joined (see onData). */
  private inputChunks: Buffer[] = [];
  private inputLength = 0;
  private need = 0;
  /** Bumped by every reset, so a read in progress knows its exchanges are gone. */
  private generation = 0;
  private connectStarted = 0;

  constructor(private readonly dest: Destination) {}

  enqueue(req: Request, done: Callback): void {
    this.queued.push(req);
    this.queuedCallbacks.push(done);
    if (!this.socket) this.connect();
    if (this.connected && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private connect(): void {
    const socket = net.connect({ host: this.dest.host, port: this.dest.port, noDelay: true });
    this.socket = socket;
    this.connected = false;
    this.connectStarted = this.dest.now();
    socket.on('connect', () => {
      this.connected = true;
      this.flush();
      this.dest.emit('connected');
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      /* 'close' follows and fails what is pending */
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.connected = false;
      const hadWork = this.inflight.length > this.head || this.queued.length > 0;
      this.failAll('connection to ' + this.dest.name + ' lost');
      if (hadWork) this.dest.failed('connection closed');
    });
  }

  /** Write everything queued as one chunk, merging runs of gets into multi-key lines. */
  private flush(): void {
    this.flushScheduled = false;
    if (!this.socket || !this.connected || this.queued.length === 0) return;
    const parts: Buffer[] = [];
    const reqs = this.queued;
    const cbs = this.queuedCallbacks;
    this.queued = [];
    this.queuedCallbacks = [];
    const now = this.dest.now();
    const maxKeys = this.dest.options.maxBatchKeys;
    for (let i = 0; i < reqs.length; ) {
      const req = reqs[i];
      if (req.line === null) {
        const keys: Buffer[] = [];
        const callbacks: Callback[] = [];
        parts.push(req.op === 'gets' ? GETS : GET);
        while (i < reqs.length && reqs[i].line === null && reqs[i].op === req.op && keys.length < maxKeys) {
          parts.push(SPACE, reqs[i].key);
          keys.push(reqs[i].key);
          callbacks.push(cbs[i]);
          i++;
        }
        parts.push(CRLF);
        this.inflight.push({ shape: 'values', keys, callbacks, sentAt: now, answered: 0, done: false });
        continue;
      }
      parts.push(req.line, CRLF);
      if (req.data) parts.push(req.data);
      const isGat = req.op === 'gat' || req.op === 'gats';
      this.inflight.push({ shape: req.shape, keys: isGat ? [req.key] : null, callbacks: [cbs[i]], sentAt: now, answered: 0, done: false });
      i++;
    }
    this.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }

  /**
   * Replies are consumed as they arrive: a get batch's VALUE blocks go to their callbacks one by
   * one, so what is kept between reads is at most one unfinished block. Bytes of a block still
   * arriving are collected as chunks and joined once the block is complete (`need`), so a large
   * reply costs one copy, not one per read.
   */
  private onData(chunk: Buffer): void {
    if (this.input) {
      this.inputChunks.push(chunk);
      this.inputLength += chunk.length;
      if (this.inputLength < this.need) return;
      chunk = Buffer.concat([this.input, ...this.inputChunks], this.inputLength);
      this.input = null;
      this.inputChunks = [];
    }
    const buf = chunk;
    let pos = 0;
    this.need = 0;
    const generation = this.generation;
    while (this.head < this.inflight.length && pos < buf.length) {
      const ex = this.inflight[this.head];
      pos = consume(ex, buf, pos);
      if (this.generation !== generation) return; // a callback led to this connection's reset
      if (shortBy > 0) {
        this.need = shortBy; // bytes needed from pos before progress is possible
        break;
      }
      if (ex.done) {
        this.inflight[this.head++] = undefined as unknown as Exchange;
        this.dest.succeeded();
      }
    }
    if (this.head > 1024 && this.head * 2 > this.inflight.length) {
      this.inflight = this.inflight.slice(this.head);
      this.head = 0;
    }
    if (pos < buf.length) {
      if (this.head >= this.inflight.length) {
        // Bytes nobody asked for: the stream is out of step; start over.
        this.dest.failed('unexpected bytes from server');
        this.reset('unexpected reply');
        return;
      }
      this.input = buf.subarray(pos);
      this.inputLength = this.input.length;
    }
  }

  checkTimeout(now: number, timeoutMs: number): void {
    const oldest = this.head < this.inflight.length ? this.inflight[this.head].sentAt : -1;
    const connectTimedOut = this.socket !== null && !this.connected && now - this.connectStarted > timeoutMs;
    if ((oldest >= 0 && now - oldest > timeoutMs) || connectTimedOut) {
      this.dest.stats.timeouts++;
      this.reset(`${this.dest.name} timed out`);
      this.dest.failed('timeout');
    }
  }

  /** Drop the socket and fail everything queued or in flight. */
  reset(reason: string): void {
    this.generation++;
    const socket = this.socket;
    this.socket = null;
    this.connected = false;
    socket?.destroy();
    this.failAll(reason);
  }

  private failAll(reason: string): void {
    const inflight = this.inflight.slice(this.head);
    const queued = this.queuedCallbacks;
    this.inflight = [];
    this.head = 0;
    this.queued = [];
    this.queuedCallbacks = [];
    this.input = null;
    this.inputChunks = [];
    this.need = 0;
    const reply = failed(reason);
    for (const ex of inflight) for (let k = ex.answered; k < ex.callbacks.length; k++) ex.callbacks[k](reply);
    for (const cb of queued) cb(reply);
  }
}

const GET = Buffer.from('get');
const GETS = Buffer.from('gets');
const SPACE = Buffer.from(' ');
const CRLF = Buffer.from('\r\n');

/** Set by `consume`: how many bytes, from the position it returned, must arrive before it can go on (0: none). */
let shortBy = 0;

/**
 * Consume what buf[pos..] holds of the exchange's reply: a whole line/meta reply, or for a get
 * batch every complete VALUE block (each handed to its key's callback; keys without one are
 * misses) up to END. Returns the position after what was consumed, setting `shortBy` when it
 * stopped at an incomplete line or block, and `ex.done` when the reply is complete.
 */
function consume(ex: Exchange, buf: Buffer, pos: number): number {
  const end = buf.length;
  shortBy = 0;
  if (ex.keys === null) {
    const next = replyEnd(buf, pos, end, ex.shape);
    if (next === -1) {
      shortBy = bytesNeeded(buf, pos, end);
      return pos;
    }
    ex.done = true;
    ex.answered = 1;
    ex.callbacks[0](classify(buf.subarray(pos, next), ex.shape));
    return next;
  }
  const keys = ex.keys;
  const cbs = ex.callbacks;
  while (pos < end) {
    const nl = buf.indexOf(10, pos);
    if (nl === -1) {
      shortBy = end - pos + 1;
      return pos;
    }
    if (!startsWith(buf, 'VALUE ', pos)) {
      if (startsWith(buf, 'END', pos)) {
        while (ex.answered < cbs.length) cbs[ex.answered++](MISS);
      } else {
        // An error line answers the rest of the batch.
        const reply: Reply = { status: 'error', bytes: buf.subarray(pos, nl + 1) };
        while (ex.answered < cbs.length) cbs[ex.answered++](reply);
      }
      ex.done = true;
      return nl + 1;
    }
    const blockEnd = nl + 1 + valueSize(buf, pos, nl) + 2;
    if (blockEnd > end) {
      shortBy = blockEnd - pos;
      return pos;
    }
    const [ks, ke] = valueKey(buf, pos);
    const keyBytes = buf.subarray(ks, ke);
    while (ex.answered < keys.length && !keys[ex.answered].equals(keyBytes)) cbs[ex.answered++](MISS);
    if (ex.answered < keys.length) cbs[ex.answered++]({ status: 'ok', bytes: buf.subarray(pos, blockEnd) });
    pos = blockEnd;
  }
  return pos;
}

/** For a line or meta reply not complete in buf[pos, end): how many bytes from pos it needs at least. */
function bytesNeeded(buf: Buffer, pos: number, end: number): number {
  const nl = buf.indexOf(10, pos);
  if (nl === -1 || nl >= end) return end - pos + 1;
  if (startsWith(buf, 'VA ', pos)) {
    let size = 0;
    for (let i = pos + 3; i < nl && buf[i] >= 48 && buf[i] <= 57; i++) size = size * 10 + (buf[i] - 48);
    return nl + 1 + size + 2 - pos;
  }
  return end - pos + 1;
}
