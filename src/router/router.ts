import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { Destination } from './destination.js';
import type { DeleteSpool } from './delete-spool.js';
import { KetamaRing } from './ketama.js';
import type { RouterConfig, RouteSpec } from './config.js';
import type { Request } from './protocol/request.js';
import {
  type Done, type Route, type RouteContext, Pool, PoolRoute, FailoverRoute, ReplicatedRoute, WarmUpRoute, PrefixRoute, ShadowRoute,
} from './routes.js';

/**
 * The routing core shared by `strata router` and the embedded client: the destinations (one per
 * server address, kept across reconfigurations so connections and health survive a reload), the
 * pools and the route tree.
 */
export class Router {
  private readonly destinations = new Map<string, Destination>();
  private root: Route | null = null;
  private readonly ctx: RouteContext;

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly spool: DeleteSpool | null,
  ) {
    this.ctx = { clock, log, spool };
    // A delete may be spooled while its server's connection is already open again; look each second.
    this.sweeper = setInterval(() => this.drainAll(), 1000);
    this.sweeper.unref();
  }

  private readonly sweeper: NodeJS.Timeout;

  private drainAll(): void {
    if (!this.spool) return;
    for (const d of this.destinations.values()) if (d.state === 'up' && this.spool.hasPending(d.name)) this.drain(d);
  }

  private drain(d: Destination): void {
    this.spool?.drain(d).catch((err: Error) => this.log.error('delete spool replay failed', { server: d.name, err: err.message }));
  }

  /** Install a configuration (the first, or a reload); servers no longer named are closed. */
  configure(config: RouterConfig): void {
    const pools = new Map<string, Pool>();
    const used = new Set<string>();
    for (const [name, spec] of config.pools) {
      const dests = spec.servers.map((s) => {
        const key = `${s.host}:${s.port}`;
        used.add(key);
        let d = this.destinations.get(key);
        if (!d) {
          d = new Destination(s.host, s.port, spec.options, this.clock, this.log);
          this.watch(d);
          this.destinations.set(key, d);
        }
        return d;
      });
      pools.set(name, new Pool(name, new KetamaRing(spec.servers), dests));
    }
    this.root = this.build(config.route, pools);
    for (const [key, d] of this.destinations) {
      if (!used.has(key)) {
        d.close();
        this.destinations.delete(key);
      }
    }
  }

  /** Deliver spooled deletes when a server comes back up or a connection to it opens, and at start. */
  private watch(d: Destination): void {
    const spool = this.spool;
    if (!spool) return;
    const drain = () => this.drain(d);
    d.on('up', drain);
    d.on('connected', () => {
      if (spool.hasPending(d.name)) drain();
    });
    if (spool.hasPending(d.name)) queueMicrotask(drain);
  }

  private build(spec: RouteSpec, pools: Map<string, Pool>): Route {
    switch (spec.type) {
      case 'pool':
        return new PoolRoute(pools.get(spec.pool)!, spec.choice, this.ctx);
      case 'failover':
        return new FailoverRoute(spec.children.map((c) => this.build(c, pools)), spec.exptime, this.clock);
      case 'replicated':
        return new ReplicatedRoute(spec.children.map((c) => this.build(c, pools)), spec.writes, spec.reads);
      case 'warmup':
        return new WarmUpRoute(this.build(spec.cold, pools), this.build(spec.warm, pools), spec.exptime);
      case 'prefix':
        return new PrefixRoute(spec.routes.map(([p, r]) => [p, this.build(r, pools)]), this.build(spec.default, pools));
      case 'shadow':
        return new ShadowRoute(this.build(spec.main, pools), this.build(spec.shadow, pools), spec.fraction, spec.readsOnly);
    }
  }

  route(req: Request, done: Done): void {
    this.root!.route(req, done);
  }

  /** Every server of the current configuration. */
  servers(): Destination[] {
    return [...this.destinations.values()];
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const d of this.destinations.values()) d.close();
    this.destinations.clear();
  }
}
