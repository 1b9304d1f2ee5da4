import { Etcd3, type IKeyValue, type Lease as EtcdLease, type Namespace, type Watcher as EtcdWatcher } from 'etcd3';
import {
  checkKey,
  MetadataStoreError,
  toBuffer,
  type KeyValue,
  type Lease,
  type MetadataStore,
  type Snapshot,
  type WatchEvent,
  type Watcher,
  type WatchOptions,
} from './metadata-store.js';

export interface EtcdStoreOptions {
  /** Client URLs of the etcd cluster, e.g. `http://10.0.0.1:2379`. */
  endpoints: string[];
  /** Every key lives under this prefix (default `/strata/`). */
  prefix?: string;
  /** Deadline of one request, and of establishing a watch (default 5000 ms). */
  timeoutMs?: number;
}

export const DEFAULT_ETCD_PREFIX = '/strata/';

/**
 * The metadata store of a cluster: etcd through the `etcd3` client. Leases are etcd leases kept
 * alive by the client; a lease counts as lost as soon as no keep-alive has been answered for
 * its TTL (measured from when the answered keep-alive was sent), when etcd says it has expired,
 * or when it is revoked or the store closed. Watches resume after a disconnection from the last
 * revision they delivered. Opening fails with a clear message if etcd does not answer.
 */
export async function openEtcdStore(opts: EtcdStoreOptions): Promise<MetadataStore> {
  if (opts.endpoints.length === 0) throw new MetadataStoreError('etcd metadata store: no endpoints given');
  const timeoutMs = opts.timeoutMs ?? 5000;
  const client = new Etcd3({
    hosts: opts.endpoints,
    // Deadlines for requests only: a watch or keep-alive stream lives as long as the store.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
  const store = new EtcdStore(client, opts.prefix ?? DEFAULT_ETCD_PREFIX, opts.endpoints.join(','), timeoutMs);
  try {
    await client.get(opts.prefix ?? DEFAULT_ETCD_PREFIX).exec();
  } catch (err) {
    client.close();
    throw new MetadataStoreError(`cannot reach etcd at ${store.where}: ${(err as Error).message}`, { cause: err });
  }
  return store;
}

class EtcdStore implements MetadataStore {
  private readonly ns: Namespace;
  private readonly leases = new Set<EtcdStoreLease>();
  private readonly watchers = new Set<EtcdStoreWatcher>();
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    readonly where: string,
    private readonly timeoutMs: number,
  ) {
    this.ns = client.namespace(prefix);
  }

  get(key: string): Promise<KeyValue | null> {
    return this.run('get', key, async () => {
      const res = await this.ns.get(key).exec();
      return res.kvs.length === 0 ? null : { ...toKeyValue(res.kvs[0]), key };
    });
  }

  async list(prefix: string): Promise<KeyValue[]> {
    return (await this.snapshot(prefix)).kvs;
  }

  snapshot(prefix: string): Promise<Snapshot> {
    return this.run('list', prefix, async () => {
      const res = await this.ns.getAll().prefix(prefix).sort('Key', 'Ascend').exec();
      return { revision: Number(res.header.revision), kvs: res.kvs.map(toKeyValue) };
    });
  }

  put(key: string, value: Buffer | string, opts?: { lease?: Lease }): Promise<number> {
    return this.run('put', key, async () => {
      const res = await this.putBuilder(key, value, opts?.lease).exec();
      return Number(res.header.revision);
    });
  }

  putIf(key: string, value: Buffer | string, expected: number, opts?: { lease?: Lease }): Promise<boolean> {
    return this.run('putIf', key, async () => {
      const res = await this.ns.if(key, 'Mod', '==', expected).then(this.putBuilder(key, value, opts?.lease)).commit();
      return res.succeeded;
    });
  }

  delete(key: string): Promise<boolean> {
    return this.run('delete', key, async () => {
      const res = await this.ns.delete().key(key).exec();
      return Number(res.deleted) > 0;
    });
  }

  deleteIf(key: string, expected: number): Promise<boolean> {
    return this.run('deleteIf', key, async () => {
      if (expected === 0) return false; // an absent key has nothing to delete
      const res = await this.ns.if(key, 'Mod', '==', expected).then(this.ns.delete().key(key)).commit();
      return res.succeeded;
    });
  }

  async grantLease(ttlMs: number): Promise<Lease> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new MetadataStoreError(`lease TTL must be a positive number of milliseconds, got ${ttlMs}`);
    this.checkOpen('grantLease');
    const ttlSeconds = Math.ceil(ttlMs / 1000); // etcd counts whole seconds
    const sentAt = Date.now();
    const etcdLease = this.ns.lease(ttlSeconds);
    let id: string;
    try {
      id = await etcdLease.grant();
    } catch (err) {
      etcdLease.release();
      throw this.fail(`grant a lease of ${ttlMs} ms`, err);
    }
    const lease = new EtcdStoreLease(id, ttlSeconds * 1000, sentAt, etcdLease, (l) => this.leases.delete(l), (err) => this.fail(`revoke lease ${id}`, err));
    this.leases.add(lease);
    return lease;
  }

  async watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts: WatchOptions = {}): Promise<Watcher> {
    this.checkOpen('watch');
    const builder = this.ns.watch().prefix(prefix);
    if (opts.afterRevision !== undefined) builder.startRevision(String(opts.afterRevision + 1));
    const watcher = new EtcdStoreWatcher(builder.watcher(), onEvent, opts.onError, (w) => this.watchers.delete(w), this.timeoutMs);
    // Tracked from the start: a store closed while a watch is being established cuts it off too,
    // rather than leaving etcd3's watch manager retrying it on the closed client until its setup times out.
    this.watchers.add(watcher);
    try {
      await watcher.established();
    } catch (err) {
      await watcher.close();
      throw this.fail(`watch "${this.prefix}${prefix}"`, err);
    }
    return watcher;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const lease of [...this.leases]) lease.release();
    await Promise.all([...this.watchers].map((w) => w.close()));
    this.client.close();
  }

  private putBuilder(key: string, value: Buffer | string, lease: Lease | undefined) {
    const put = this.ns.put(key).value(toBuffer(value));
    if (lease) {
      if (!(lease instanceof EtcdStoreLease) || !this.leases.has(lease)) {
        throw new MetadataStoreError(`lease ${lease.id} is not alive here (expired, revoked, or granted by another store)`);
      }
      put.lease(lease.id);
    }
    return put;
  }

  private async run<T>(operation: string, key: string, body: () => Promise<T>): Promise<T> {
    if (operation !== 'list') checkKey(key);
    this.checkOpen(operation);
    try {
      return await body();
    } catch (err) {
      throw this.fail(`${operation} "${this.prefix}${key}"`, err);
    }
  }

  private checkOpen(operation: string): void {
    if (this.closed) throw new MetadataStoreError(`etcd metadata store (${this.where}, prefix ${this.prefix}) is closed: cannot ${operation}`);
  }

  /** An error naming the endpoints, the operation and its key: `etcd at <endpoints>: <what>: <why>`. */
  private fail(what: string, err: unknown): MetadataStoreError {
    const why = err instanceof MetadataStoreError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
    return new MetadataStoreError(`etcd at ${this.where}: ${what}: ${why}`, { cause: err });
  }
}

class EtcdStoreLease implements Lease {
  readonly lost: Promise<void>;
  private resolveLost!: () => void;
  private ended = false;
  /** Send times of the keep-alives not answered yet, oldest first. */
  private readonly unanswered: number[] = [];
  private watchdog: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    readonly ttlMs: number,
    grantSentAt: number,
    private readonly etcdLease: EtcdLease,
    private readonly onEnd: (lease: EtcdStoreLease) => void,
    private readonly fail: (err: unknown) => Error,
  ) {
    this.lost = new Promise((resolve) => (this.resolveLost = resolve));
    etcdLease.on('keepaliveEstablished', () => (this.unanswered.length = 0));
    etcdLease.on('keepaliveFired', () => this.unanswered.push(Date.now()));
    etcdLease.on('keepaliveSucceeded', () => this.renewed(this.unanswered.shift() ?? Date.now()));
    etcdLease.on('lost', () => this.release());
    this.renewed(grantSentAt);
  }

  get isLost(): boolean {
    return this.ended;
  }

  async revoke(): Promise<void> {
    if (this.ended) return;
    this.end();
    try {
      await this.etcdLease.revoke();
    } catch (err) {
      throw this.fail(err);
    }
  }

  /** Stop keeping the lease alive; etcd deletes its keys when its TTL runs out. */
  release(): void {
    if (this.ended) return;
    this.end();
    this.etcdLease.release();
  }

  /** etcd keeps the lease at least a TTL past the moment that keep-alive was sent; lost if nothing renews it by then. */
  private renewed(sentAt: number): void {
    if (this.ended) return;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.release(), Math.max(0, sentAt + this.ttlMs - Date.now()));
    this.watchdog.unref();
  }

  private end(): void {
    this.ended = true;
    if (this.watchdog) clearTimeout(this.watchdog);
    this.onEnd(this);
    this.resolveLost();
  }
}

class EtcdStoreWatcher implements Watcher {
  private connected = false;
  private closed = false;
  private readonly ready: Promise<void>;
  private abandonSetup: () => void = () => undefined;

  constructor(
    private readonly watcher: EtcdWatcher,
    onEvent: (ev: WatchEvent) => void,
    private readonly onError: ((err: Error) => void) | undefined,
    private readonly onClose: (w: EtcdStoreWatcher) => void,
    private readonly timeoutMs: number,
  ) {
    watcher.on('put', (kv) => onEvent({ type: 'put', kv: toKeyValue(kv) }));
    watcher.on('delete', (kv) => onEvent({ type: 'delete', key: kv.key.toString('utf8'), modRevision: Number(kv.mod_revision) }));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not established within ${timeoutMs} ms`)), timeoutMs);
      this.abandonSetup = () => {
        clearTimeout(timer);
        reject(new Error('closed before it was established'));
      };
      watcher.once('connected', () => {
        clearTimeout(timer);
        this.connected = true;
        resolve();
      });
      watcher.on('error', (err) => {
        clearTimeout(timer);
        if (!this.connected) return reject(err);
        if (this.closed) return;
        void this.close();
        this.onError?.(err);
      });
    });
  }

  established(): Promise<void> {
    return this.ready;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abandonSetup();
    this.onClose(this);
    this.watcher.removeAllListeners('put').removeAllListeners('delete');
    let timer: NodeJS.Timeout | undefined;
    // cancel() waits for etcd's answer; an unreachable etcd must not hold close() forever
    await Promise.race([
      this.watcher.cancel().catch(() => undefined),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, this.timeoutMs))),
    ]);
    clearTimeout(timer);
  }
}

function toKeyValue(kv: IKeyValue): KeyValue {
  const out: KeyValue = {
    key: kv.key.toString('utf8'),
    value: kv.value,
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
  if (kv.lease && kv.lease !== '0') out.lease = kv.lease;
  return out;
}
