import { Gauge, type Registry } from 'prom-client';
import { registerCounterFn, registerGaugeFn } from '../core/metrics.js';
import type { Router } from './router.js';
import type { ProxyStats } from './proxy.js';

/** The router's counters as Prometheus metrics, read at scrape time (strata_router_*). */
export function registerRouterMetrics(registry: Registry, stats: ProxyStats, router: Router): void {
  registerGaugeFn(registry, 'strata_router_connections', 'Open client connections', () => stats.currConnections);
  registerCounterFn(registry, 'strata_router_connections_total', 'Client connections accepted', () => stats.totalConnections);
  registerCounterFn(registry, 'strata_router_get_keys_total', 'Keys asked for by get/gets/gat/gats', () => stats.cmdGet);
  registerCounterFn(registry, 'strata_router_get_hits_total', 'Keys found', () => stats.getHits);
  registerCounterFn(registry, 'strata_router_get_misses_total', 'Keys not found (including servers that could not answer)', () => stats.getMisses);
  registerCounterFn(registry, 'strata_router_other_commands_total', 'Keyed commands other than get', () => stats.cmdOther);
  registerCounterFn(registry, 'strata_router_failed_requests_total', 'Requests no server could answer', () => stats.failedRequests);
  const perServer = (name: string, help: string, read: (d: ReturnType<Router['servers']>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['server'],
      registers: [registry],
      collect() {
        this.reset();
        for (const d of router.servers()) this.set({ server: d.name }, read(d));
      },
    });
  perServer('strata_router_server_up', '1 while the server answers, 0 while it is marked down', (d) => (d.state === 'up' ? 1 : 0));
  perServer('strata_router_server_pending', 'Requests queued or in flight to the server', (d) => d.pending);
  perServer('strata_router_server_failures', 'Failures (timeouts, broken connections) seen with the server', (d) => d.stats.failures);
  perServer('strata_router_server_marked_down', 'Times the server was marked down', (d) => d.stats.markedDown);
}
