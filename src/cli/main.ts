#!/usr/bin/env node
import { Command, Option } from 'commander';
import { ConfigError } from '../core/errors.js';
import { resolveSettings, envName, flagName } from '../core/config.js';
import { SERVER_SETTINGS, ROUTER_SETTINGS, routerSettings } from './settings.js';
import { SHIP_SETTINGS, shipSettings } from './settings.js';
import { createLogger, type LogLevel } from '../core/log.js';
import { systemClock } from '../core/clock.js';
import { createRegistry } from '../core/metrics.js';
import { startAdminServer } from '../console/admin-server.js';
import { startServer } from './server.js';
import { runDevCluster } from './dev-cluster.js';
import { VERSION } from './version.js';

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

const program = new Command();
program.name('strata').description('Strata: the data tier of a web application, in one program').version(VERSION, '-V, --version');

program
  .command('version')
  .description('print the version')
  .action(() => console.log(VERSION));

const server = program
  .command('server')
  .description('run every built service on this machine with embedded defaults')
  .option('-c, --config <file>', 'JSON config file (settings nested by their dotted names)');
for (const spec of SERVER_SETTINGS) {
  server.addOption(new Option(`--${flagName(spec.name)} <value>`, `${spec.help} (env ${envName(spec.name)}, default ${String(spec.default)})`));
}
server.action(async (opts: Record<string, string | undefined>) => {
  const flags: Record<string, unknown> = {};
  for (const spec of SERVER_SETTINGS) flags[spec.name] = opts[camel(flagName(spec.name))];
  const settings = resolveSettings(SERVER_SETTINGS, { flags, env: process.env, configFile: opts.config ?? process.env.STRATA_CONFIG });
  const running = await startServer(settings);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`strata: ${signal}, shutting down\n`);
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
});

const routerFlag = (name: string) => flagName(name.replace(/^router\./, ''));
const router = program
  .command('router')
  .description('route memcached requests over pools of cache servers (mcrouter-style; docs/router.md)')
  .option('-c, --config <file>', 'JSON settings file (settings nested by their dotted names)');
for (const spec of ROUTER_SETTINGS) {
  router.addOption(new Option(`--${routerFlag(spec.name)} <value>`, `${spec.help} (env ${envName(spec.name)}, default ${String(spec.default)})`));
}
router.action(async (opts: Record<string, string | undefined>) => {
  const flags: Record<string, unknown> = {};
  for (const spec of ROUTER_SETTINGS) flags[spec.name] = opts[camel(routerFlag(spec.name))];
  const settings = resolveSettings(ROUTER_SETTINGS, { flags, env: process.env, configFile: opts.config ?? process.env.STRATA_CONFIG });
  const log = createLogger(settings['log-level'] as LogLevel, { node: 'strata', service: 'router' });
  const registry = createRegistry();
  const { startRouterService } = await import('../router/server.js');
  const running = await startRouterService(routerSettings(settings), log, systemClock, registry);
  const admin = await startAdminServer({ host: settings['router.admin-host'] as string, port: settings['router.admin-port'] as number, registry, log });
  process.on('SIGHUP', () => running.reload());
  const stop = (signal: string) => {
    process.stderr.write(`strata router: ${signal}, shutting down\n`);
    Promise.all([running.close(), admin.close()]).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
});

const shipFlag = (name: string) => flagName(name.replace(/^ship\./, ''));
const ship = program
  .command('ship')
  .description('forward lines of files and stdin to log topics, spooling to disk while the broker is down (Scribe-style; docs/ship.md)')
  .option('-c, --config <file>', 'JSON settings file (settings nested by their dotted names)');
for (const spec of SHIP_SETTINGS) {
  const option = new Option(`--${shipFlag(spec.name)} <value>`, `${spec.help} (env ${envName(spec.name)}, default ${String(spec.default)})`);
  // --file may be given several times.
  if (spec.name === 'ship.file') option.argParser((value: string, previous?: string) => (previous ? `${previous},${value}` : value));
  ship.addOption(option);
}
ship.action(async (opts: Record<string, string | undefined>) => {
  const flags: Record<string, unknown> = {};
  for (const spec of SHIP_SETTINGS) flags[spec.name] = opts[camel(shipFlag(spec.name))];
  const settings = resolveSettings(SHIP_SETTINGS, { flags, env: process.env, configFile: opts.config ?? process.env.STRATA_CONFIG });
  const log = createLogger(settings['log-level'] as LogLevel, { node: 'strata', service: 'ship' });
  const { startShipper } = await import('../ship/shipper.js');
  const running = startShipper(shipSettings(settings), log, process.stdin);
  const stop = (code: number) => running.close().then(
    () => process.exit(code),
    () => process.exit(1),
  );
  // With only stdin to read, ship ends once stdin has ended and every line is acknowledged.
  void running.done.then(() => stop(0));
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
});

program
  .command('dev-cluster')
  .description('a local multi-region records cluster to try things on: etcd plus one strata server per region')
  .option('--regions <n>', 'how many regions', '3')
  .option('--data-dir <dir>', 'where the regions and etcd keep their data', './strata-dev-cluster')
  .option('--base-port <port>', 'region i listens on base-port + 10·i (etcd on base-port - 2 and - 1)', '7600')
  .action(async (opts: { regions: string; dataDir: string; basePort: string }) => {
    await runDevCluster({ regions: Number(opts.regions), dataDir: opts.dataDir, basePort: Number(opts.basePort), etcdBinary: '/usr/bin/etcd' });
    process.exit(0);
  });

// A promise nobody handled is a bug, but one that must not take every service of the node down.
process.on('unhandledRejection', (err) => {
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level: 'error', msg: 'unhandled promise rejection (a bug; please report)', err: String((err as Error)?.stack ?? err) })}\n`);
});

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`strata: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`strata: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
