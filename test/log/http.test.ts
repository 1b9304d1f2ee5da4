// The log service's HTTP endpoints: topic creation and listing, publishing (single body, lines,
// keys, partitions, durability), errors, and server-sent-event subscriptions (from positions,
// merged partitions, resume with Last-Event-ID, base64, live records, client disconnects).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { crc32c } from '../../src/core/crc32c.js';
import { logSettings } from './service-helper.js';
import { startLogService, type LogService, type LogSettings } from '../../src/log/service.js';
import { RpcClient } from '../../src/net/rpc-client.js';
import { LogMethod, ProduceBatch, decodeFetchReply, encodeFetch, encodeProduce } from '../../src/log/protocol.js';
import { decodeFrame, frames, type DecodedRecord } from '../../src/storage/record.js';

function settings(dataDir: string, over: Partial<LogSettings> = {}): LogSettings {
  return logSettings(dataDir, { httpPort: 0, nodeId: 'http-test', offsetsPartitions: 1, minInsync: 1, ...over });
}

interface Ctx {
  service: LogService;
  base: string;
  closed: boolean;
  close(): Promise<void>;
}

async function start(t: { after(fn: () => unknown): void }, over: Partial<LogSettings> = {}): Promise<Ctx> {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-log-http-'));
  const service = await startLogService(settings(dir, over), createLogger('silent'), systemClock);
  const ctx: Ctx = {
    service,
    base: `http://127.0.0.1:${service.httpPort}`,
    closed: false,
    async close() {
      if (ctx.closed) return;
      ctx.closed = true;
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t.after(() => ctx.close());
  return ctx;
}

async function req(ctx: Ctx, method: string, p: string, body?: string | Buffer): Promise<{ status: number; json: any; type: string | null }> {
  const res = await fetch(ctx.base + p, { method, body: body as BodyInit | undefined });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  return { status: res.status, json, type: res.headers.get('content-type') };
}

/** Records of a partition, read over RPC. */
async function readPartition(ctx: Ctx, topic: string, partition: number, offset = 0): Promise<DecodedRecord[]> {
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port: ctx.service.port });
  try {
    const reply = decodeFetchReply(await rpc.call(LogMethod.fetch, encodeFetch({ topic, partition, offset, maxBytes: 16 << 20, maxWaitMs: 0 }), 5000));
    return [...frames(reply.frames)].map((f) => decodeFrame(reply.frames, f.pos, f.size));
  } finally {
    rpc.close();
  }
}

// ---- server-sent events ----

interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** An SSE stream read with fetch(), parsed as the EventSource spec says. */
class Sse {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  status = 0;
  private readonly controller = new AbortController();
  private waiters: Array<() => void> = [];
  private buf = '';
  private cur: { id: string | null; event: string; data: string[] } = { id: null, event: 'message', data: [] };
  private lastId: string | null = null;

  static async open(ctx: Ctx, p: string, headers: Record<string, string> = {}): Promise<Sse> {
    const s = new Sse();
    const res = await fetch(ctx.base + p, { headers, signal: s.controller.signal });
    s.status = res.status;
    if (res.status !== 200) {
      s.ended = true;
      s.errorBody = await res.json();
      return s;
    }
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    void s.pump(res.body!);
    await s.until(() => s.comments > 0); // ": subscribed"
    return s;
  }

  errorBody: any = null;

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        this.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch {
      /* aborted */
    }
    this.ended = true;
    this.wake();
  }

  private feed(text: string): void {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A CR at the very end may be the first half of a CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
    this.wake();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.cur.data.length > 0) this.events.push({ id: this.lastId, event: this.cur.event, data: this.cur.data.join('\n') });
      this.cur = { id: null, event: 'message', data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments++;
      return;
    }
    const i = line.indexOf(':');
    const field = i === -1 ? line : line.slice(0, i);
    let value = i === -1 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.cur.data.push(value);
    else if (field === 'event') this.cur.event = value;
    else if (field === 'id') this.lastId = value;
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  async until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.ended) throw new Error('stream ended');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; have ${this.events.length} events`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async take(n: number, timeoutMs = 5000): Promise<SseEvent[]> {
    await this.until(() => this.events.length >= n, timeoutMs);
    return this.events.slice(0, n);
  }

  close(): void {
    this.controller.abort();
  }
}

// ---------------------------------------------------------------------------------------------

test('topics: create, list, and the errors of both', async (t) => {
  const ctx = await start(t);
  const created = await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'orders', partitions: 3 }));
  assert.equal(created.status, 201);
  assert.match(created.type ?? '', /application\/json/);
  assert.equal(created.json.name, 'orders');
  assert.equal(created.json.partitions, 3);
  // Creating it again with the same partitions is fine; with others, refused.
  assert.equal((await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'orders', partitions: 3 }))).status, 201);
  const clash = await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'orders', partitions: 5 }));
  assert.equal(clash.status, 400);
  assert.equal(clash.json.error, 'invalid');
  assert.match(clash.json.message, /exists with 3 partitions/);

  const list = await req(ctx, 'GET', '/topics');
  assert.equal(list.status, 200);
  const orders = list.json.topics.find((x: { name: string }) => x.name === 'orders');
  assert.equal(orders.partitions, 3);
  assert.deepEqual(
    orders.partitionInfo.map((p: { partition: number; leader: string }) => [p.partition, p.leader]),
    [0, 1, 2].map((p) => [p, 'http-test']),
  );
  await t.test('the node advertises its HTTP port in the metadata', async () => {
    assert.equal(list.json.nodes[0].httpPort, ctx.service.httpPort);
  });

  for (const [body, what] of [
    ['not json', /JSON object/],
    ['null', /JSON object/],
    ['[1,2]', /JSON object/],
    ['"orders"', /JSON object/],
    [JSON.stringify({ name: 'bad name!' }), /topic name "bad name!"/],
    [JSON.stringify({ name: '__internal' }), /reserved/],
    [JSON.stringify({ name: 'x', partitions: 0 }), /partitions must be an integer/],
    [JSON.stringify({ partitions: 2 }), /topic name is empty/],
  ] as const) {
    const r = await req(ctx, 'POST', '/topics', body);
    assert.equal(r.status, 400, `${body}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error, 'invalid');
    assert.match(r.json.message, what);
  }
});

test('unknown routes are 404 with a JSON error; malformed paths are 400', async (t) => {
  const ctx = await start(t);
  for (const [method, p] of [
    ['GET', '/'],
    ['GET', '/nope'],
    ['DELETE', '/topics'],
    ['GET', '/topics/orders/whatever'],
    ['PUT', '/topics/orders/records'],
    ['GET', '/topics/a/b/c/d'],
  ]) {
    const r = await req(ctx, method, p);
    assert.equal(r.status, 404, `${method} ${p}`);
    assert.equal(r.json.error, 'notFound');
    assert.match(r.type ?? '', /application\/json/);
  }
  const bad = await req(ctx, 'POST', '/topics/%E0%A4%A/records', 'x');
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /percent-encoding/);
  const unknown = await req(ctx, 'GET', '/topics/nope/events');
  assert.equal(unknown.status, 404);
  assert.match(unknown.json.message, /no topic "nope"/);
});

test('publish: one record per body, lines, keys, partitions, durability', async (t) => {
  const ctx = await start(t);
  await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'pub', partitions: 3 }));

  // A single body, binary-safe.
  const binary = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x0d, 0x80]);
  const one = await req(ctx, 'POST', '/topics/pub/records?partition=1', binary);
  assert.equal(one.status, 200);
  assert.deepEqual(one.json, { topic: 'pub', partition: 1, offset: 0, count: 1 });
  const [rec] = await readPartition(ctx, 'pub', 1);
  assert.deepEqual(rec.value, binary);
  assert.equal(rec.key, null);
  assert.ok(Math.abs(rec.timestamp - Date.now()) < 10_000, 'stamped with the append time');

  // lines=1: one record per non-empty line, consecutive offsets in one partition.
  const lines = await req(ctx, 'POST', '/topics/pub/records?lines=1&partition=2', 'a\nbb\n\nccc\n');
  assert.deepEqual(lines.json, { topic: 'pub', partition: 2, offset: 0, count: 3 });
  assert.deepEqual(
    (await readPartition(ctx, 'pub', 2)).map((r) => r.value!.toString()),
    ['a', 'bb', 'ccc'],
  );
  const empty = await req(ctx, 'POST', '/topics/pub/records?lines=1', '\n\n');
  assert.equal(empty.status, 400);
  assert.match(empty.json.message, /no records/);

  // key=: stored with the record; the partition follows the key's hash.
  const want = crc32c(Buffer.from('user-7')) % 3;
  for (let i = 0; i < 3; i++) {
    const r = await req(ctx, 'POST', '/topics/pub/records?key=user-7', `k${i}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.partition, want);
  }
  const keyed = (await readPartition(ctx, 'pub', want)).filter((r) => r.key !== null);
  assert.deepEqual(
    keyed.map((r) => [r.key!.toString(), r.value!.toString()]),
    [0, 1, 2].map((i) => ['user-7', `k${i}`]),
  );

  // Without key or partition: spread round robin.
  const spread = new Set<number>();
  for (let i = 0; i < 6; i++) spread.add((await req(ctx, 'POST', '/topics/pub/records', `rr${i}`)).json.partition);
  assert.equal(spread.size, 3);

  // Durability: each level acknowledged; a bad one refused.
  for (const d of ['none', 'fsync', 'replicated']) {
    const r = await req(ctx, 'POST', `/topics/pub/records?partition=0&durability=${d}`, d);
    assert.equal(r.status, 200, `${d}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.count, 1);
  }
  const badDurability = await req(ctx, 'POST', '/topics/pub/records?durability=always', 'x');
  assert.equal(badDurability.status, 400);
  assert.match(badDurability.type ?? '', /application\/json/);
  assert.equal(badDurability.json.error, 'invalid');
  assert.match(badDurability.json.message, /durability is none, fsync or replicated/);

  // Bad partitions.
  for (const [p, what] of [
    ['9', /partitions 0\.\.2, not 9/],
    ['3', /not 3/],
    ['-1', /non-negative integer/],
    ['abc', /non-negative integer/],
    ['1.5', /non-negative integer/],
    ['', /non-negative integer/],
  ] as const) {
    const r = await req(ctx, 'POST', `/topics/pub/records?partition=${p}`, 'x');
    assert.equal(r.status, 400, `partition=${p}: ${JSON.stringify(r.json)}`);
    assert.match(r.json.message, what);
  }

  // First publish creates a topic; a bad name is refused.
  const auto = await req(ctx, 'POST', '/topics/fresh.topic/records', 'hello');
  assert.equal(auto.status, 200);
  assert.equal(auto.json.topic, 'fresh.topic');
  const badName = await req(ctx, 'POST', '/topics/bad%20name/records', 'x');
  assert.equal(badName.status, 400);
  assert.match(badName.json.message, /topic name/);
  const internal = await req(ctx, 'POST', '/topics/__group_offsets_x/records', 'x');
  assert.equal(internal.status, 404, 'internal names are not created on publish');
});

test('publish: topics are not created on publish when auto-creation is off', async (t) => {
  const ctx = await start(t, { autoCreateTopics: false });
  const r = await req(ctx, 'POST', '/topics/nope/records', 'x');
  assert.equal(r.status, 404);
  assert.match(r.json.message, /no topic "nope"/);
  assert.equal((await req(ctx, 'GET', '/topics')).json.topics.some((x: { name: string }) => x.name === 'nope'), false);
});

test('publish: a body over 8 MiB is refused with 413 and a JSON error; the server stays usable', async (t) => {
  const ctx = await start(t);
  const big = Buffer.alloc(8 * 1024 * 1024 + 1, 0x61);
  const r = await req(ctx, 'POST', '/topics/big/records', big);
  assert.equal(r.status, 413);
  assert.match(r.json.message, /body larger than 8388608 bytes/);
  // Streamed without a content-length (chunked): refused as well.
  const chunked = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < 9; i++) c.enqueue(new Uint8Array(1024 * 1024));
      c.close();
    },
  });
  const res = await fetch(ctx.base + '/topics/big/records', { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
  assert.equal(res.status, 413);
  await res.text();
  // Exactly 8 MiB is fine.
  const ok = await req(ctx, 'POST', '/topics/big/records', Buffer.alloc(8 * 1024 * 1024, 0x62));
  assert.equal(ok.status, 200);
  const recs = await readPartition(ctx, 'big', 0);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].value!.length, 8 * 1024 * 1024);
});

test('SSE: from earliest, an offset, latest, time; values with line breaks; base64', async (t) => {
  const ctx = await start(t);
  // Records with chosen timestamps, over RPC.
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port: ctx.service.port });
  t.after(() => rpc.close());
  const batch = new ProduceBatch();
  const values = ['zero', 'one\ntwo lines', 'three\r\nwith crlf', 'four\rwith cr', '', 'six'];
  values.forEach((v, i) => batch.add(Buffer.from(v), null, 100_000 + i * 1000));
  await rpc.call(LogMethod.produce, encodeProduce('sse', 0, 'fsync', batch), 5000);
  const expected = values.map((v) => v.replace(/\r\n|\r/g, '\n'));

  const all = await Sse.open(ctx, '/topics/sse/events?from=earliest');
  const got = await all.take(6);
  assert.deepEqual(
    got.map((e) => e.data),
    expected,
  );
  assert.deepEqual(
    got.map((e) => e.id),
    [0, 1, 2, 3, 4, 5].map((o) => `0:${o}`),
  );
  assert.ok(got.every((e) => e.event === 'record'));
  all.close();

  const fromOffset = await Sse.open(ctx, '/topics/sse/events?partition=0&from=4');
  assert.deepEqual(
    (await fromOffset.take(2)).map((e) => e.data),
    expected.slice(4),
  );
  fromOffset.close();

  const fromTime = await Sse.open(ctx, '/topics/sse/events?from=time:103000');
  assert.deepEqual(
    (await fromTime.take(3)).map((e) => e.id),
    ['0:3', '0:4', '0:5'],
  );
  fromTime.close();

  // Latest (the default): only records published after subscribing.
  const latest = await Sse.open(ctx, '/topics/sse/events');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(latest.events.length, 0);
  assert.equal((await req(ctx, 'POST', '/topics/sse/records', 'live one')).status, 200);
  await req(ctx, 'POST', '/topics/sse/records', 'live two');
  assert.deepEqual(
    (await latest.take(2)).map((e) => [e.id, e.data]),
    [
      ['0:6', 'live one'],
      ['0:7', 'live two'],
    ],
  );
  latest.close();

  // base64: any bytes come back exactly.
  const bytes = Buffer.from([0, 0xff, 0x0d, 0x0a, 0x80, 0x7f]);
  await req(ctx, 'POST', '/topics/sse/records', bytes);
  const b64 = await Sse.open(ctx, '/topics/sse/events?from=8&encoding=base64');
  assert.deepEqual(Buffer.from((await b64.take(1))[0].data, 'base64'), bytes);
  b64.close();

  // Bad positions are refused before the stream starts.
  for (const [q, status, what] of [
    ['from=soon', 400, /from is earliest, latest/],
    ['from=time:abc', 400, /from is/],
    ['from=-3', 400, /from is/],
    ['from=1000', 400, /offset 1000 is past the end of sse\/0/],
    ['partition=7', 400, /partitions 0\.\.0, not 7/],
    ['partition=x', 400, /non-negative integer/],
  ] as const) {
    const s = await Sse.open(ctx, `/topics/sse/events?${q}`);
    assert.equal(s.status, status, q);
    assert.match(s.errorBody.message, what);
  }
});

test('SSE: all partitions merged; resume with Last-Event-ID misses nothing and repeats nothing', async (t) => {
  const ctx = await start(t);
  await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'm', partitions: 3 }));
  const publish = async (from: number, to: number) => {
    for (let i = from; i < to; i++) assert.equal((await req(ctx, 'POST', `/topics/m/records?key=k${i}`, `v${i}`)).status, 200);
  };
  await publish(0, 30);
  const first = await Sse.open(ctx, '/topics/m/events?from=earliest');
  const got1 = await first.take(30);
  assert.deepEqual(
    got1.map((e) => Number(e.data.slice(1))).sort((a, b) => a - b),
    [...Array(30).keys()],
  );
  // Each id names every partition's position; per partition the offsets count up by one.
  const perPartition = new Map<number, number>();
  for (const e of got1) {
    const pos = new Map(e.id!.split(',').map((x) => x.split(':').map(Number) as [number, number]));
    assert.deepEqual([...pos.keys()].sort(), [0, 1, 2]);
    for (const [p, o] of pos) {
      const before = perPartition.get(p) ?? -1;
      assert.ok(o === before || o === before + 1, `partition ${p} goes ${before} → ${o}`);
      perPartition.set(p, o);
    }
  }
  // Take 10 more of the live ones, disconnect in the middle of a burst, publish more, resume.
  const more = publish(30, 60);
  await first.take(40);
  first.close();
  const lastId = first.events[first.events.length - 1].id!;
  const seen = first.events.map((e) => e.data);
  await more;
  await publish(60, 70);
  const resumed = await Sse.open(ctx, '/topics/m/events?from=latest', { 'last-event-id': lastId });
  await resumed.take(70 - seen.length);
  await new Promise((r) => setTimeout(r, 300));
  const all = [...seen, ...resumed.events.map((e) => e.data)];
  assert.equal(all.length, 70, 'no duplicates');
  assert.deepEqual(
    all.map((d) => Number(d.slice(1))).sort((a, b) => a - b),
    [...Array(70).keys()],
  );
  resumed.close();

  // Resume on one partition, with the id of its own stream.
  const one = await Sse.open(ctx, '/topics/m/events?partition=1&from=earliest');
  const p1 = (await readPartition(ctx, 'm', 1)).length;
  await one.take(p1);
  const mid = one.events[Math.floor(p1 / 2)];
  one.close();
  const again = await Sse.open(ctx, '/topics/m/events?partition=1&from=earliest', { 'last-event-id': mid.id! });
  await again.take(p1 - Math.floor(p1 / 2) - 1);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(
    again.events.map((e) => e.data),
    one.events.slice(Math.floor(p1 / 2) + 1).map((e) => e.data),
  );
  again.close();
});

test('SSE: disconnected clients free the server; publishing still works and the server closes promptly', async (t) => {
  const ctx = await start(t);
  await req(ctx, 'POST', '/topics', JSON.stringify({ name: 'd', partitions: 2 }));
  await req(ctx, 'POST', '/topics/d/records?partition=0', 'seed');
  const partition0 = ctx.service.broker.partitions.get('d/0')!;
  const readers = () => (partition0 as unknown as { readers: Set<unknown> }).readers.size;
  // 20 subscribers: 10 on partition 0 (long-polling), 10 on all partitions (merged).
  const clients: Sse[] = [];
  for (let i = 0; i < 20; i++) clients.push(await Sse.open(ctx, i < 10 ? '/topics/d/events?partition=0' : '/topics/d/events'));
  await req(ctx, 'POST', '/topics/d/records?partition=0', 'to all');
  for (const c of clients) assert.equal((await c.take(1))[0].data, 'to all');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(readers(), 10, 'the 10 single-partition streams wait on partition 0');
  for (const c of clients) c.close();
  await new Promise((r) => setTimeout(r, 300));
  // A publish wakes whatever still waited; nothing waits again for a gone client.
  const r = await req(ctx, 'POST', '/topics/d/records?partition=0', 'after');
  assert.equal(r.status, 200);
  await new Promise((r2) => setTimeout(r2, 300));
  assert.equal(readers(), 0, 'no stream loop left waiting for closed clients');
  // A new subscriber still works.
  const fresh = await Sse.open(ctx, '/topics/d/events?partition=0&from=earliest');
  assert.deepEqual(
    (await fresh.take(3)).map((e) => e.data),
    ['seed', 'to all', 'after'],
  );
  // Closing the service with a subscriber still connected is prompt.
  const t0 = Date.now();
  await ctx.close();
  assert.ok(Date.now() - t0 < 2000, `closed in ${Date.now() - t0} ms`);
  await fresh.until(() => fresh.ended, 2000).catch(() => {});
  assert.equal(fresh.ended, true, 'the open stream ends when the server closes');
});
