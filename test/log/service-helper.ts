import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { systemClock, type Clock } from '../../src/core/clock.js';
import { startLogService, type LogService, type LogSettings } from '../../src/log/service.js';
import { LogClient } from '../../src/log/client.js';

export function logSettings(dataDir: string, over: Partial<LogSettings> = {}): LogSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    httpPort: -1,
    dataDir,
    nodeId: 'n1',
    etcd: [],
    autoCreateTopics: true,
    maxConnections: 1000,
    offsetsPartitions: 2,
    sessionTtlMs: 5000,
    replicaLagMs: 10_000,
    minInsync: 2,
    defaults: { partitions: 1, replicas: 1, retentionMs: 0, retentionBytes: 0, segmentBytes: 1 << 20, tombstoneRetentionMs: 60_000 },
    ...over,
  };
}

/** A log service in this process on a temp dir, with a client; `stop` closes both and removes the dir. */
export async function startLog(over: Partial<LogSettings> = {}, clock: Clock = systemClock): Promise<{ service: LogService; client: LogClient; dir: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-log-'));
  const service = await startLogService(logSettings(dir, over), createLogger('silent'), clock);
  const client = await LogClient.connect({ port: service.port, retryTimeoutMs: 5000 });
  return {
    service,
    client,
    dir,
    async stop() {
      await client.close();
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
