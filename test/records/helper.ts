import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, type LogLevel } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { startLogService, type LogService } from '../../src/log/service.js';
import { startRecordsService, type RecordsService, type RecordsSettings } from '../../src/records/service.js';
import { RecordsClient } from '../../src/records/client.js';
import { logSettings } from '../log/service-helper.js';

export function recordsSettings(dataDir: string, logPort: number, over: Partial<RecordsSettings> = {}): RecordsSettings {
  return {
    host: '127.0.0.1',
    port: 0,
    httpPort: -1,
    dataDir,
    nodeId: 'r1',
    region: 'local',
    etcd: [],
    etcdPrefix: '/strata/records/',
    logBrokers: [{ host: '127.0.0.1', port: logPort }],
    durability: 'fsync',
    partitions: 2,
    tablets: 4,
    sessionTtlMs: 5000,
    maxConnections: 1000,
    splitRecords: 0,
    splitCheckMs: 1000,
    expirySweepMs: 1000,
    connectVia: new Map(),
    applyTrace: '',
    tokens: [],
    ...over,
  };
}

export interface OneRegion {
  dir: string;
  logService: LogService;
  records: RecordsService;
  client: RecordsClient;
  /** Stop the records service and its log, keeping the data directory. */
  stopServices(): Promise<void>;
  stop(): Promise<void>;
}

/** One region in this process: a log service and a records service on a temp dir, with a client. */
export async function startOneRegion(opts: { dir?: string; over?: Partial<RecordsSettings>; level?: LogLevel } = {}): Promise<OneRegion> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'strata-records-'));
  const logger = createLogger(opts.level ?? 'silent');
  const logService = await startLogService(logSettings(dir), logger, systemClock);
  let records: RecordsService;
  try {
    records = await startRecordsService(recordsSettings(dir, logService.port, opts.over), logger, systemClock);
  } catch (err) {
    await logService.close();
    throw err;
  }
  const token = opts.over?.tokens?.[0];
  const client = await RecordsClient.connect({ port: records.port, timeoutMs: 20_000, ...(token ? { token } : {}) });
  let stopped = false;
  const stopServices = async () => {
    if (stopped) return;
    stopped = true;
    client.close();
    await records.close();
    await logService.close();
  };
  return {
    dir,
    logService,
    records,
    client,
    stopServices,
    async stop() {
      await stopServices();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
