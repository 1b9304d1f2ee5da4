import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../core/clock.js';
import { createLogger, type LogLevel } from '../core/log.js';
import { TcpService } from '../net/tcp-server.js';
import { CacheStore } from './store/store.js';
import type { StoreOptions } from './store/layout.js';
import type { CacheSettings } from './context.js';
import { CacheConnection } from './protocol/connection.js';

/** One cache thread: serves connections accepted on the shared listening fd, on the shared store. */
export interface CacheWorkerData {
  sab: SharedArrayBuffer;
  storeOptions: StoreOptions;
  connections: SharedArrayBuffer;
  fd: number;
  statRow: number;
  settings: CacheSettings;
  logLevel: LogLevel;
}

const data = workerData as CacheWorkerData;
const log = createLogger(data.logLevel, { service: 'cache', thread: data.statRow });
const store = new CacheStore(data.sab, data.storeOptions, systemClock, data.statRow);
const ctx = { store, settings: data.settings, connectionCount: new Int32Array(data.connections), pid: process.pid };
const service = new TcpService({
  name: 'cache',
  log,
  fd: data.fd,
  connectionCount: ctx.connectionCount,
  maxConnections: data.settings.maxConnections,
  overLimitReply: Buffer.from('ERROR Too many open connections\r\n'),
  createHandler: (conn) => new CacheConnection(conn, ctx),
});

service.listen().then(
  () => parentPort!.postMessage({ type: 'listening' }),
  (err: Error) => parentPort!.postMessage({ type: 'error', message: err.message }),
);

parentPort!.on('message', (msg: { type: string }) => {
  if (msg.type === 'close') {
    service.close().then(() => {
      parentPort!.postMessage({ type: 'closed' });
      parentPort!.close();
    });
  }
});
