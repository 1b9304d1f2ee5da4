/**
 * Servers for the YCSB bindings, each a tracked child process (bench/lib/procs.ts, so it dies
 * however the bench or test ends) in its own temporary directory, listening on a free port on
 * 127.0.0.1: PostgreSQL (a fresh cluster made by initdb) and redis-server (append-only file,
 * appendfsync everysec, no RDB snapshots). stop() ends the server and removes the directory.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { hasExited, spawnTracked, stopChild, tailOf, waitExit } from './procs.js';
import { freePort } from './memc.js';
import { REDIS_SERVER, startPeer, versionOf } from './log-peers.js';

export interface SqlPeer {
  kind: 'postgres' | 'redis';
  port: number;
  pid: number;
  /** What the server says it is, e.g. "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". */
  version: string;
  /** The temporary directory (removed by stop()). */
  dir: string;
  /** postgres://… for PostgreSQL, redis://… for Redis. */
  url: string;
  alive(): boolean;
  /** The last lines the server printed. */
  output(): string;
  stop(): Promise<void>;
}

/** The bin directory of the newest Debian PostgreSQL, else the one holding `postgres` on PATH. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (existsSync(path.join(dir, 'postgres')) && existsSync(path.join(dir, 'initdb'))) return dir;
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(path.join(dir, 'postgres')) && existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return null;
}

export function haveRedisServer(): boolean {
  return existsSync(REDIS_SERVER);
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user and give it the directory. */
function serverUser(dir: string): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) throw new Error('running as root, and there is no `postgres` user to run PostgreSQL as (it comes with the Debian package postgresql)');
  const owner = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  chownSync(dir, owner.uid, owner.gid);
  return owner;
}

async function waitReady(child: ChildProcess, what: string, output: () => string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited(child)) throw new Error(`${what} exited during start (${child.exitCode ?? child.signalCode}): ${output().slice(-800)}`);
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs} ms: ${output().slice(-800)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True when the server on `url` answers and runs on `dataDir` (so the port is ours, not someone else's). */
async function answersFrom(url: string, dataDir: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const res = await client.query('SHOW data_directory');
    return res.rows[0]?.data_directory === dataDir;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function startPostgresOnce(timeoutMs: number): Promise<SqlPeer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries (initdb, postgres) not found: install the Debian package postgresql');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-ycsb-postgres-'));
  try {
    const data = path.join(dir, 'data');
    const socketDir = path.join(dir, 'socket');
    const owner = serverUser(dir);
    mkdirSync(socketDir);
    if (owner.uid !== undefined) chownSync(socketDir, owner.uid, owner.gid!);
    // --no-sync only skips flushing initdb's own files; the server below runs with fsync on.
    const init = spawnSync(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], { ...owner, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}): ${`${init.stdout}${init.stderr}`.slice(-800)}`);
    const port = await freePort();
    // The durable defaults, stated so a changed default cannot make the comparison unfair:
    // fsync, synchronous commit (a commit returns after its WAL is flushed) and full-page writes.
    const settings = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: socketDir,
      fsync: 'on',
      synchronous_commit: 'on',
      full_page_writes: 'on',
      shared_buffers: '256MB',
      max_connections: '250',
    };
    const args = ['-D', data, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const child = spawnTracked(path.join(bin, 'postgres'), args, { cwd: dir, ...owner });
    const output = (() => {
      const out = tailOf(child.stdout);
      const err = tailOf(child.stderr);
      return () => `${out()}${err()}`;
    })();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const peer: SqlPeer = {
      kind: 'postgres',
      port,
      pid: child.pid ?? -1,
      version: versionOf(path.join(bin, 'postgres'), ['--version']),
      dir,
      url,
      output,
      alive: () => !hasExited(child),
      stop: async () => {
        // SIGINT is PostgreSQL's fast shutdown (SIGTERM waits for clients to disconnect).
        if (!hasExited(child)) child.kill('SIGINT');
        if (!(await waitExit(child, 10_000))) await stopChild(child);
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitReady(child, 'postgres', output, timeoutMs, () => answersFrom(url, data));
      return peer;
    } catch (err) {
      await peer.stop();
      throw err;
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Start PostgreSQL; retried on another port up to 3 times (a port can be taken between probe and bind). */
export async function startPostgres(timeoutMs = 30_000): Promise<SqlPeer> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startPostgresOnce(timeoutMs);
    } catch (err) {
      last = err;
      if (String((err as Error).message).includes('not found')) break;
    }
  }
  throw last;
}

/** Start redis-server with appendonly yes, appendfsync everysec, save "" (bench/lib/log-peers.ts). */
export async function startRedis(timeoutMs = 20_000): Promise<SqlPeer> {
  if (!haveRedisServer()) throw new Error(`${REDIS_SERVER} not found: install the Debian package redis-server`);
  const peer = await startPeer('redis', timeoutMs);
  return {
    kind: 'redis',
    port: peer.port,
    pid: peer.pid,
    version: versionOf(REDIS_SERVER, ['--version']),
    dir: peer.dir,
    url: `redis://127.0.0.1:${peer.port}`,
    alive: peer.alive,
    output: peer.output,
    stop: peer.stop,
  };
}
