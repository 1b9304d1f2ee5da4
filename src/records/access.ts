import { randomBytes } from 'node:crypto';
import type { MetadataStore } from '../cluster/index.js';
import { RpcCode, RpcError } from '../net/rpc-frame.js';
import type { RpcConnection, RpcMethod } from '../net/rpc-server.js';

const SECRET_KEY = 'secret';

/**
 * Who may call what. Clients show a token (`auth`) when the service has tokens; records nodes
 * show the cluster secret (`nodeAuth`), which only nodes can read (it is in the metadata store).
 * Node-only requests (forwarded reads and writes, which may carry a copy of a record the receiver
 * takes as committed, and the tablet-copy methods) are refused on other connections.
 */
export class Access {
  private readonly clients = new Set<number>();
  private readonly nodes = new Set<number>();

  constructor(
    private readonly tokens: string[],
    private readonly secret: string,
  ) {}

  /** The shared secret of the records nodes, made by the first node to start. */
  static async clusterSecret(store: MetadataStore): Promise<string> {
    for (;;) {
      const kv = await store.get(SECRET_KEY);
      if (kv) return kv.value.toString('utf8');
      await store.putIf(SECRET_KEY, randomBytes(32).toString('hex'), 0);
    }
  }

  private mark(set: Set<number>, conn: RpcConnection): void {
    if (set.has(conn.id)) return;
    set.add(conn.id);
    conn.onClose(() => set.delete(conn.id));
  }

  readonly auth: RpcMethod = (payload, conn) => {
    if (this.tokens.length > 0 && !this.tokens.includes(payload.toString('utf8'))) throw new RpcError(RpcCode.unauthorized, 'unknown token');
    this.mark(this.clients, conn);
  };

  readonly nodeAuth: RpcMethod = (payload, conn) => {
    if (payload.toString('utf8') !== this.secret) throw new RpcError(RpcCode.unauthorized, 'wrong cluster secret');
    this.mark(this.nodes, conn);
  };

  isNode(conn: RpcConnection): boolean {
    return this.nodes.has(conn.id);
  }

  requireNode(conn: RpcConnection, what: string): void {
    if (!this.isNode(conn)) throw new RpcError(RpcCode.unauthorized, `${what} is for records nodes only`);
  }

  /** Methods that need a token (when there are tokens) unless called by a node. */
  guard(methods: Map<number, RpcMethod>): Map<number, RpcMethod> {
    if (this.tokens.length === 0) return methods;
    const guarded = new Map<number, RpcMethod>();
    for (const [id, method] of methods) {
      if (method === this.auth || method === this.nodeAuth) {
        guarded.set(id, method);
        continue;
      }
      guarded.set(id, (payload, conn) => {
        if (!this.clients.has(conn.id) && !this.nodes.has(conn.id)) throw new RpcError(RpcCode.unauthorized, 'this service needs a token: call auth first');
        return method(payload, conn);
      });
    }
    return guarded;
  }
}
