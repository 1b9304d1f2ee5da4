import net from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameKind, RpcCode, RpcError, decodeErrorPayload, frameHeader, type Frame } from './rpc-frame.js';

export interface RpcClientOptions {
  host: string;
  port: number;
  connectTimeoutMs?: number;
  maxFrameBytes?: number;
  /** Events (unsolicited frames) from the server. */
  onEvent?: (method: number, payload: Buffer) => void;
}

interface Pending {
  resolve: (payload: Buffer) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One connection to an RPC server. Calls are pipelined; requests made in the same tick go out
 * in one socket write. When the connection drops, every pending call fails with code `closed`.
 */
export class RpcClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private closedError: RpcError | null = null;
  private readonly closeListeners: Array<(err: RpcError) => void> = [];

  private constructor(
    private readonly socket: net.Socket,
    private readonly opts: RpcClientOptions,
  ) {
    const decoder = new FrameDecoder(opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (f) => this.onFrame(f));
      } catch (err) {
        this.fail(new RpcError(RpcCode.badFrame, `bad frame from server: ${(err as Error).message}`));
      }
    });
    socket.on('error', (err) => this.fail(new RpcError(RpcCode.closed, `connection to ${opts.host}:${opts.port} failed: ${err.message}`)));
    socket.on('close', () => this.fail(new RpcError(RpcCode.closed, `connection to ${opts.host}:${opts.port} closed`)));
  }

  static connect(opts: RpcClientOptions): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RpcError(RpcCode.closed, `connect to ${opts.host}:${opts.port} timed out`));
      }, opts.connectTimeoutMs ?? 5000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new RpcError(RpcCode.closed, `cannot connect to ${opts.host}:${opts.port}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcClient(socket, opts));
      });
    });
  }

  get closed(): boolean {
    return this.closedError !== null;
  }

  get address(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  onClose(cb: (err: RpcError) => void): void {
    if (this.closedError) cb(this.closedError);
    else this.closeListeners.push(cb);
  }

  /** Send a request; resolves with the reply payload or rejects with an RpcError. */
  call(method: number, payload: Buffer | Buffer[], timeoutMs = 0): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const parts = Array.isArray(payload) ? payload : [payload];
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.out.push(frameHeader(FrameKind.request, method, id, bytes), ...parts);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new RpcError(RpcCode.timeout, `no reply from ${this.address} within ${timeoutMs} ms (method ${method})`));
        }, timeoutMs);
      }
      this.pending.set(id, p);
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.closedError) return;
    const batch = this.out;
    this.out = [];
    this.socket.write(batch.length === 1 ? batch[0] : Buffer.concat(batch));
  }

  private onFrame(f: Frame): void {
    if (f.kind === FrameKind.event) {
      this.opts.onEvent?.(f.method, f.payload);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) {
      // An error with id 0 is the server refusing the connection's stream.
      if (f.kind === FrameKind.error && f.id === 0) this.fail(decodeErrorPayload(f.payload));
      return;
    }
    this.pending.delete(f.id);
    if (p.timer) clearTimeout(p.timer);
    if (f.kind === FrameKind.reply) p.resolve(f.payload);
    else p.reject(decodeErrorPayload(f.payload));
  }

  private fail(err: RpcError): void {
    if (this.closedError) return;
    this.closedError = err;
    this.socket.destroy();
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const cb of this.closeListeners) cb(err);
  }

  close(): void {
    this.fail(new RpcError(RpcCode.closed, 'client closed'));
  }
}
