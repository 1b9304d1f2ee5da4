import type { Connection, ConnectionHandler } from '../../net/tcp-server.js';
import { ReplyWriter } from '../../net/reply-writer.js';
import type { CacheContext } from '../context.js';
import { STAT } from '../store/layout.js';
import { TextSession } from './text.js';
import { BinarySession } from './binary.js';

export type Closing = 'none' | 'after-flush' | 'now' | 'drop';

/** A protocol's view of a connection's input: consume what is complete, keep the rest. */
export interface ProtocolSession {
  /**
   * Process complete requests in buf[pos, end) and return the offset of the first byte not
   * consumed. Replies go to the session's writer; processing stops early when the writer is
   * full, so the caller can flush and wait for the socket to drain. May set `closing`.
   */
  process(buf: Buffer, pos: number, end: number): number;
  /**
   * Set when the connection must close: after the pending replies are sent ('after-flush', also
   * 'now', which stops reading input at once), or dropping the replies not yet sent ('drop').
   */
  closing: Closing;
}

/**
 * One client connection of the cache: detects the protocol from the first byte (0x80 is the
 * binary protocol's request magic, anything else is text/meta, as memcached's auto-negotiation
 * does), keeps unconsumed input, and writes each batch of replies with one socket write.
 */
export class CacheConnection implements ConnectionHandler {
  private readonly out = new ReplyWriter();
  private session: ProtocolSession | null = null;
  private pending: Buffer | null = null;
  private waitingForDrain = false;

  constructor(
    private readonly conn: Connection,
    private readonly ctx: CacheContext,
  ) {
    ctx.store.count(STAT.total_connections);
  }

  onData(chunk: Buffer): void {
    this.ctx.store.count(STAT.bytes_read, chunk.length);
    if (this.session === null) {
      this.session = chunk[0] === 0x80 ? new BinarySession(this.ctx, this.out) : new TextSession(this.ctx, this.out);
    }
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    this.run(buf);
  }

  onDrain(): void {
    this.waitingForDrain = false;
    if (this.pending !== null) {
      const buf = this.pending;
      this.pending = null;
      this.run(buf);
    }
  }

  private run(buf: Buffer): void {
    const session = this.session!;
    let pos = 0;
    while (pos < buf.length) {
      const next = session.process(buf, pos, buf.length);
      const progressed = next !== pos;
      pos = next;
      if (session.closing !== 'none') break;
      if (this.out.full) {
        if (!this.flush()) {
          this.waitingForDrain = true;
          break;
        }
        continue;
      }
      if (!progressed) break;
    }
    if (pos < buf.length && session.closing === 'none') {
      // Keep the unconsumed tail; the chunk's memory is reused by the next read, so copy it.
      this.pending = Buffer.from(buf.subarray(pos));
    }
    if (session.closing === 'drop') this.out.discardUnflushed();
    this.flush();
    if (session.closing === 'now' || session.closing === 'drop') this.conn.destroy();
    else if (session.closing === 'after-flush') this.conn.end();
    else if (this.waitingForDrain) this.conn.socket.pause();
  }

  private flush(): boolean {
    const n = this.out.pending;
    if (n === 0) return true;
    this.ctx.store.count(STAT.bytes_written, n);
    return this.out.flush(this.conn.write);
  }

  onClose(): void {
    this.pending = null;
    this.session = null;
  }
}
