import { RpcClient } from './rpc-client.js';
import { RpcCode, RpcError } from './rpc-frame.js';

/** Connections from this node to others of its service (one per node, made on first use). */
export class PeerPool {
  private readonly conns = new Map<string, Promise<RpcClient>>();
  private closed = false;

  constructor(private readonly address: (nodeId: string) => { host: string; port: number } | undefined) {}

  get(nodeId: string): Promise<RpcClient> {
    if (this.closed) return Promise.reject(new RpcError(RpcCode.closed, 'peer pool closed'));
    const existing = this.conns.get(nodeId);
    if (existing) return existing;
    const addr = this.address(nodeId);
    if (!addr) return Promise.reject(new RpcError(RpcCode.closed, `node ${nodeId} is not up`));
    const conn = RpcClient.connect({ host: addr.host, port: addr.port, connectTimeoutMs: 2000 });
    this.conns.set(nodeId, conn);
    const forget = () => {
      if (this.conns.get(nodeId) === conn) this.conns.delete(nodeId);
    };
    conn.then((c) => c.onClose(forget), forget);
    return conn;
  }

  close(): void {
    this.closed = true;
    for (const c of this.conns.values()) c.then((rpc) => rpc.close(), () => {});
    this.conns.clear();
  }
}
