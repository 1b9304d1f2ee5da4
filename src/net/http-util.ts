import type http from 'node:http';
import { DecodeError } from '../core/bytes.js';
import { RpcCode, RpcError } from './rpc-frame.js';

/** A request the HTTP layer refuses with its own status (e.g. 413 for a body too large). */
export class HttpError extends RpcError {
  constructor(
    readonly status: number,
    code: number,
    message: string,
  ) {
    super(code, message);
  }
}

const STATUS: Record<number, number> = {
  [RpcCode.notFound]: 404,
  [RpcCode.invalid]: 400,
  [RpcCode.badRequest]: 400,
  [RpcCode.notLeader]: 421,
  [RpcCode.tryLater]: 503,
  [RpcCode.storage]: 507,
  [RpcCode.timeout]: 504,
  [RpcCode.conflict]: 409,
  [RpcCode.unauthorized]: 401,
};

/** The HTTP status for an error thrown while serving a request. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof DecodeError) return 400;
  return err instanceof RpcError ? (STATUS[err.code] ?? 500) : 500;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body) + '\n');
}

/**
 * The request body, up to maxBytes. Past it the request is refused with 413 at once; the rest
 * of the body is read and dropped (not kept), so the client gets the answer rather than a reset.
 */
export function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      req.resume();
      reject(new HttpError(413, RpcCode.invalid, `body larger than ${maxBytes} bytes (content-length ${declared})`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (c: Buffer) => {
      if (refused) return;
      size += c.length;
      if (size > maxBytes) {
        refused = true;
        chunks.length = 0;
        reject(new HttpError(413, RpcCode.invalid, `body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
