import { DecodeError } from '../core/bytes.js';
import type { Logger } from '../core/log.js';
import { TcpService, type Connection } from './tcp-server.js';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameDecoder, FrameError, FrameKind, RpcCode, RpcError, errorPayload, frameHeader, type Frame } from './rpc-frame.js';

export type RpcReply = Buffer | Buffer[] | void;

/** One client connection, as methods see it. */
export interface RpcConnection {
  readonly id: number;
  readonly remote: string;
  /** Send an unsolicited event frame. */
  event(method: number, payload: Buffer | Buffer[]): void;
  /** Called once when the connection closes (to release what it holds). */
  onClose(cb: () => void): void;
  readonly closed: boolean;
}

export type RpcMethod = ((payload: Buffer, conn: RpcConnection) => RpcReply | Promise<RpcReply>) & {
  /** The most reply bytes this request may produce (e.g. a fetch's max bytes): reserved while it runs. */
  replyBytes?: (payload: Buffer) => number;
};

export interface RpcServerOptions {
  name: string;
  log: Logger;
  host?: string;
  port?: number;
  maxConnections?: number;
  maxFrameBytes?: number;
  /** Requests one connection may have unanswered before its socket stops being read. */
  maxInFlight?: number;
  /** Reply bytes queued for one connection (unsent) past which its requests wait. */
  maxQueuedReplyBytes?: number;
  methods: Map<number, RpcMethod>;
}

/**
 * A server of the internal RPC protocol. Methods run as frames arrive (a method that must keep
 * arrival order does its ordered part before its first await). Replies go out in completion
 * order, gathered into one socket write per tick. A frame that breaks the framing, or a payload
 * a method cannot decode, gets an error reply and the connection is closed.
 */
export class RpcServer {
  private readonly tcp: TcpService;
  private nextConnId = 1;

  constructor(private readonly opts: RpcServerOptions) {
    this.tcp = new TcpService({
      name: opts.name,
      log: opts.log,
      host: opts.host,
      port: opts.port,
      connectionCount: new Int32Array(new SharedArrayBuffer(4)),
      maxConnections: opts.maxConnections ?? 10_000,
      createHandler: (conn) => this.handler(conn),
    });
  }

  listen(): Promise<number> {
    return this.tcp.listen();
  }

  close(): Promise<void> {
    return this.tcp.close();
  }

  private handler(conn: Connection) {
    const { methods, log } = this.opts;
    const maxInFlight = this.opts.maxInFlight ?? 1024;
    const maxQueuedReplyBytes = this.opts.maxQueuedReplyBytes ?? 8 * 1024 * 1024;
    const decoder = new FrameDecoder(this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const closeCallbacks: Array<() => void> = [];
    let out: Buffer[] = [];
    let outBytes = 0;
    let flushScheduled = false;
    let inFlight = 0;
    /** Reply bytes reserved by running requests that declare a bound (fetches). */
    let reserved = 0;
    let broken = false;
    /** Frames read but not yet run, held while replies wait to be sent or too many run. */
    const backlog: Frame[] = [];
    const socket = conn.socket;

    const busy = () => inFlight >= maxInFlight || reserved + outBytes + socket.writableLength > maxQueuedReplyBytes;
    /** Nothing running and nothing waiting to be sent: a request runs even if its reservation alone is over the limit. */
    const idle = () => inFlight === 0 && outBytes + socket.writableLength === 0;
    /** Run held frames while there is room, and read from the socket only when nothing is held. */
    const flow = () => {
      while (backlog.length > 0 && (!busy() || idle()) && !broken) run(backlog.shift()!);
      if (backlog.length > 0 || busy()) socket.pause();
      else if (!socket.writableNeedDrain) socket.resume();
    };
    const flush = () => {
      flushScheduled = false;
      if (out.length === 0 || socket.destroyed) return;
      const batch = out;
      out = [];
      outBytes = 0;
      // One writev for the tick's replies, without copying them together.
      socket.cork();
      for (const b of batch) socket.write(b);
      socket.uncork();
      flow();
    };
    const send = (kind: number, method: number, id: number, payload: Buffer | Buffer[]) => {
      if (socket.destroyed) return;
      const parts = Array.isArray(payload) ? payload : [payload];
      let bytes = 0;
      for (const p of parts) bytes += p.length;
      out.push(frameHeader(kind, method, id, bytes), ...parts);
      outBytes += bytes + FRAME_HEADER_BYTES;
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flush);
      }
    };
    const rpcConn: RpcConnection = {
      id: this.nextConnId++,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      event: (method, payload) => send(FrameKind.event, method, 0, payload),
      onClose: (cb) => closeCallbacks.push(cb),
      get closed() {
        return socket.destroyed;
      },
    };
    const refuse = (code: number, message: string, method = 0, id = 0) => {
      broken = true;
      backlog.length = 0;
      log.warn('rpc: closing connection after a protocol violation', { service: this.opts.name, remote: rpcConn.remote, message });
      send(FrameKind.error, method, id, errorPayload(code, message));
      flush();
      conn.end();
    };
    const settle = (f: Frame, reply: RpcReply | Promise<RpcReply>, cost: number) => {
      if (!(reply instanceof Promise)) {
        send(FrameKind.reply, f.method, f.id, reply ?? Buffer.alloc(0));
        return;
      }
      inFlight++;
      reserved += cost;
      reply.then(
        (r) => {
          reserved -= cost;
          send(FrameKind.reply, f.method, f.id, r ?? Buffer.alloc(0));
        },
        (err: unknown) => {
          reserved -= cost;
          fail(f, err);
        },
      ).finally(() => {
        inFlight--;
        flow();
      });
    };
    const fail = (f: Frame, err: unknown) => {
      if (err instanceof DecodeError) return refuse(RpcCode.badRequest, `malformed request (method ${f.method}): ${err.message}`, f.method, f.id);
      if (err instanceof RpcError) return send(FrameKind.error, f.method, f.id, errorPayload(err.code, err.message));
      log.error('rpc method failed', { service: this.opts.name, method: f.method, err: String((err as Error)?.stack ?? err) });
      send(FrameKind.error, f.method, f.id, errorPayload(RpcCode.internal, `internal error: ${(err as Error)?.message ?? String(err)}`));
    };
    const run = (f: Frame) => {
      const method = methods.get(f.method);
      if (!method) return send(FrameKind.error, f.method, f.id, errorPayload(RpcCode.unknownMethod, `unknown method ${f.method}`));
      let reply: RpcReply | Promise<RpcReply>;
      let cost = 0;
      try {
        cost = method.replyBytes?.(f.payload) ?? 0;
        reply = method(f.payload, rpcConn);
      } catch (err) {
        return fail(f, err);
      }
      settle(f, reply, cost);
    };
    const onFrame = (f: Frame) => {
      if (broken) return;
      if (f.kind !== FrameKind.request) return refuse(RpcCode.badFrame, `expected a request frame, got kind ${f.kind}`, f.method, f.id);
      // Something must always be able to run, however large its reservation.
      if (backlog.length > 0 || (busy() && !idle())) backlog.push(f);
      else run(f);
    };
    return {
      onData: (chunk: Buffer) => {
        if (broken) return;
        try {
          decoder.push(chunk, onFrame);
        } catch (err) {
          if (err instanceof FrameError) refuse(RpcCode.badFrame, err.message);
          else throw err;
        }
        if (backlog.length > 0) socket.pause();
      },
      onDrain: () => {
        flow();
        return backlog.length === 0 && !busy();
      },
      onClose: () => {
        for (const cb of closeCallbacks) {
          try {
            cb();
          } catch (err) {
            log.error('rpc close callback failed', { err: String(err) });
          }
        }
      },
    };
  }
}
