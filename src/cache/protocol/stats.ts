import { STAT, STAT_NAMES } from '../store/layout.js';
import type { CacheContext } from '../context.js';
import type { TextSession } from './text.js';

/** The `stats` family, with memcached's names and order (values are Strata's own). */
export function writeStats(s: TextSession): void {
  const t = s.tokens;
  if (t.ntokens === 2) return lines(s, generalStats(s.ctx));
  if (t.is(1, 'reset')) {
    s.store.lock();
    try {
      s.store.resetStats();
    } finally {
      s.store.unlock();
    }
    return s.reply('RESET');
  }
  if (t.is(1, 'detail')) return s.reply('CLIENT_ERROR usage: stats detail on|off|dump');
  if (t.is(1, 'settings')) return lines(s, settingsStats(s.ctx));
  if (t.is(1, 'items')) return lines(s, itemStats(s.ctx));
  if (t.is(1, 'slabs')) return lines(s, slabStats(s.ctx));
  if (t.is(1, 'conns')) return lines(s, []);
  if (t.is(1, 'sizes')) return lines(s, [['sizes_status', 'disabled']]);
  s.reply('ERROR');
}

function lines(s: TextSession, stats: Array<[string, string | number]>): void {
  for (const [k, v] of stats) s.out.ascii(`STAT ${k} ${v}`).crlf();
  s.out.ascii('END').crlf();
}

export function commandStats(ctx: CacheContext): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of STAT_NAMES) out[name] = ctx.store.statTotal(STAT[name]);
  return out;
}

export function generalStats(ctx: CacheContext): Array<[string, string | number]> {
  const store = ctx.store;
  const g = store.globals();
  const c = commandStats(ctx);
  const usage = process.resourceUsage();
  const nowSec = Math.floor(Date.now() / 1000);
  const cmd = (name: keyof typeof c): [string, number] => [name, c[name]];
  return [
    ['pid', ctx.pid],
    ['uptime', nowSec - store.startedUnix - 62],
    ['time', nowSec],
    ['version', ctx.settings.version],
    ['libevent', 'none'],
    ['pointer_size', 64],
    ['rusage_user', (usage.userCPUTime / 1e6).toFixed(6)],
    ['rusage_system', (usage.systemCPUTime / 1e6).toFixed(6)],
    ['max_connections', ctx.settings.maxConnections],
    ['curr_connections', Atomics.load(ctx.connectionCount, 0)],
    cmd('total_connections'),
    cmd('rejected_connections'),
    cmd('cmd_get'), cmd('cmd_set'), cmd('cmd_flush'), cmd('cmd_touch'), cmd('cmd_meta'),
    cmd('get_hits'), cmd('get_misses'), cmd('get_expired'), cmd('get_flushed'),
    cmd('delete_misses'), cmd('delete_hits'), cmd('incr_misses'), cmd('incr_hits'), cmd('decr_misses'),
    cmd('decr_hits'), cmd('cas_misses'), cmd('cas_hits'), cmd('cas_badval'), cmd('touch_hits'),
    cmd('touch_misses'), cmd('store_too_large'), cmd('store_no_memory'),
    ['auth_cmds', 0],
    ['auth_errors', 0],
    cmd('bytes_read'), cmd('bytes_written'),
    ['limit_maxbytes', g.limitBytes],
    ['accepting_conns', 1],
    ['threads', ctx.settings.threads],
    ['hash_power_level', Math.log2(g.hashBuckets)],
    ['hash_bytes', g.hashBuckets * 4],
    ['hash_is_expanding', g.hashExpanding ? 1 : 0],
    ['slabs_moved', g.slabsMoved],
    ['bytes', g.bytes],
    ['curr_items', g.currItems],
    ['total_items', g.totalItems],
    ['expired_unfetched', g.expiredUnfetched],
    ['evicted_unfetched', g.evictedUnfetched],
    ['evicted_active', g.evictedActive],
    ['evictions', g.evictions],
    ['reclaimed', g.reclaimed],
    ['total_malloced', g.pagesUsed * g.pageSize],
  ];
}

function settingsStats(ctx: CacheContext): Array<[string, string | number]> {
  const st = ctx.settings;
  const o = ctx.store.layout.options;
  return [
    ['maxbytes', ctx.store.globals().limitBytes],
    ['maxconns', st.maxConnections],
    ['tcpport', st.port],
    ['udpport', 0],
    ['inter', st.host],
    ['evictions', 'on'],
    ['growth_factor', o.growthFactor.toFixed(2)],
    ['chunk_size', o.minChunk],
    ['num_threads', st.threads],
    ['cas_enabled', 'yes'],
    ['binding_protocol', 'auto-negotiate'],
    ['item_size_max', o.itemSizeMax],
    ['slab_page_size', ctx.store.layout.pageSize],
    ['hash_algorithm', 'murmur3'],
    ['lru_segmented', 'yes'],
    ['hot_lru_pct', 20],
    ['warm_lru_pct', 40],
    ['flush_enabled', 'yes'],
  ];
}

function itemStats(ctx: CacheContext): Array<[string, string | number]> {
  const out: Array<[string, string | number]> = [];
  const store = ctx.store;
  for (let cls = 1; cls < store.layout.classSizes.length; cls++) {
    const c = store.classStats(cls);
    if (c.items === 0) continue;
    out.push([`items:${cls}:number`, c.items], [`items:${cls}:number_hot`, c.hot], [`items:${cls}:number_warm`, c.warm],
      [`items:${cls}:number_cold`, c.cold]);
  }
  return out;
}

function slabStats(ctx: CacheContext): Array<[string, string | number]> {
  const out: Array<[string, string | number]> = [];
  const store = ctx.store;
  let active = 0;
  for (let cls = 1; cls < store.layout.classSizes.length; cls++) {
    const c = store.classStats(cls);
    if (c.pages === 0) continue;
    active++;
    out.push([`${cls}:chunk_size`, c.chunkSize], [`${cls}:chunks_per_page`, c.perPage], [`${cls}:total_pages`, c.pages],
      [`${cls}:total_chunks`, c.pages * c.perPage], [`${cls}:used_chunks`, c.items], [`${cls}:free_chunks`, c.free]);
  }
  const g = store.globals();
  out.push(['active_slabs', active], ['total_malloced', g.pagesUsed * g.pageSize]);
  return out;
}
