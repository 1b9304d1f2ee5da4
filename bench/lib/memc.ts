/** One-shot text-protocol requests to a cache on 127.0.0.1 (stats, readiness probes). */
import net from 'node:net';

/** Send `payload`, collect the reply until `done(reply)` holds; rejects after timeoutMs. */
export function request(port: number, payload: string, done: (reply: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const timer = setTimeout(() => finish(new Error(`no complete reply from 127.0.0.1:${port} in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply);
    };
    sock.on('connect', () => sock.write(payload));
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (done(reply)) finish();
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`connection to ${port} closed before the reply was complete`)));
  });
}

/** `stats` as a name → value map. */
export async function stats(port: number, timeoutMs = 5000): Promise<Record<string, string>> {
  const reply = await request(port, 'stats\r\n', (r) => r.endsWith('END\r\n'), timeoutMs);
  const out: Record<string, string> = {};
  for (const line of reply.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** True if something accepts TCP connections on the port within timeoutMs. */
export function canConnect(port: number, timeoutMs = 300): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    sock.on('connect', () => done(true));
    sock.on('error', () => done(false));
  });
}

/** A port that was free a moment ago (bind 127.0.0.1:0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
