import http from 'node:http';
import { listenHttp } from '../net/http-listen.js';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';

/** The admin HTTP port: /metrics (Prometheus text format) and /healthz. */
export async function startAdminServer(opts: { host: string; port: number; registry: Registry; log: Logger }): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message + '\n'),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const listening = await listenHttp(server, opts.host, opts.port);
  opts.log.info('admin listening', { host: opts.host, port: listening.port });
  return listening;
}
