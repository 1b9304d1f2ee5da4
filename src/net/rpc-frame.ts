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
 * every payload handed out is a copy (one per frame, frames being batches). The bytes of a frame
 * still arriving are kept as a list of chunks and joined once it is whole, so a large frame
 * costs its size, not its size times the number of reads.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the frame being gathered needs in all (0: its length is not known yet). */
  private need = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Bytes buffered waiting for the rest of a frame. */
  get buffered(): number {
    return this.pendingBytes;
  }

  /** Feed bytes; calls onFrame for each whole frame. Throws FrameError on a malformed stream. */
  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    if (this.pendingBytes > 0) {
      this.chunks.push(Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      if (this.need === 0 && this.pendingBytes >= 4) this.need = this.frameLength(this.joined(), 0) + 4;
      if (this.need === 0 || this.pendingBytes < this.need) return;
      chunk = this.joined();
      this.chunks = [];
      this.pendingBytes = 0;
      this.need = 0;
    }
    let pos = 0;
    while (chunk.length - pos >= 4) {
      const length = this.frameLength(chunk, pos);
      if (chunk.length - pos < 4 + length) {
        this.need = 4 + length;
        break;
      }
      const kind = chunk[pos + 4];
      if (kind > FrameKind.event || chunk[pos + 5] !== 0) throw new FrameError(`bad frame kind ${kind} or flags ${chunk[pos + 5]}`);
      const payload = Buffer.from(chunk.subarray(pos + FRAME_HEADER_BYTES, pos + 4 + length));
      const frame = { kind, method: chunk.readUInt16LE(pos + 6), id: chunk.readUInt32LE(pos + 8), payload };
      pos += 4 + length;
      onFrame(frame);
    }
    if (pos < chunk.length) {
      this.chunks = [Buffer.from(chunk.subarray(pos))];
      this.pendingBytes = chunk.length - pos;
    }
  }

  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.pendingBytes)];
    return this.chunks[0];
  }

  private frameLength(buf: Buffer, pos: number): number {
    const length = buf.readUInt32LE(pos);
    if (length < FRAME_HEADER_BYTES - 4 || length > this.maxFrameBytes - 4) {
      throw new FrameError(`frame length ${length} outside 8..${this.maxFrameBytes - 4}`);
    }
    return length;
  }
}
