/**
 * Redis binding after YCSB's: one hash per record (HSET key field value …; HGETALL, or HMGET for
 * chosen fields), and every key in the sorted set `_indices` scored by Java's String.hashCode of
 * the key, which scans walk: ZRANGEBYSCORE _indices hash(startkey) +inf LIMIT 0 n, then one read
 * per key. The table name is ignored, as in YCSB. One connection per client worker (YCSB: one
 * Jedis per thread), so each worker has one command in flight, as with the SQL binding.
 *
 * Differences from YCSB's binding: a read of a missing record is NOT_FOUND (YCSB: ERROR), and a
 * delete removes the key from `_indices` too (YCSB's short-circuit skips the ZREM when DEL succeeds).
 *
 * Properties: redis.host (127.0.0.1), redis.port (6379), redis.password.
 */
import { Redis } from 'ioredis';
import type { DB, DBFactory, Properties, RecordValues, ScanRecord, Status } from '../db.js';
import { javaStringHashCode } from '../generators.js';

export const INDEX_KEY = '_indices';

class RedisDB implements DB {
  private readonly redis: Redis;

  constructor(props: Properties) {
    this.redis = new Redis({
      host: props.get('redis.host') ?? '127.0.0.1',
      port: Number(props.get('redis.port') ?? '6379'),
      password: props.get('redis.password'),
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
  }

  async init(): Promise<void> {
    await this.redis.connect();
  }

  async cleanup(): Promise<void> {
    await this.redis.quit();
  }

  async read(_table: string, key: string, fields: Set<string> | null, result: RecordValues): Promise<Status> {
    if (fields === null) {
      for (const [f, v] of Object.entries(await this.redis.hgetall(key))) result.set(f, v);
    } else {
      const names = [...fields];
      const values = await this.redis.hmget(key, ...names);
      names.forEach((f, i) => {
        const v = values[i];
        if (v !== null) result.set(f, v);
      });
    }
    return result.size === 0 ? 'NOT_FOUND' : 'OK';
  }

  async insert(_table: string, key: string, values: RecordValues): Promise<Status> {
    await this.redis.hset(key, values);
    await this.redis.zadd(INDEX_KEY, javaStringHashCode(key), key);
    return 'OK';
  }

  async delete(_table: string, key: string): Promise<Status> {
    const deleted = await this.redis.del(key);
    const unindexed = await this.redis.zrem(INDEX_KEY, key);
    return deleted === 0 && unindexed === 0 ? 'ERROR' : 'OK';
  }

  async update(_table: string, key: string, values: RecordValues): Promise<Status> {
    await this.redis.hset(key, values);
    return 'OK';
  }

  async scan(table: string, startKey: string, recordCount: number, fields: Set<string> | null, result: ScanRecord[]): Promise<Status> {
    const keys = await this.redis.zrangebyscore(INDEX_KEY, javaStringHashCode(startKey), '+inf', 'LIMIT', 0, recordCount);
    for (const key of keys) {
      const values: RecordValues = new Map();
      await this.read(table, key, fields, values);
      result.push({ key, values });
    }
    return 'OK';
  }
}

export const createDB: DBFactory = (props) => new RedisDB(props);
