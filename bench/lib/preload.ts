/** Store keys [0, count) (or the key indexes in `keys`) with pipelined sets over a few connections; every reply is checked. */
import net from 'node:net';
import { ReplyParser, REPLY_OK } from './parser.js';
import { SetWriter } from './keys.js';

export interface PreloadResult {
  stored: number;
  errors: number;
  errorLines: string[];
  seconds: number;
}

export interface PreloadOptions {
  port: number;
  count: number;
  valueSize: number;
  connections?: number;
  window?: number;
  timeoutMs?: number;
  /** Store these key indexes instead of [0, count) (count is then keys.length). */
  keys?: ArrayLike<number>;
}

export function preload(opts: PreloadOptions): Promise<PreloadResult> {
  const { port, valueSize, keys } = opts;
  const count = keys ? keys.length : opts.count;
  const conns = opts.connections ?? 2;
  const window = opts.window ?? 256;
  const timeoutMs = opts.timeoutMs ?? 180_000;
  const writer = new SetWriter(valueSize);
  const started = performance.now();
  let next = 0;
  let stored = 0;
  let errors = 0;
  let open = conns;
  const errorLines: string[] = [];
  const sockets: net.Socket[] = [];

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      if (err) reject(err);
      else resolve({ stored, errors, errorLines, seconds: (performance.now() - started) / 1000 });
    };
    const timer = setTimeout(() => finish(new Error(`preload of ${count} items on port ${port} not done after ${timeoutMs} ms (${stored} stored)`)), timeoutMs);

    for (let c = 0; c < conns; c++) {
      const sock = net.connect({ host: '127.0.0.1', port });
      sock.setNoDelay(true);
      sockets.push(sock);
      let outstanding = 0;
      const refill = () => {
        const n = Math.min(window - outstanding, count - next);
        if (n <= 0) {
          if (outstanding === 0 && --open === 0) finish();
          return;
        }
        const buf = Buffer.allocUnsafe(n * writer.maxBytes);
        let off = 0;
        for (let j = 0; j < n; j++, next++) off = writer.write(buf, off, keys ? keys[next] : next);
        outstanding += n;
        sock.write(buf.subarray(0, off));
      };
      const parser = new ReplyParser(valueSize, (status) => {
        outstanding--;
        if (status === REPLY_OK) stored++;
        else errors++;
      });
      sock.on('connect', refill);
      sock.on('data', (d: Buffer) => {
        parser.push(d);
        if (errorLines.length < 5) errorLines.push(...parser.errorLines.splice(0));
        if (outstanding < window / 2 || next >= count) refill();
      });
      sock.on('error', (err) => finish(new Error(`preload connection to ${port}: ${err.message}`)));
      sock.on('close', () => finish(new Error(`preload connection to ${port} closed (${stored} stored, ${errors} errors)`)));
    }
  });
}
