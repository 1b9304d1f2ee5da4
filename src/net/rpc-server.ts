import { DecodeError } from '../core/bytes.js';
import type { Logger } from '../core/log.js';
import { TcpService, type Connection } from './tcp-server.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameError, FrameKind, RpcCode, RpcError, errorPayload, frameHeader, type Frame } from './rpc-frame.js';

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

export type RpcMethod = (payload: Buffer, conn: RpcConnection) => RpcReply | Promise<RpcReply>;

export interface RpcServerOptions {
  name: string;
  log: Logger;
  host?: string;
  port?: number;
  maxConnections?: number;
  maxFrameBytes?: number;
  /** Requests one connection may have unanswered before its socket stops being read. */
  maxInFlight?: number;
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
    const decoder = new FrameDecoder(this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    const closeCallbacks: Array<() => void> = [];
    let out: Buffer[] = [];
    let flushScheduled = false;
    let inFlight = 0;
    let paused = false;
    let broken = false;
    const socket = conn.socket;

    const flush = () => {
      flushScheduled = false;
      if (out.length === 0 || socket.destroyed) return;
      const batch = out;
      out = [];
      conn.write(batch.length === 1 ? batch[0] : Buffer.concat(batch));
    };
    const send = (kind: number, method: number, id: number, payload: Buffer | Buffer[]) => {
      if (socket.destroyed) return;
      const parts = Array.isArray(payload) ? payload : [payload];
      let bytes = 0;
      for (const p of parts) bytes += p.length;
      out.push(frameHeader(kind, method, id, bytes), ...parts);
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
      log.warn('rpc: closing connection after a protocol violation', { service: this.opts.name, remote: rpcConn.remote, message });
      send(FrameKind.error, method, id, errorPayload(code, message));
      flush();
      conn.end();
    };
    const settle = (f: Frame, reply: RpcReply | Promise<RpcReply>) => {
      if (!(reply instanceof Promise)) {
        send(FrameKind.reply, f.method, f.id, reply ?? Buffer.alloc(0));
        return;
      }
      inFlight++;
      if (inFlight >= maxInFlight && !paused) {
        paused = true;
        socket.pause();
      }
      reply.then(
        (r) => send(FrameKind.reply, f.method, f.id, r ?? Buffer.alloc(0)),
        (err: unknown) => fail(f, err),
      ).finally(() => {
        inFlight--;
        if (paused && inFlight < maxInFlight / 2) {
          paused = false;
          if (!socket.writableNeedDrain) socket.resume();
        }
      });
    };
    const fail = (f: Frame, err: unknown) => {
      if (err instanceof DecodeError) return refuse(RpcCode.badRequest, `malformed request (method ${f.method}): ${err.message}`, f.method, f.id);
      if (err instanceof RpcError) return send(FrameKind.error, f.method, f.id, errorPayload(err.code, err.message));
      log.error('rpc method failed', { service: this.opts.name, method: f.method, err: String((err as Error)?.stack ?? err) });
      send(FrameKind.error, f.method, f.id, errorPayload(RpcCode.internal, `internal error: ${(err as Error)?.message ?? String(err)}`));
    };
    const onFrame = (f: Frame) => {
      if (broken) return;
      if (f.kind !== FrameKind.request) return refuse(RpcCode.badFrame, `expected a request frame, got kind ${f.kind}`, f.method, f.id);
      const method = methods.get(f.method);
      if (!method) return send(FrameKind.error, f.method, f.id, errorPayload(RpcCode.unknownMethod, `unknown method ${f.method}`));
      let reply: RpcReply | Promise<RpcReply>;
      try {
        reply = method(f.payload, rpcConn);
      } catch (err) {
        return fail(f, err);
      }
      settle(f, reply);
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
