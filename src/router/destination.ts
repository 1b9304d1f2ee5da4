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

type Callback = (reply: Reply) => void;

/** Requests written as one unit and answered by one reply: a batch of gets, or one other request. */
interface Exchange {
  shape: ReplyShape;
  /** Keys of a get batch (null for other requests). */
  keys: Buffer[] | null;
  callbacks: Callback[];
  sentAt: number;
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
    this.pending++;
    const conn = this.conns[this.next];
    this.next = (this.next + 1) % this.conns.length;
    conn.enqueue(req, (reply) => {
      this.pending--;
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
        this.inflight.push({ shape: 'values', keys, callbacks, sentAt: now });
        continue;
      }
      parts.push(req.line, CRLF);
      if (req.data) parts.push(req.data);
      const isGat = req.op === 'gat' || req.op === 'gats';
      this.inflight.push({ shape: req.shape, keys: isGat ? [req.key] : null, callbacks: [cbs[i]], sentAt: now });
      i++;
    }
    this.socket.write(parts.length === 1 ? parts[0] : Buffer.concat(parts));
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.input) {
      buf = Buffer.concat([this.input, chunk]);
      this.input = null;
    }
    let pos = 0;
    while (this.head < this.inflight.length) {
      const ex = this.inflight[this.head];
      const end = replyEnd(buf, pos, buf.length, ex.shape);
      if (end === -1) break;
      this.inflight[this.head++] = undefined as unknown as Exchange;
      this.dest.succeeded();
      deliver(ex, buf, pos, end);
      pos = end;
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
    const reply = failed(reason);
    for (const ex of inflight) for (const cb of ex.callbacks) cb(reply);
    for (const cb of queued) cb(reply);
  }
}

const GET = Buffer.from('get');
const GETS = Buffer.from('gets');
const SPACE = Buffer.from(' ');
const CRLF = Buffer.from('\r\n');

/** Hand one reply to the callbacks of its exchange (for a get batch: each key its VALUE or a miss). */
function deliver(ex: Exchange, buf: Buffer, pos: number, end: number): void {
  if (ex.keys === null) {
    ex.callbacks[0](classify(buf.subarray(pos, end), ex.shape));
    return;
  }
  let k = 0;
  while (pos < end) {
    const nl = buf.indexOf(10, pos);
    if (!startsWith(buf, 'VALUE ', pos)) {
      if (startsWith(buf, 'END', pos)) break;
      // An error line answers the whole batch.
      const reply: Reply = { status: 'error', bytes: buf.subarray(pos, nl + 1) };
      for (; k < ex.callbacks.length; k++) ex.callbacks[k](reply);
      return;
    }
    const blockEnd = nl + 1 + valueSize(buf, pos, nl) + 2;
    const [ks, ke] = valueKey(buf, pos);
    const keyBytes = buf.subarray(ks, ke);
    while (k < ex.keys.length && !ex.keys[k].equals(keyBytes)) ex.callbacks[k++](MISS);
    if (k < ex.keys.length) ex.callbacks[k++]({ status: 'ok', bytes: buf.subarray(pos, blockEnd) });
    pos = blockEnd;
  }
  for (; k < ex.callbacks.length; k++) ex.callbacks[k](MISS);
}
