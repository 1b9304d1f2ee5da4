import { spawn } from 'node:child_process';
import { withFdLimit } from './strata-process.js';

/**
 * Holds `count` idle TCP connections to a port from a separate process whose open-file limit is
 * raised first, so a test can open more sockets than the shell's `ulimit -n` allows it. The
 * connections are opened in batches; the holder closes them all and exits when its stdin closes,
 * so it cannot outlive the test process.
 */
const HOLDER = `
const net = require('node:net');
const [port, count, batch] = process.argv.slice(1).map(Number);
const sockets = [];
const connect = () => new Promise((resolve, reject) => {
  const s = net.connect(port, '127.0.0.1');
  s.once('connect', () => { s.removeAllListeners('error'); s.on('error', () => {}); resolve(s); });
  s.once('error', reject);
});
(async () => {
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, connect))));
  }
  let closedByServer = 0;
  for (const s of sockets) s.once('close', () => closedByServer++);
  process.stdout.write(JSON.stringify({ opened: sockets.length }) + '\\n');
  process.stdin.on('data', () => process.stdout.write(JSON.stringify({ closedByServer }) + '\\n'));
})().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.message || err), opened: sockets.length }) + '\\n');
  for (const s of sockets) s.destroy();
  process.exit(1);
});
process.stdin.on('end', () => { for (const s of sockets) s.destroy(); process.exit(0); });
process.stdin.resume();
`;

export interface IdleConnections {
  opened: number;
  /** How many of the held connections the server has closed so far. */
  closedByServer(): Promise<number>;
  /** Close every connection and wait for the holder to exit. */
  close(): Promise<void>;
}

export async function holdIdleConnections(port: number, count: number, batch = 500, timeoutMs = 60_000): Promise<IdleConnections> {
  const [command, ...args] = withFdLimit(count + 100, [process.execPath, '-e', HOLDER, String(port), String(count), String(batch)]);
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let buffered = '';
  const waiters: Array<(msg: Record<string, unknown>) => void> = [];
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiters.shift()?.(JSON.parse(line) as Record<string, unknown>);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection holder did not answer within ${timeoutMs} ms: ${stderr}`)), timeoutMs);
      waiters.push((msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`connection holder exited: ${stderr}`));
      });
    });
  const close = async () => {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  let ready: Record<string, unknown>;
  try {
    ready = await next();
    if (ready.error) throw new Error(`holder opened ${String(ready.opened)} of ${count}: ${String(ready.error)}`);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    opened: Number(ready.opened),
    async closedByServer() {
      child.stdin.write('?\n');
      return Number((await next()).closedByServer);
    },
    close,
  };
}
