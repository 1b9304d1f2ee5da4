import { EventEmitter } from 'node:events';
import type { Logger } from '../core/log.js';
import { MetadataStoreError, type KeyValue, type Lease, type MetadataStore, type Watcher } from './metadata-store.js';

/** Where live nodes register: `nodes/<nodeId>` holds the node's info as JSON, bound to its lease. */
export const NODES_PREFIX = 'nodes/';

export type MemberInfo = object;

/**
 * The live members as the store shows them, kept current by a watch. Emits `change` with the
 * new map after every change. Values that are not JSON objects are left out (nothing Strata
 * writes under `nodes/` is).
 */
export class MemberView<Info extends MemberInfo = Record<string, unknown>> extends EventEmitter {
  private readonly current = new Map<string, Info>();
  private watcher: Watcher | null = null;
  private closed = false;

  private constructor(private readonly store: MetadataStore) {
    super();
  }

  static async open<Info extends MemberInfo>(store: MetadataStore): Promise<MemberView<Info>> {
    const view = new MemberView<Info>(store);
    await view.sync();
    return view;
  }

  /** A copy: node id → info. */
  members(): Map<string, Info> {
    return new Map(this.current);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watcher?.close();
    this.watcher = null;
  }

  /** Read the members and watch from the revision read, so no change falls between the two. */
  private async sync(): Promise<void> {
    const snap = await this.store.snapshot(NODES_PREFIX);
    this.current.clear();
    for (const kv of snap.kvs) this.apply(kv.key, parseInfo<Info>(kv));
    this.watcher = await this.store.watch(
      NODES_PREFIX,
      (ev) => {
        if (this.closed) return;
        if (ev.type === 'put') this.apply(ev.kv.key, parseInfo<Info>(ev.kv));
        else this.apply(ev.key, undefined);
        this.emit('change', this.members());
      },
      { afterRevision: snap.revision, onError: () => void this.resync() },
    );
  }

  /** The watch ended (its history was compacted): read again. */
  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      await this.sync();
      this.emit('change', this.members());
    } catch (err) {
      this.emit('error', err);
    }
  }

  private apply(key: string, info: Info | undefined): void {
    const nodeId = key.slice(NODES_PREFIX.length);
    if (info === undefined) this.current.delete(nodeId);
    else this.current.set(nodeId, info);
  }
}

export function watchMembers<Info extends MemberInfo = Record<string, unknown>>(store: MetadataStore): Promise<MemberView<Info>> {
  return MemberView.open<Info>(store);
}

export interface JoinOptions<Info extends MemberInfo> {
  nodeId: string;
  info: Info;
  /** The node counts as gone this long after it stops renewing its lease (crash, partition). */
  ttlMs: number;
}

/**
 * This node's membership: its registration under a lease, and the view of all members (itself
 * included). Emits `change` (members map) as the view does.
 */
export class Membership<Info extends MemberInfo = Record<string, unknown>> extends EventEmitter {
  constructor(
    readonly nodeId: string,
    readonly lease: Lease,
    private readonly view: MemberView<Info>,
  ) {
    super();
    view.on('change', (members: Map<string, Info>) => this.emit('change', members));
    view.on('error', (err: Error) => this.emit('error', err));
  }

  /** Resolves when this node's registration is lost (lease expired or revoked, store closed). */
  get lost(): Promise<void> {
    return this.lease.lost;
  }

  members(): Map<string, Info> {
    return this.view.members();
  }

  /** Stop watching and revoke the lease, which deletes `nodes/<nodeId>`. */
  async leave(): Promise<void> {
    await this.view.close();
    await this.lease.revoke();
  }
}

/**
 * Register `nodes/<nodeId>` (JSON info) under a new lease and watch the members. Fails if a live
 * node already holds the id (or the previous holder's lease has not run out yet).
 */
export async function joinCluster<Info extends MemberInfo>(store: MetadataStore, opts: JoinOptions<Info>): Promise<Membership<Info>> {
  if (!/^[A-Za-z0-9._:-]+$/.test(opts.nodeId)) {
    throw new MetadataStoreError(`node id ${JSON.stringify(opts.nodeId)} must be non-empty and use only letters, digits and . _ : -`);
  }
  const key = NODES_PREFIX + opts.nodeId;
  const lease = await store.grantLease(opts.ttlMs);
  try {
    if (!(await store.putIf(key, JSON.stringify(opts.info), 0, { lease }))) {
      throw new MetadataStoreError(
        `node id ${opts.nodeId} is taken: ${key} exists (another node runs with this id, or a previous run's lease has not expired yet)`,
      );
    }
    return new Membership(opts.nodeId, lease, await MemberView.open<Info>(store));
  } catch (err) {
    await lease.revoke().catch(() => undefined);
    throw err;
  }
}

/**
 * Leader election over one key (e.g. `log/partitions/<topic>/<p>/leader`): the first candidate
 * to create the key, bound to its lease, leads until it resigns or its lease ends, which deletes
 * the key. Returns whether this candidate now leads.
 */
export function campaign(store: MetadataStore, key: string, candidateValue: Buffer | string, lease: Lease): Promise<boolean> {
  return store.putIf(key, candidateValue, 0, { lease });
}

/** The leader's record (value, lease, revision), or null when nobody leads. */
export function currentLeader(store: MetadataStore, key: string): Promise<KeyValue | null> {
  return store.get(key);
}

/** Step down if `lease` holds the key; returns whether it did. */
export async function resign(store: MetadataStore, key: string, lease: Lease): Promise<boolean> {
  const kv = await store.get(key);
  return kv !== null && kv.lease === lease.id && store.deleteIf(key, kv.modRevision);
}

/**
 * Campaign, and while another candidate leads, wait for its key to go and campaign again.
 * Resolves once this candidate leads; rejects if its lease is lost or `signal` aborts first.
 */
export async function campaignUntilElected(
  store: MetadataStore,
  key: string,
  candidateValue: Buffer | string,
  lease: Lease,
  signal?: AbortSignal,
): Promise<void> {
  for (;;) {
    signal?.throwIfAborted();
    if (lease.isLost) throw new MetadataStoreError(`campaign for ${key}: lease ${lease.id} was lost`);
    if (await campaign(store, key, candidateValue, lease)) return;
    const snap = await store.snapshot(key);
    if (!snap.kvs.some((kv) => kv.key === key)) continue;
    await waitForDelete(store, key, snap.revision, lease, signal);
  }
}

/** Resolve when `key` is deleted after `afterRevision`, the lease is lost, or the signal aborts. */
async function waitForDelete(store: MetadataStore, key: string, afterRevision: number, lease: Lease, signal?: AbortSignal): Promise<void> {
  let onAbort: () => void = () => undefined;
  let watcher: Watcher | undefined;
  let settled = false;
  try {
    await new Promise<void>((resolve, reject) => {
      onAbort = () => reject(signal!.reason);
      if (signal?.aborted) return onAbort(); // aborted while campaigning: the listener would never fire
      signal?.addEventListener('abort', onAbort, { once: true });
      void lease.lost.then(resolve);
      store
        .watch(key, (ev) => ev.type === 'delete' && ev.key === key && resolve(), { afterRevision, onError: () => resolve() })
        .then((w) => {
          // the wait may have ended (abort, lost lease) while the watch was being set up
          if (settled) void w.close();
          else watcher = w;
        }, reject);
    });
  } finally {
    settled = true;
    signal?.removeEventListener('abort', onAbort);
    await watcher?.close();
  }
}

function parseInfo<Info>(kv: KeyValue): Info | undefined {
  try {
    const info: unknown = JSON.parse(kv.value.toString('utf8'));
    return typeof info === 'object' && info !== null ? (info as Info) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Join, waiting while the id is still registered: a node restarted right after a crash finds its
 * previous registration until that lease runs out (at most about two TTLs).
 */
export async function joinWhenFree<Info extends MemberInfo>(
  store: MetadataStore,
  opts: JoinOptions<Info>,
  note: (msg: string, fields: Record<string, unknown>) => void = () => {},
): Promise<Membership<Info>> {
  const until = Date.now() + opts.ttlMs * 2 + 5000;
  for (;;) {
    try {
      return await joinCluster(store, opts);
    } catch (err) {
      if (Date.now() > until || !/is taken/.test(String((err as Error).message))) throw err;
      note('node id still registered by a previous run; waiting for its lease to end', { node: opts.nodeId });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** A membership kept up for the life of a service: joined again whenever its lease is lost. */
export interface LastingMembership<Info extends MemberInfo> {
  /** The membership now: a new one (new lease) after each rejoin. */
  readonly current: Membership<Info>;
  /** Called after each rejoin with the new membership and the one that was lost. */
  onRejoin(cb: (now: Membership<Info>, lost: Membership<Info>) => void): void;
  /** Stop rejoining and leave. */
  leave(): Promise<void>;
}

/**
 * Join (waiting out a previous run's registration, as joinWhenFree), and whenever the lease is lost
 * (a long pause, the store unreachable: the others now count this node as gone) leave and join
 * again under a new lease, retrying every `retryMs` until it works or leave() is called.
 */
export async function joinAndStay<Info extends MemberInfo>(
  store: MetadataStore,
  opts: JoinOptions<Info>,
  log: Logger,
  retryMs = 1000,
): Promise<LastingMembership<Info>> {
  const note = (msg: string, fields: Record<string, unknown>) => log.info(msg, fields);
  let current = await joinWhenFree(store, opts, note);
  let leaving = false;
  const rejoined: Array<(now: Membership<Info>, lost: Membership<Info>) => void> = [];
  const rejoinWhenLost = (lost: Membership<Info>): void =>
    void lost.lost.then(async () => {
      if (leaving) return;
      log.error('membership lease lost: this node counts as gone; joining again', { node: opts.nodeId });
      await lost.leave().catch(() => {});
      for (;;) {
        try {
          const next = await joinWhenFree(store, opts, note);
          if (leaving) return void (await next.leave().catch(() => {}));
          current = next;
          break;
        } catch (err) {
          if (leaving) return;
          log.warn('joining again failed; retrying', { node: opts.nodeId, err: String((err as Error).message ?? err) });
          await new Promise((r) => setTimeout(r, retryMs));
        }
      }
      for (const cb of rejoined) cb(current, lost);
      rejoinWhenLost(current);
    });
  rejoinWhenLost(current);
  return {
    get current() {
      return current;
    },
    onRejoin: (cb) => void rejoined.push(cb),
    leave: async () => {
      leaving = true;
      await current.leave();
    },
  };
}
