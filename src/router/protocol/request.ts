/**
 * What the router forwards: one request for one key. A client's multi-key get becomes one
 * Request per key (the destination batches them again per server), so every route decides per
 * key, as mcrouter does.
 */

/** How a server frames its answer to a request. */
export type ReplyShape =
  /** get/gets/gat/gats: VALUE blocks, then END. */
  | 'values'
  /** one line (storage, delete, incr, touch, version, flush_all) */
  | 'line'
  /** meta: one line, or `VA <n> ...` followed by n bytes and CRLF */
  | 'meta';

export type Op =
  | 'get' | 'gets' | 'gat' | 'gats'
  | 'set' | 'add' | 'replace' | 'append' | 'prepend' | 'cas'
  | 'delete' | 'incr' | 'decr' | 'touch'
  | 'mg' | 'ms' | 'md' | 'ma' | 'me'
  | 'version' | 'flush_all';

export interface Request {
  op: Op;
  /** The key routes hash on (base64 meta keys decoded). */
  key: Buffer;
  /**
   * The command line to send, without CRLF, with `noreply` / meta `q` removed (the router
   * answers quietly itself). Null for get/gets, which the destination writes in batches.
   */
  line: Buffer | null;
  /** Data block of storage commands, including its trailing CRLF. */
  data: Buffer | null;
  shape: ReplyShape;
}

export const isRead = (op: Op): boolean => op === 'get' || op === 'gets' || op === 'gat' || op === 'gats' || op === 'mg' || op === 'me';
export const isDelete = (op: Op): boolean => op === 'delete' || op === 'md';

export function getRequest(op: 'get' | 'gets', key: Buffer): Request {
  return { op, key, line: null, data: null, shape: 'values' };
}

/** The tokens of a request line, split on spaces. */
export function lineTokens(req: Request): string[] {
  return req.line === null ? [req.op, req.key.toString('latin1')] : req.line.toString('latin1').split(' ').filter((t) => t.length > 0);
}

/** A copy of the request with another command line (e.g. a capped TTL, add instead of set). */
export function withLine(req: Request, tokens: string[], op: Op = req.op): Request {
  return { ...req, op, line: Buffer.from(tokens.join(' '), 'latin1') };
}
