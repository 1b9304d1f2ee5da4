import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { createLogger, type Logger } from '../../src/core/log.js';
import { startRouterService, type RouterService } from '../../src/router/server.js';

export interface TestRouter {
  port: number;
  service: RouterService;
  /** Directory holding the route file and the delete spool. */
  dir: string;
  /** Replace the route file (the test then calls service.reload()). */
  writeRoutes(config: unknown): void;
  close(): Promise<void>;
}

/** `strata router` in this process, with its route file and data directory in a fresh temp dir. */
export async function startRouter(config: unknown, log: Logger = createLogger('error')): Promise<TestRouter> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'strata-router-'));
  const file = path.join(dir, 'routes.json');
  const writeRoutes = (c: unknown) => writeFileSync(file, JSON.stringify(c, null, 2));
  writeRoutes(config);
  const service = await startRouterService(
    { routeConfig: file, host: '127.0.0.1', port: 0, maxConnections: 1024, itemSizeMax: 1024 * 1024, dataDir: dir, version: '1.6.18', watchIntervalMs: 0 },
    log,
    systemClock,
  );
  return {
    port: service.port,
    service,
    dir,
    writeRoutes,
    async close() {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `check` until it returns true, failing after `timeoutMs` with `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
