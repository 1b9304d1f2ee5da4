import net from 'node:net';
import type { Logger } from '../core/log.js';

/** What a protocol implements for one connection. */
export interface ConnectionHandler {
  /**
   * Bytes arrived. The chunk's memory is reused after this returns: copy what must be kept.
   * Replies go out with `conn.write`, once per batch.
   */
  onData(chunk: Buffer): void;
  /**
   * The socket's write buffer drained after `write` returned false; reading resumes after this
   * unless it returns false (the handler resumes reading itself later).
   */
  onDrain?(): boolean | void;
  /** The peer went away or the connection was closed; release what the connection held. */
  onClose(): void;
}

export interface Connection {
  readonly socket: net.Socket;
  /** Queue bytes; returns false once the socket's buffer is over its high-water mark. */
  write(chunk: Buffer): boolean;
  /** Close (completely, not just the sending side) after what is queued has been sent. */
  end(): void;
  /** Close now. */
  destroy(): void;
}

export interface TcpServiceOptions {
  name: string;
  log: Logger;
  /** Either a port (and host) to bind, or a listening fd shared by several threads. */
  port?: number;
  host?: string;
  fd?: number;
  /** Shared counter of open connections (Int32Array over a SharedArrayBuffer, slot 0), so all threads count together. */
  connectionCount: Int32Array;
  maxConnections: number;
  /** Sent before closing a connection over the limit (e.g. memcached's "ERROR Too many open connections\r\n"). */
  overLimitReply?: Buffer;
  createHandler(conn: Connection): ConnectionHandler;
}

/**
 * A TCP service: accepts connections, applies a connection limit shared across threads, sets
 * TCP_NODELAY, and applies backpressure: when a socket's write buffer is full the connection
 * stops reading until it drains, so a slow reader cannot make the server buffer without bound.
 */
export class TcpService {
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: TcpServiceOptions) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => opts.log.error('server error', { service: opts.name, err: err.message }));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        this.installStaticReads();
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : 0);
      };
      if (this.opts.fd !== undefined) this.server.listen({ fd: this.opts.fd }, done);
      else this.server.listen({ port: this.opts.port ?? 0, host: this.opts.host ?? '127.0.0.1', backlog: 1024 }, done);
    });
  }

  /**
   * Node's stream path allocates a Buffer for every read. Where the server exposes its accept
   * hook (`_handle.onconnection`, present in Node 20), accepted sockets are built with `onread`
   * instead: every read lands in one buffer per thread that the handler consumes synchronously
   * (ConnectionHandler.onData must copy what it keeps). Measured on a trivial memcached-style
   * responder under memcaslap: about a quarter more requests per second. Without the hook the
   * ordinary 'connection' event and 'data' stream are used.
   */
  private installStaticReads(): void {
    const handle = (this.server as unknown as { _handle?: { onconnection?: unknown } })._handle;
    if (!handle || typeof handle.onconnection !== 'function') return;
    const readBuffer = Buffer.allocUnsafe(64 * 1024);
    handle.onconnection = (err: number, clientHandle: unknown) => {
      if (err || !clientHandle) return;
      let onData: (chunk: Buffer) => void = () => {};
      const socket = new net.Socket({
        handle: clientHandle,
        onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => onData(Buffer.from(buf.buffer, buf.byteOffset, n)) },
      } as net.SocketConstructorOpts);
      socket.setNoDelay(true);
      onData = this.accept(socket, false) ?? onData;
    };
  }

  /** Set up a new connection; returns its data callback (or undefined when it was refused). */
  private accept(socket: net.Socket, streamReads = true): ((chunk: Buffer) => void) | undefined {
    const count = this.opts.connectionCount;
    socket.on('error', () => {
      /* resets from vanished peers are normal; close handles cleanup */
    });
    if (Atomics.add(count, 0, 1) >= this.opts.maxConnections) {
      Atomics.sub(count, 0, 1);
      if (this.opts.overLimitReply) closeAfterFlush(socket, this.opts.overLimitReply);
      else socket.destroy();
      return undefined;
    }
    this.sockets.add(socket);
    const conn: Connection = {
      socket,
      write: (chunk) => {
        const ok = socket.write(chunk);
        if (!ok) socket.pause();
        return ok;
      },
      end: () => closeAfterFlush(socket),
      destroy: () => socket.destroy(),
    };
    const handler = this.opts.createHandler(conn);
    socket.on('drain', () => {
      if (handler.onDrain?.() === false) return;
      if (!socket.writableNeedDrain) socket.resume();
    });
    const onData = (chunk: Buffer) => {
      try {
        handler.onData(chunk);
      } catch (err) {
        this.opts.log.error('connection handler failed; closing connection', { service: this.opts.name, err: String((err as Error).stack ?? err) });
        socket.destroy();
      }
    };
    if (streamReads) socket.on('data', onData);
    socket.once('close', () => {
      this.sockets.delete(socket);
      Atomics.sub(count, 0, 1);
      handler.onClose();
    });
    return onData;
  }

  /** Stop accepting and close every open connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Send what is queued (and `last`), then close the socket completely, as memcached does. A bare
 * `end()` only shuts down the sending side: a peer that never closes its own side would keep
 * the socket, and after `quit` keep counting in curr_connections, for as long as it likes.
 * (A peer that never reads what is queued still holds the socket until it goes away.)
 */
function closeAfterFlush(socket: net.Socket, last?: Buffer): void {
  if (socket.destroyed) return;
  if (socket.writableFinished) {
    socket.destroy();
    return;
  }
  // Already ending: by an earlier call, whose listener closes it, or by Node after the peer's
  // FIN, and then the socket is destroyed once both sides are done.
  if (socket.writableEnded) return;
  socket.once('finish', () => socket.destroy());
  if (last) socket.end(last);
  else socket.end();
}

/**
 * Open a bound (not yet listening) TCP socket and return its fd, so several worker threads can
 * each `listen({ fd })` on it and the kernel spreads accepted connections over their event loops.
 * Node 20 has no SO_REUSEPORT option, so this goes through the tcp_wrap binding.
 */
export function openSharedListener(host: string, port: number): { fd: number; port: number; close(): void } {
  const { TCP, constants } = (process as unknown as { binding(name: string): any }).binding('tcp_wrap');
  const handle = new TCP(constants.SERVER);
  const err = host.includes(':') ? handle.bind6(host, port, 0) : handle.bind(host, port);
  if (err) {
    handle.close();
    const e = new Error(`cannot bind ${host}:${port}: ${net.isIP(host) ? 'address in use or not available' : 'host must be an IP address'} (code ${err})`);
    throw e;
  }
  const addr: { port?: number } = {};
  handle.getsockname(addr);
  return { fd: handle.fd, port: addr.port ?? port, close: () => handle.close() };
}
