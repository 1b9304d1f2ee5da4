import http from 'node:http';
import type { Logger } from '../core/log.js';
import { crc32c } from '../core/crc32c.js';
import { RpcCode, RpcError, rpcCodeName } from '../net/rpc-frame.js';
import { decodeFrame, frames } from '../storage/record.js';
import type { Broker } from './broker.js';
import type { GroupCoordinator } from './group-coordinator.js';
import { DURABILITY, EARLIEST, LATEST, ProduceBatch, decodeProduce, encodeProduce, type ProduceDurability } from './protocol.js';
import type { TopicRequest } from './topic-config.js';

export interface LogHttp {
  port: number;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;
const STATUS: Record<number, number> = {
  [RpcCode.notFound]: 404,
  [RpcCode.invalid]: 400,
  [RpcCode.badRequest]: 400,
  [RpcCode.notLeader]: 421,
  [RpcCode.tryLater]: 503,
  [RpcCode.storage]: 507,
  [RpcCode.timeout]: 504,
};

/**
 * HTTP for browsers and curl (docs/log.md, "HTTP"):
 *   POST /topics                              create a topic (JSON body)
 *   GET  /topics                              topics and partitions (JSON)
 *   POST /topics/:topic/records               publish the body as one record (?lines=1: one per line)
 *   GET  /topics/:topic/events                server-sent events from a partition (or all of them)
 */
export async function startLogHttp(opts: { host: string; port: number; broker: Broker; groups: GroupCoordinator; log: Logger }): Promise<LogHttp> {
  const { broker, log } = opts;
  let roundRobin = 0;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const code = err instanceof RpcError ? err.code : RpcCode.internal;
      if (!(err instanceof RpcError)) log.error('log http request failed', { url: req.url, err: String((err as Error).stack ?? err) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(STATUS[code] ?? 500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: rpcCodeName(code), message: (err as Error).message }) + '\n');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'topics') throw new RpcError(RpcCode.notFound, 'paths: /topics, /topics/:topic/records, /topics/:topic/events');
    if (parts.length === 1 && req.method === 'GET') return json(res, 200, broker.metadata());
    if (parts.length === 1 && req.method === 'POST') {
      const body = await readBody(req);
      let reqBody: TopicRequest;
      try {
        reqBody = JSON.parse(body.toString()) as TopicRequest;
      } catch {
        throw new RpcError(RpcCode.invalid, 'the body must be a JSON object like {"name": "orders", "partitions": 4}');
      }
      return json(res, 201, await broker.createTopic(reqBody));
    }
    if (parts.length === 3 && parts[2] === 'records' && req.method === 'POST') return publish(parts[1], url, req, res);
    if (parts.length === 3 && parts[2] === 'events' && req.method === 'GET') return subscribe(parts[1], url, req, res);
    throw new RpcError(RpcCode.notFound, `no route for ${req.method} ${url.pathname}`);
  }

  async function publish(topic: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    const durability = (url.searchParams.get('durability') ?? 'fsync') as ProduceDurability;
    if (!DURABILITY.includes(durability)) throw new RpcError(RpcCode.invalid, 'durability is none, fsync or replicated');
    const keyParam = url.searchParams.get('key');
    const key = keyParam === null ? null : Buffer.from(keyParam);
    if (!broker.topics.has(topic)) await broker.createTopic({ name: topic });
    const cfg = broker.topicConfig(topic);
    const partitionParam = url.searchParams.get('partition');
    const partition = partitionParam !== null ? Number(partitionParam) : key ? crc32c(key) % cfg.partitions : roundRobin++ % cfg.partitions;
    if (!Number.isInteger(partition) || partition < 0) throw new RpcError(RpcCode.invalid, 'partition must be a non-negative integer');
    const batch = new ProduceBatch();
    if (url.searchParams.get('lines') === '1') {
      for (const line of body.toString('utf8').split('\n')) if (line.length > 0) batch.add(Buffer.from(line), key, 0);
    } else batch.add(body, key, 0);
    if (batch.count === 0) throw new RpcError(RpcCode.invalid, 'no records in the body');
    const base = await broker.produce(decodeProduce(Buffer.concat(encodeProduce(topic, partition, durability, batch))));
    json(res, 200, { topic, partition, offset: base, count: batch.count });
  }

  async function subscribe(topic: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cfg = broker.topicConfig(topic);
    const partitionParam = url.searchParams.get('partition');
    const partitions = partitionParam === null ? [...Array(cfg.partitions).keys()] : [Number(partitionParam)];
    const base64 = url.searchParams.get('encoding') === 'base64';
    // Resume: Last-Event-ID is "partition:offset,partition:offset,..." as sent in each event's id.
    const resume = new Map<number, number>();
    for (const item of String(req.headers['last-event-id'] ?? '').split(',')) {
      const [p, o] = item.split(':').map(Number);
      if (Number.isInteger(p) && Number.isInteger(o)) resume.set(p, o + 1);
    }
    const from = url.searchParams.get('from') ?? 'latest';
    const positions = new Map<number, number>();
    for (const p of partitions) {
      const spec = from === 'earliest' ? EARLIEST : from === 'latest' ? LATEST : Number(from.replace(/^time:/, ''));
      if (!from.startsWith('time:') && from !== 'earliest' && from !== 'latest' && !Number.isInteger(spec)) throw new RpcError(RpcCode.invalid, 'from is earliest, latest, an offset, or time:<ms>');
      const start = resume.get(p) ?? (from === 'earliest' || from === 'latest' || from.startsWith('time:') ? broker.listOffsets(topic, p, spec) : spec);
      positions.set(p, start);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': subscribed\n\n');
    let open = true;
    req.on('close', () => (open = false));
    const ids = () => [...positions].map(([p, o]) => `${p}:${o - 1}`).join(',');
    while (open) {
      let sent = 0;
      for (const p of partitions) {
        const partition = broker.leaderPartition(topic, p);
        const got = await partition.fetch(positions.get(p)!, 256 * 1024, partitions.length === 1 ? 15_000 : 0);
        let out = '';
        for (const f of frames(got.frames)) {
          const r = decodeFrame(got.frames, f.pos, f.size);
          positions.set(p, r.offset + 1);
          const data = r.value === null ? '' : base64 ? r.value.toString('base64') : r.value.toString('utf8');
          out += `id: ${ids()}\nevent: record\ndata: ${data.replace(/\n/g, '\ndata: ')}\n\n`;
          sent++;
        }
        if (got.next > positions.get(p)!) positions.set(p, got.next);
        if (out && open && !res.write(out)) await new Promise((r) => res.once('drain', r));
      }
      if (sent === 0 && open) {
        if (partitions.length > 1) await new Promise((r) => setTimeout(r, 200));
        res.write(': keep-alive\n\n');
      }
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new RpcError(RpcCode.invalid, `body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
