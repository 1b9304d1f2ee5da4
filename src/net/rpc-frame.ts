import { BufferReader, BufferWriter } from '../core/bytes.js';

/**
 * Strata's internal RPC framing (docs/architecture.md, "Internal RPC"), shared by all services:
 *
 *   u32le length   bytes after this field (8 .. maxFrameBytes - 4)
 *   u8    kind     0 request, 1 reply, 2 error reply, 3 event (server to client, unsolicited)
 *   u8    flags    0
 *   u16le method   what the request asks for (per service); echoed in the reply
 *   u32le id       chosen by the client, echoed in the reply; events carry 0
 *   payload        method-specific; an error reply's is u16le code, u16le length, UTF-8 message
 */
export const FRAME_HEADER_BYTES = 12;
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

export const FrameKind = { request: 0, reply: 1, error: 2, event: 3 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Error codes carried by error replies. */
export const RpcCode = {
  badFrame: 1,
  unknownMethod: 2,
  badRequest: 3,
  internal: 4,
  notFound: 5,
  notLeader: 6,
  storage: 7,
  timeout: 8,
  tryLater: 9,
  invalid: 10,
  group: 11,
  closed: 12,
  /** A test-and-set found another version (records). */
  conflict: 13,
  /** The node does not hold what was asked of it (a stale tablet map): refresh and retry. */
  wrongNode: 14,
  /** The connection has not shown a valid token (records with `records.tokens` set). */
  unauthorized: 15,
} as const;

export const rpcCodeName = (code: number): string => Object.entries(RpcCode).find(([, c]) => c === code)?.[0] ?? `code ${code}`;

/** An error to send back as an error reply (the connection stays open). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export interface Frame {
  kind: number;
  method: number;
  id: number;
  payload: Buffer;
}

export function frameHeader(kind: number, method: number, id: number, payloadBytes: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUInt32LE(FRAME_HEADER_BYTES - 4 + payloadBytes, 0);
  h[4] = kind;
  h[5] = 0;
  h.writeUInt16LE(method, 6);
  h.writeUInt32LE(id, 8);
  return h;
}

export function errorPayload(code: number, message: string): Buffer {
  return new BufferWriter(64).u16(code).str(message.slice(0, 4000)).view();
}

export function decodeErrorPayload(payload: Buffer): RpcError {
  try {
    const r = new BufferReader(payload);
    return new RpcError(r.u16(), r.str());
  } catch {
    return new RpcError(RpcCode.badFrame, 'malformed error reply');
  }
}

/** The stream violates the framing; the connection cannot be trusted past this point. */
export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

/**
 * Cuts a byte stream into frames. Chunks may be reused by the caller after `push` returns, so
 * every payload handed out is a copy (one per frame, frames being batches). A frame that spans
 * reads is gathered into one buffer of its size as soon as its length is known, and its payload
 * is handed out as a view of that buffer: each byte is copied once, whatever the number of reads.
 */
export class FrameDecoder {
  /** Bytes of the next frame's length field, when fewer than 4 have arrived. */
  private head: Buffer | null = null;
  /** The frame being gathered (its whole length known) and how much of it has arrived. */
  private frame: Buffer | null = null;
  private filled = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes buffered waiting for the rest of a frame. */
  get buffered(): number {
    return this.frame ? this.filled : (this.head?.length ?? 0);
  }

  /** Feed bytes; calls onFrame for each whole frame. Throws FrameError on a malformed stream. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    let pos = 0;
    if (this.head) {
      // Complete the length field first.
      const take = Math.min(4 - this.head.length, chunk.length);
      this.head = Buffer.concat([this.head, chunk.subarray(0, take)]);
      pos = take;
      if (this.head.length < 4) return;
      this.startFrame(this.head, 0);
      this.head = null;
    }
    if (this.frame) {
      const take = Math.min(this.frame.length - this.filled, chunk.length - pos);
      chunk.copy(this.frame, this.filled, pos, pos + take);
      this.filled += take;
      pos += take;
      if (this.filled < this.frame.length) return;
      const whole = this.frame;
      this.frame = null;
      this.emit(whole, 0, whole.length - 4, false, onFrame);
    }
    while (chunk.length - pos >= 4) {
      const length = this.frameLength(chunk, pos);
      if (chunk.length - pos < 4 + length) break;
      this.emit(chunk, pos, length, true, onFrame);
      pos += 4 + length;
    }
    const rest = chunk.length - pos;
    if (rest === 0) return;
    if (rest < 4) {
      this.head = Buffer.from(chunk.subarray(pos));
      return;
    }
    this.startFrame(chunk, pos);
    chunk.copy(this.frame!, 0, pos);
    this.filled = rest;
  }

  private startFrame(buf: Buffer, pos: number): void {
    const length = this.frameLength(buf, pos);
    this.frame = Buffer.allocUnsafe(4 + length);
    buf.copy(this.frame, 0, pos, pos + 4);
    this.filled = 4;
  }

  /** One whole frame at `pos` of `buf`; `copy`: buf is the caller's, so the payload is copied out. */
  private emit(buf: Buffer, pos: number, length: number, copy: boolean, onFrame: (f: Frame) => void): void {
    const kind = buf[pos + 4];
    if (kind > FrameKind.event || buf[pos + 5] !== 0) throw new FrameError(`bad frame kind ${kind} or flags ${buf[pos + 5]}`);
    const body = buf.subarray(pos + FRAME_HEADER_BYTES, pos + 4 + length);
    onFrame({ kind, method: buf.readUInt16LE(pos + 6), id: buf.readUInt32LE(pos + 8), payload: copy ? Buffer.from(body) : body });
  }

  private frameLength(buf: Buffer, pos: number): number {
    const length = buf.readUInt32LE(pos);
    if (length < FRAME_HEADER_BYTES - 4 || length > this.maxFrameBytes - 4) {
      throw new FrameError(`frame length ${length} outside 8..${this.maxFrameBytes - 4}`);
    }
    return length;
  }
}
