import { Registry, collectDefaultMetrics, Gauge, Counter } from 'prom-client';

/**
 * The process-wide metrics registry, exposed in Prometheus text format on the admin port.
 * Services register gauges whose `collect` reads their live counters, so nothing is pushed
 * on the hot path.
 */
export function createRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'strata_' });
  return registry;
}

/** Register a counter-like value read on every scrape. */
export function registerCounterFn(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** Register a gauge read on every scrape. */
export function registerGaugeFn(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
