import http from 'node:http';
import { listenHttp, type ListeningHttp } from '../net/http-listen.js';
import { httpStatusOf, readBody, sendJson as json } from '../net/http-util.js';
import type { Logger } from '../core/log.js';
import { crc32c } from '../core/crc32c.js';
import { RpcCode, RpcError, rpcCodeName } from '../net/rpc-frame.js';
import { decodeFrame, frames } from '../storage/record.js';
import type { Broker } from './broker.js';
import type { GroupCoordinator } from './group-coordinator.js';
import { DURABILITY, EARLIEST, LATEST, ProduceBatch, batchRequest, type ProduceDurability } from './protocol.js';
import type { TopicRequest } from './topic-config.js';

export type LogHttp = ListeningHttp;

const MAX_BODY = 8 * 1024 * 1024;
/** Comment lines keep an idle event stream (and proxies in front of it) from timing out. */
const KEEP_ALIVE_MS = 15_000;

/**
 * HTTP for browsers and curl (docs/log.md, "HTTP"):
 *   POST /topics                              create a topic (JSON body)
 *   GET  /topics                              topics and partitions (JSON)
 *   POST /topics/:topic/records               publish the body as one record (?lines=1: one per line)
 *   GET  /topics/:topic/events                server-sent events from a partition (or all of them)
 */
export async function startLogHttp(opts: {
  host: string;
  port: number;
  /** Filled in once the broker is up (the server listens before, to advertise its port). */
  deps: { broker: Broker | null; groups: GroupCoordinator | null };
  log: Logger;
}): Promise<LogHttp> {
  const { log } = opts;
  let broker!: Broker;
  let roundRobin = 0;
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const code = err instanceof RpcError ? err.code : RpcCode.internal;
      if (!(err instanceof RpcError)) log.error('log http request failed', { url: req.url, err: String((err as Error).stack ?? err) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = httpStatusOf(err);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: rpcCodeName(code), message: (err as Error).message }) + '\n');
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!opts.deps.broker) throw new RpcError(RpcCode.tryLater, 'the log service is starting');
    broker = opts.deps.broker;
    const url = new URL(req.url ?? '/', 'http://localhost');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new RpcError(RpcCode.invalid, `malformed percent-encoding in ${url.pathname}`);
    }
    if (parts[0] !== 'topics') throw new RpcError(RpcCode.notFound, 'paths: /topics, /topics/:topic/records, /topics/:topic/events');
    if (parts.length === 1 && req.method === 'GET') return json(res, 200, broker.metadata());
    if (parts.length === 1 && req.method === 'POST') {
      const body = await readBody(req, MAX_BODY);
      let reqBody: TopicRequest | null = null;
      try {
        reqBody = JSON.parse(body.toString()) as TopicRequest;
      } catch {
        /* answered below */
      }
      if (typeof reqBody !== 'object' || reqBody === null || Array.isArray(reqBody)) {
        throw new RpcError(RpcCode.invalid, 'the body must be a JSON object like {"name": "orders", "partitions": 4}');
      }
      return json(res, 201, await broker.createTopic(reqBody));
    }
    if (parts.length === 3 && parts[2] === 'records' && req.method === 'POST') return publish(parts[1], url, req, res);
    if (parts.length === 3 && parts[2] === 'events' && req.method === 'GET') return subscribe(parts[1], url, req, res);
    throw new RpcError(RpcCode.notFound, `no route for ${req.method} ${url.pathname}`);
  }

  async function publish(topic: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req, MAX_BODY);
    const durability = (url.searchParams.get('durability') ?? 'fsync') as ProduceDurability;
    if (!DURABILITY.includes(durability)) throw new RpcError(RpcCode.invalid, 'durability is none, fsync or replicated');
    const keyParam = url.searchParams.get('key');
    const key = keyParam === null ? null : Buffer.from(keyParam);
    // Created on first publish only where the broker would (its setting; never "__" names).
    if (!broker.topics.has(topic) && broker.opts.autoCreateTopics && !topic.startsWith('__')) await broker.createTopic({ name: topic });
    const cfg = broker.topicConfig(topic);
    const partitionParam = url.searchParams.get('partition');
    const partition = partitionParam !== null ? parsePartition(partitionParam, cfg.partitions, topic) : key ? crc32c(key) % cfg.partitions : roundRobin++ % cfg.partitions;
    const batch = new ProduceBatch();
    if (url.searchParams.get('lines') === '1') {
      for (const line of body.toString('utf8').split(/\r?\n/)) if (line.length > 0) batch.add(Buffer.from(line), key, 0);
    } else batch.add(body, key, 0);
    if (batch.count === 0) throw new RpcError(RpcCode.invalid, 'no records in the body');
    const base = await broker.produce(batchRequest(topic, partition, durability, batch));
    json(res, 200, { topic, partition, offset: base, count: batch.count });
  }

  async function subscribe(topic: string, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cfg = broker.topicConfig(topic);
    const partitionParam = url.searchParams.get('partition');
    const partitions = partitionParam === null ? [...Array(cfg.partitions).keys()] : [parsePartition(partitionParam, cfg.partitions, topic)];
    const base64 = url.searchParams.get('encoding') === 'base64';
    // Resume: Last-Event-ID is "partition:offset,partition:offset,..." as sent in each event's id.
    const resume = new Map<number, number>();
    for (const item of String(req.headers['last-event-id'] ?? '').split(',')) {
      const [p, o] = item.split(':').map((v) => (/^-?\d+$/.test(v?.trim() ?? '') ? Number(v) : NaN));
      if (Number.isSafeInteger(p) && Number.isSafeInteger(o) && o >= -1) resume.set(p, o + 1);
    }
    const from = url.searchParams.get('from') ?? 'latest';
    let spec: number | null;
    if (from === 'earliest') spec = EARLIEST;
    else if (from === 'latest') spec = LATEST;
    else if (/^time:\d{1,16}$/.test(from)) spec = Number(from.slice(5));
    else if (/^\d{1,16}$/.test(from)) spec = null;
    else throw new RpcError(RpcCode.invalid, 'from is earliest, latest, an offset, or time:<ms>');
    const positions = new Map<number, number>();
    for (const p of partitions) {
      const start = resume.get(p) ?? (spec === null ? Number(from) : broker.listOffsets(topic, p, spec));
      const end = broker.leaderPartition(topic, p).endOffset;
      if (start > end) throw new RpcError(RpcCode.invalid, `offset ${start} is past the end of ${topic}/${p} (${end})`);
      positions.set(p, start);
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': subscribed\n\n');
    // The response closes when the client goes away (the request's own 'close' comes as soon as
    // its empty body has been read, so it cannot tell).
    let open = true;
    let onGone: () => void = () => {};
    const gone = new Promise<void>((resolve) => (onGone = resolve));
    res.once('close', () => {
      open = false;
      onGone();
    });
    const ids = () => [...positions].map(([p, o]) => `${p}:${o - 1}`).join(',');
    let lastWrite = Date.now();
    const write = async (text: string) => {
      lastWrite = Date.now();
      if (!res.write(text)) await Promise.race([new Promise((r) => res.once('drain', r)), gone]);
    };
    while (open) {
      let sent = 0;
      for (const p of partitions) {
        if (!open) break;
        const partition = broker.leaderPartition(topic, p);
        const wait = partitions.length === 1 ? KEEP_ALIVE_MS : 0;
        const got = await Promise.race([partition.fetch(positions.get(p)!, 256 * 1024, wait), gone.then(() => null)]);
        if (!got || !open) break;
        let out = '';
        for (const f of frames(got.frames)) {
          const r = decodeFrame(got.frames, f.pos, f.size);
          positions.set(p, r.offset + 1);
          const data = r.value === null ? '' : base64 ? r.value.toString('base64') : r.value.toString('utf8');
          // A line break of any kind (CR, LF, CRLF) ends an SSE line: each becomes a new data line.
          out += `id: ${ids()}\nevent: record\ndata: ${data.replace(/\r\n|\r|\n/g, '\ndata: ')}\n\n`;
          sent++;
        }
        if (got.next > positions.get(p)!) positions.set(p, got.next);
        if (out) await write(out);
      }
      if (sent === 0 && open) {
        if (partitions.length > 1) await Promise.race([new Promise((r) => setTimeout(r, 200)), gone]);
        if (open && Date.now() - lastWrite >= KEEP_ALIVE_MS) await write(': keep-alive\n\n');
      }
    }
  }

  return listenHttp(server, opts.host, opts.port);
}

function parsePartition(param: string, partitions: number, topic: string): number {
  const p = /^\d{1,10}$/.test(param) ? Number(param) : NaN;
  if (!Number.isInteger(p)) throw new RpcError(RpcCode.invalid, `partition must be a non-negative integer, got ${JSON.stringify(param)}`);
  if (p >= partitions) throw new RpcError(RpcCode.invalid, `topic ${topic} has partitions 0..${partitions - 1}, not ${p}`);
  return p;
}
