import { StrataError } from '../core/errors.js';

/**
 * The cluster's metadata store: membership, partition leadership and partition maps. One
 * interface, two implementations: embedded (one node, in-process, persisted in a directory) and
 * etcd (several nodes). Keys are strings relative to the store's prefix; revisions are the
 * store-wide change counter, as in etcd: every change gets the next revision, and a key's
 * `modRevision` is the revision of its last change. See docs/cluster.md.
 */

export interface KeyValue {
  key: string;
  value: Buffer;
  /** Revision of the key's last change. */
  modRevision: number;
  /** Revision at which the key was created (since it last did not exist). */
  createRevision: number;
  /** Id of the lease the key is bound to, if any. */
  lease?: string;
}

export type WatchEvent = { type: 'put'; kv: KeyValue } | { type: 'delete'; key: string; modRevision: number };

export interface Lease {
  readonly id: string;
  /** The TTL the store applies (etcd rounds up to whole seconds). */
  readonly ttlMs: number;
  /** Resolved when the lease is lost: expired, revoked, its store closed, or the store unreachable for longer than its TTL. */
  readonly lost: Promise<void>;
  /** Whether `lost` has resolved. */
  readonly isLost: boolean;
  /** End the lease now, deleting the keys bound to it. */
  revoke(): Promise<void>;
}

export interface Watcher {
  close(): Promise<void>;
}

/** A consistent read of a prefix: the keys and the store revision they were read at. */
export interface Snapshot {
  revision: number;
  kvs: KeyValue[];
}

export interface WatchOptions {
  /** Deliver the changes after this revision (e.g. a `Snapshot`'s), rather than those after the watch starts. */
  afterRevision?: number;
  /**
   * Called once if the watch ends for good (e.g. the revisions it needs were compacted away);
   * nothing more is delivered then, and the caller should read again and watch anew.
   */
  onError?: (err: Error) => void;
}

export interface MetadataStore {
  get(key: string): Promise<KeyValue | null>;
  /** Keys starting with `prefix`, sorted by key. */
  list(prefix: string): Promise<KeyValue[]>;
  /** `list` plus the revision it was read at, to watch from without missing a change. */
  snapshot(prefix: string): Promise<Snapshot>;
  /** Returns the new revision. */
  put(key: string, value: Buffer | string, opts?: { lease?: Lease }): Promise<number>;
  /** Compare-and-set: write only when the key's modRevision equals `expected` (0: the key must not exist). */
  putIf(key: string, value: Buffer | string, expected: number, opts?: { lease?: Lease }): Promise<boolean>;
  /** Whether the key existed. */
  delete(key: string): Promise<boolean>;
  /** Delete only when the key's modRevision equals `expected`. */
  deleteIf(key: string, expected: number): Promise<boolean>;
  /** A lease kept alive automatically until revoked or lost; keys put with it are deleted when it ends. */
  grantLease(ttlMs: number): Promise<Lease>;
  /** Calls onEvent for every change under prefix after the watch starts (or after `opts.afterRevision`), in revision order. onEvent must not throw. */
  watch(prefix: string, onEvent: (ev: WatchEvent) => void, opts?: WatchOptions): Promise<Watcher>;
  /** Stop watches and keep-alives (the store's leases are lost) and release the store. */
  close(): Promise<void>;
}

/** The store refused or failed an operation; the message names the store, the operation and the key. */
export class MetadataStoreError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('METADATA_STORE', message);
    this.name = 'MetadataStoreError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Keys are non-empty strings; prefixes may be empty (everything). */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new MetadataStoreError(`metadata key must be a non-empty string, got ${JSON.stringify(key)}`);
}

export function toBuffer(value: Buffer | string): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}
