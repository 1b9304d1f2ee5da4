import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawnTracked } from '../../bench/lib/procs.js';
import { after, before, type TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ManualClock } from '../../src/core/clock.js';
import { openEmbeddedStore } from '../../src/cluster/embedded-store.js';
import { openEtcdStore } from '../../src/cluster/etcd-store.js';
import type { MetadataStore } from '../../src/cluster/metadata-store.js';
import { freePort } from './ports.js';

export const ETCD_BINARY = '/usr/bin/etcd';

/** Why the etcd cases cannot run here, or null when they can (for `{ skip: etcdMissing() }`). */
export function etcdMissing(): string | false {
  return existsSync(ETCD_BINARY) ? false : `${ETCD_BINARY} is not installed (Debian package etcd-server; .ci/run installs it)`;
}

export interface RealEtcd {
  /** `http://127.0.0.1:<port>`, for the etcd3 client's `hosts`. */
  endpoint: string;
  /** Stop etcd (SIGKILL if it is still running) and remove its data directory. */
  stop(): Promise<void>;
  /** SIGKILL etcd now, leaving its directory for `stop()` to remove: the store becomes unreachable. */
  kill(): void;
}

/**
 * Start a single-member etcd in a temporary directory on free loopback ports, resolving once it
 * answers a read. Short heartbeat and election timeouts let tests use 1-second leases (etcd
 * raises shorter TTLs to 1.5 election timeouts).
 */
export async function startEtcd(): Promise<RealEtcd> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 4; attempt++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'strata-etcd-'));
    const clientUrl = `http://127.0.0.1:${await freePort()}`;
    const peerUrl = `http://127.0.0.1:${await freePort()}`;
    const child = spawnTracked(
      ETCD_BINARY,
      [
        '--name', 'strata-test',
        '--data-dir', path.join(dir, 'data'),
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', `strata-test=${peerUrl}`,
        '--heartbeat-interval', '10',
        '--election-timeout', '100',
        '--logger', 'zap',
        '--log-level', 'error',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const running = watchExit(child);
    try {
      await waitUntilAnswering(clientUrl, running, 10_000);
      return {
        endpoint: clientUrl,
        kill: () => {
          if (running.exitCode === undefined) child.kill('SIGKILL');
        },
        stop: async () => {
          if (running.exitCode === undefined) child.kill('SIGKILL');
          await running.exited;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      if (running.exitCode === undefined) child.kill('SIGKILL');
      await running.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(`etcd did not start after 4 attempts: ${(lastError as Error).message}`);
}

interface Running {
  exitCode: number | null | undefined;
  exited: Promise<void>;
  stderr(): string;
}

function watchExit(child: ChildProcess): Running {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 4000) stderr += chunk.toString('utf8');
  });
  const running: Running = {
    exitCode: undefined,
    exited: new Promise((resolve) =>
      child.once('exit', (code) => {
        running.exitCode = code;
        resolve();
      }),
    ),
    stderr: () => stderr.trim(),
  };
  return running;
}

/**
 * Poll with a client read until etcd answers, exits (e.g. a port taken meanwhile) or the deadline
 * passes. A new client each time: a client whose first connection failed waits 5 s (its circuit
 * breaker) before trying again.
 */
async function waitUntilAnswering(endpoint: string, running: Running, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (running.exitCode !== undefined) throw new Error(`etcd exited with code ${running.exitCode}: ${running.stderr()}`);
    const client = new Etcd3({ hosts: endpoint, defaultCallOptions: () => ({ deadline: Date.now() + 500 }) });
    try {
      await client.get('strata-test-probe').string();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`etcd at ${endpoint} did not answer within ${timeoutMs} ms: ${(err as Error).message}`);
    } finally {
      client.close();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One implementation of the metadata store, for suites that run the same cases against each. */
export interface StoreKind {
  name: 'embedded' | 'etcd';
  /** Why this kind cannot run here (etcd not installed), or false. */
  skip: string | false;
  /** A fresh, empty store for one test, closed (and its files removed) after the test. */
  open(t: TestContext): Promise<StoreFixture>;
}

export interface StoreFixture {
  store: MetadataStore;
  /** A TTL that expires quickly once its lease is abandoned: 1 s on etcd; on the embedded store it is clock time. */
  ttlMs: number;
  /** Another client of the same data: a second connection to etcd; the same store when embedded (one node). */
  client(): Promise<MetadataStore>;
  /**
   * Let the leases of `owner` (of at most `ttlMs`) run out as if their node had died: etcd closes
   * that client so its keep-alives stop; the embedded store advances its ManualClock by `ttlMs`,
   * ending every lease of at most that TTL. The caller then polls for the consequences.
   */
  abandon(owner: MetadataStore, ttlMs: number): Promise<void>;
  /** The embedded store's clock and directory (undefined for etcd). */
  clock?: ManualClock;
  dir?: string;
}

/**
 * The embedded store (temp directory, ManualClock) and etcd (one etcd started before the file's
 * tests and stopped after them, a new key prefix per test). Call at the top of a test file.
 */
export function storeKinds(): StoreKind[] {
  const skip = etcdMissing();
  let etcd: RealEtcd | undefined;
  let prefixes = 0;
  before(async () => {
    if (!skip) etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });
  const embedded: StoreKind = {
    name: 'embedded',
    skip: false,
    async open(t) {
      const dir = mkdtempSync(path.join(tmpdir(), 'strata-metadata-'));
      const clock = new ManualClock();
      const store = await openEmbeddedStore({ dir, clock });
      t.after(async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return {
        store,
        ttlMs: 10_000,
        clock,
        dir,
        client: async () => store,
        abandon: async (_owner, ttlMs) => clock.advance(ttlMs),
      };
    },
  };
  const etcdKind: StoreKind = {
    name: 'etcd',
    skip,
    async open(t) {
      const prefix = `/strata-test-${process.pid}-${++prefixes}/`;
      const clients: MetadataStore[] = [];
      const client = async () => {
        const c = await openEtcdStore({ endpoints: [etcd!.endpoint], prefix });
        clients.push(c);
        return c;
      };
      t.after(async () => {
        for (const c of clients) await c.close();
      });
      return { store: await client(), ttlMs: 1000, client, abandon: (owner) => owner.close() };
    },
  };
  return [embedded, etcdKind];
}
