import type { Clock } from '../core/clock.js';
import { openEmbeddedStore } from './embedded-store.js';
import { openEtcdStore } from './etcd-store.js';
import type { MetadataStore } from './metadata-store.js';

export * from './metadata-store.js';
export { openEmbeddedStore, type EmbeddedStoreOptions } from './embedded-store.js';
export { openEtcdStore, DEFAULT_ETCD_PREFIX, type EtcdStoreOptions } from './etcd-store.js';
export * from './membership.js';

export type MetadataStoreOptions =
  | { kind: 'embedded'; dir: string; clock?: Clock }
  | { kind: 'etcd'; endpoints: string[]; prefix?: string; timeoutMs?: number };

/** The embedded store when one node runs alone, etcd when several form a cluster (docs/cluster.md). */
export function openMetadataStore(opts: MetadataStoreOptions): Promise<MetadataStore> {
  return opts.kind === 'embedded' ? openEmbeddedStore(opts) : openEtcdStore(opts);
}
