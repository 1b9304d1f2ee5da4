/**
 * The Strata server of the records bench: `strata server` as its own process (through tsx, from the
 * source tree) with only the log and records services, in a temporary data directory, on free
 * ports. The records service's port is read from its JSON log line on stderr
 * ({"msg":"records listening","port":N,…}). Durability is the records default, fsync: a write
 * commits once the log leader has fdatasynced its change. The child is tracked by
 * bench/lib/procs.ts, so it is killed however the bench ends; stop() also removes the directory.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasExited, spawnTracked, stopChild, tailOf } from './procs.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export const STRATA_RECORDS_COMMAND =
  'node --import tsx src/cli/main.ts server --data-dir $DIR --cache-enabled false --admin-port 0 --log-port 0 --log-http-port -1 ' +
  '--records-port 0 --records-http-port -1 --log-level info';

export interface StrataRecordsPeer {
  kind: 'strata';
  /** The records service's RPC port. */
  port: number;
  pid: number;
  child: ChildProcess;
  /** The data directory (removed by stop()). */
  dir: string;
  /** The command line as run, with the directory replaced by $DIR. */
  command: string;
  /** "strata 0.1.0 @ fe51fcb" (" (src modified)" when the working tree's src/ differs from HEAD). */
  version: string;
  alive(): boolean;
  /** The last lines the server printed (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
}

/** Strata's version from package.json and the commit the tree is at. */
export function strataVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version?: string };
  const git = (args: string[]) => {
    const r = spawnSync('git', args, { cwd: REPO, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : null;
  };
  const sha = git(['rev-parse', '--short', 'HEAD']) ?? '?';
  const dirty = (git(['status', '--porcelain', '--', 'src']) ?? '').length > 0;
  return `strata ${pkg.version ?? '?'} @ ${sha}${dirty ? ' (src modified)' : ''}`;
}

/** The port of the first JSON log line with msg `records listening`, or 0. */
export function recordsPortFrom(stderrText: string): number {
  for (const line of stderrText.split('\n')) {
    if (!line.startsWith('{') || !line.includes('records listening')) continue;
    try {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'records listening' && typeof rec.port === 'number' && rec.port > 0) return rec.port;
    } catch {
      // a partial line: wait for the rest
    }
  }
  return 0;
}

/** Start `strata server` with the records service; resolves once it listens. */
export async function startStrataRecords(timeoutMs = 30_000): Promise<StrataRecordsPeer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-records-bench-'));
  const args = [
    '--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), 'server',
    '--data-dir', dir,
    '--cache-enabled', 'false',
    '--admin-port', '0',
    '--log-port', '0',
    '--log-http-port', '-1',
    '--records-port', '0',
    '--records-http-port', '-1',
    '--log-level', 'info',
  ];
  const child = spawnTracked(process.execPath, args, { cwd: REPO });
  // Everything up to the listening line is kept whole (the line may come after others).
  let head = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (head.length < 200_000) head += d.toString('utf8');
  });
  const errTail = tailOf(child.stderr);
  const outTail = tailOf(child.stdout);
  const output = () => `${outTail()}${errTail()}`;
  const peer: StrataRecordsPeer = {
    kind: 'strata',
    port: 0,
    pid: child.pid ?? -1,
    child,
    dir,
    command: STRATA_RECORDS_COMMAND,
    version: strataVersion(),
    output,
    alive: () => !hasExited(child),
    stop: async () => {
      await stopChild(child, 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (hasExited(child)) throw new Error(`strata exited during start (${child.exitCode ?? child.signalCode}): ${output().slice(-800)}`);
      const port = recordsPortFrom(head);
      if (port > 0) {
        peer.port = port;
        return peer;
      }
      if (Date.now() > deadline) throw new Error(`strata: no "records listening" line after ${timeoutMs} ms: ${output().slice(-800)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  } catch (err) {
    await peer.stop();
    throw err;
  }
}
