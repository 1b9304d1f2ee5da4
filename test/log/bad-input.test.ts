// The log service's RPC port against bad input: garbage bytes, broken framing, malformed payloads
// for every method, fuzzed decoders, and clients that try to make the server hold memory.
// Rules checked: a malformed request gets an error reply (the connection closed when the bytes
// cannot be decoded, kept when only the arguments are wrong), the process never crashes, memory
// stays bounded, and the server keeps serving well-behaved clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { createLogger } from '../../src/core/log.js';
import { systemClock } from '../../src/core/clock.js';
import { BufferWriter, DecodeError } from '../../src/core/bytes.js';
import { logSettings } from './service-helper.js';
import { startLogService, type LogService, type LogSettings } from '../../src/log/service.js';
import { RpcClient } from '../../src/net/rpc-client.js';
import { FrameDecoder, FrameError, FrameKind, RpcCode, RpcError, decodeErrorPayload, frameHeader, type Frame } from '../../src/net/rpc-frame.js';
import {
  LogMethod,
  ProduceBatch,
  decodeChunks,
  decodeFetch,
  decodeFetchReply,
  decodeGroupFetch,
  decodeJson,
  decodeListOffsets,
  decodeOffsetLists,
  decodeProduce,
  decodeProduceReply,
  decodeReplicaFetch,
  encodeChunks,
  encodeFetch,
  encodeGroupFetch,
  encodeListOffsets,
  encodeOffsetLists,
  encodeProduce,
  encodeReplicaFetch,
  EARLIEST,
} from '../../src/log/protocol.js';
import { decodeFrame, frames } from '../../src/storage/record.js';

// ---------------------------------------------------------------------------------------------
// helpers

function settings(dataDir: string, over: Partial<LogSettings> = {}): LogSettings {
  return logSettings(dataDir, { nodeId: 'bad-input', offsetsPartitions: 1, minInsync: 1, ...over });
}

async function startService(t: { after(fn: () => unknown): void }, over: Partial<LogSettings> = {}): Promise<LogService> {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-bad-input-'));
  const service = await startLogService(settings(dir, over), createLogger('silent'), systemClock);
  t.after(async () => {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return service;
}

/** A raw connection: write bytes, read the server's frames, see when it closes. */
class Raw {
  readonly frames: Frame[] = [];
  closed = false;
  readonly closedPromise: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private waiters: Array<() => void> = [];
  badStream: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (f) => this.frames.push(f));
      } catch (err) {
        this.badStream = err as Error;
      }
      this.wake();
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
      s.once('connect', () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** Wait until `n` frames arrived (or the connection closed, or the timeout passed). */
  async waitFrames(n: number, timeoutMs = 3000): Promise<Frame[]> {
    const until = Date.now() + timeoutMs;
    while (this.frames.length < n && !this.closed && Date.now() < until) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, until - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames;
  }

  /** Resolves true if the server closed the connection within the timeout. */
  async waitClosed(timeoutMs = 3000): Promise<boolean> {
    if (this.closed) return true;
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)))]);
    clearTimeout(timer);
    return closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function request(method: number, id: number, payload: Buffer | Buffer[]): Buffer {
  const parts = Array.isArray(payload) ? payload : [payload];
  const body = Buffer.concat(parts);
  return Buffer.concat([frameHeader(FrameKind.request, method, id, body.length), body]);
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** The server's error reply: kind 2, code and message decoded. */
function errorOf(f: Frame | undefined): RpcError {
  assert.ok(f, 'expected an error reply, got nothing');
  assert.equal(f.kind, FrameKind.error, `expected an error frame, got kind ${f.kind} (payload ${f.payload.toString('hex').slice(0, 80)})`);
  return decodeErrorPayload(f.payload);
}

/** A well-behaved client still produces and fetches correctly. */
async function assertServes(port: number, topic = 'health'): Promise<void> {
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
  try {
    const batch = new ProduceBatch();
    const values = Array.from({ length: 5 }, (_, i) => Buffer.from(`${topic}-${i}-${Math.random()}`));
    for (const v of values) batch.add(v, null, 0);
    const base = decodeProduceReply(await rpc.call(LogMethod.produce, encodeProduce(topic, 0, 'fsync', batch), 5000));
    const reply = decodeFetchReply(await rpc.call(LogMethod.fetch, encodeFetch({ topic, partition: 0, offset: base, maxBytes: 1 << 20, maxWaitMs: 0 }), 5000));
    const got = [...frames(reply.frames)].map((f) => decodeFrame(reply.frames, f.pos, f.size));
    assert.deepEqual(
      got.map((r) => r.offset),
      values.map((_, i) => base + i),
    );
    assert.deepEqual(
      got.map((r) => r.value!.toString()),
      values.map((v) => v.toString()),
    );
  } finally {
    rpc.close();
  }
}

// ---------------------------------------------------------------------------------------------
// garbage and broken framing

test('garbage and broken frames get a badFrame error and a close; the server keeps serving', async (t) => {
  const service = await startService(t);
  const port = service.port;
  await assertServes(port);
  const header = (length: number, kind = 0, flags = 0, method = LogMethod.metadata, id = 1) => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(length, 0);
    b[4] = kind;
    b[5] = flags;
    b.writeUInt16LE(method, 6);
    b.writeUInt32LE(id, 8);
    return b;
  };
  const cases: Array<[string, Buffer, RegExp]> = [
    ['HTTP request line on the RPC port', Buffer.from('GET /topics HTTP/1.1\r\nHost: localhost\r\n\r\n'), /frame length \d+ outside/],
    ['length 0', header(0), /frame length 0 outside/],
    ['length 3', Buffer.concat([header(3), Buffer.alloc(8)]), /frame length 3 outside/],
    ['length 2^31', header(2 ** 31), /frame length 2147483648 outside/],
    ['length 2^32-1', header(0xffffffff), /frame length 4294967295 outside/],
    ['unknown kind 7', header(8, 7), /bad frame kind 7/],
    ['nonzero flags', header(8, 0, 0x80), /flags 128/],
    ['a reply frame from the client', header(8, FrameKind.reply), /expected a request frame, got kind 1/],
    ['an error frame from the client', Buffer.concat([header(12, FrameKind.error), Buffer.from([1, 0, 0, 0])]), /expected a request frame, got kind 2/],
    ['an event frame from the client', header(8, FrameKind.event), /expected a request frame, got kind 3/],
    ['a good request followed by garbage', Buffer.concat([request(LogMethod.metadata, 9, Buffer.alloc(0)), Buffer.from('\x00\x00\x00\x00garbage')]), /frame length 0 outside/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.test(name, async () => {
      const raw = await Raw.connect(port);
      try {
        raw.write(bytes);
        await raw.waitClosed();
        const errors = raw.frames.filter((f) => f.kind === FrameKind.error);
        assert.equal(errors.length, 1, `one error reply (${raw.frames.length} frames)`);
        const err = errorOf(errors[0]);
        assert.equal(err.code, RpcCode.badFrame, err.message);
        assert.match(err.message, message);
        assert.equal(raw.closed, true, 'connection closed');
        assert.equal(raw.badStream, null, 'the server\'s bytes are well-framed');
      } finally {
        raw.destroy();
      }
    });
  }

  await t.test('an undecodable request followed by garbage in the same read: exactly one error reply', async () => {
    const raw = await Raw.connect(port);
    try {
      raw.write(Buffer.concat([request(LogMethod.produce, 5, Buffer.from([1])), Buffer.alloc(8)]));
      await raw.waitClosed();
      assert.equal(raw.frames.length, 1, `one error reply, got ${raw.frames.map((f) => decodeErrorPayload(f.payload).message).join(' | ')}`);
    } finally {
      raw.destroy();
    }
  });

  await t.test('a truncated frame, then the client closes: the server lets it go', async () => {
    for (const cut of [1, 4, 11, 12, 20]) {
      const raw = await Raw.connect(port);
      const full = request(LogMethod.fetch, 3, encodeFetch({ topic: 'health', partition: 0, offset: 0, maxBytes: 100, maxWaitMs: 0 }));
      raw.write(full.subarray(0, cut));
      raw.socket.end();
      assert.equal(await raw.waitClosed(), true, 'the server closes its side after the client\'s FIN');
      assert.equal(raw.frames.length, 0, 'no reply to an incomplete frame');
    }
  });

  await t.test('random garbage (fast-check): error replies only, closes, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
        const raw = await Raw.connect(port);
        try {
          raw.write(Buffer.from(bytes));
          raw.socket.end();
          assert.equal(await raw.waitClosed(5000), true, 'connection ends');
          assert.equal(raw.badStream, null, 'the server\'s bytes are well-framed');
          for (const f of raw.frames) {
            assert.ok(f.kind === FrameKind.reply || f.kind === FrameKind.error, `kind ${f.kind}`);
            if (f.kind === FrameKind.error) {
              const err = decodeErrorPayload(f.payload);
              assert.ok(err.code !== RpcCode.internal, `no internal errors: ${err.message}`);
            }
          }
          // The usual case: a length outside the limits, answered with badFrame.
          const length = bytes.length >= 4 ? Buffer.from(bytes).readUInt32LE(0) : -1;
          if (length >= 0 && (length < 8 || length > 64 * 1024 * 1024 - 4)) {
            assert.equal(raw.frames.length, 1);
            assert.equal(errorOf(raw.frames[0]).code, RpcCode.badFrame);
          }
        } finally {
          raw.destroy();
        }
      }),
      { numRuns: 150, seed: 4242 },
    );
  });

  await assertServes(port, 'after-garbage');
});

// ---------------------------------------------------------------------------------------------
// malformed payloads, method by method

interface PayloadCase {
  name: string;
  method: number;
  payload: Buffer | Buffer[];
  /** The expected error code; close: whether the server closes the connection after it. */
  code: number;
  close: boolean;
  message: RegExp;
}

function produceHead(topic: string, partition: number, durability: number, count: number): Buffer {
  return new BufferWriter(64).str(topic).u32(partition).u8(durability).u32(count).view();
}

function record(value: string, key: Buffer | null = null): Buffer {
  return new BufferWriter(64).u64(0).bytes(key).bytes(Buffer.from(value)).view();
}

test('malformed payloads for every method: the protocol\'s error reply, closing only when undecodable', async (t) => {
  const service = await startService(t, { autoCreateTopics: false });
  const port = service.port;
  // A topic to aim at, and a group to address.
  {
    const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
    await rpc.call(LogMethod.createTopic, json({ name: 'known', partitions: 2 }), 5000);
    const batch = new ProduceBatch();
    for (let i = 0; i < 3; i++) batch.add(Buffer.from(`r${i}`), null, 0);
    await rpc.call(LogMethod.produce, encodeProduce('known', 0, 'fsync', batch), 5000);
    rpc.close();
  }
  const validFetch = encodeFetch({ topic: 'known', partition: 0, offset: 0, maxBytes: 1000, maxWaitMs: 0 });
  const validProduce = Buffer.concat([produceHead('known', 0, 0, 1), record('x')]);
  const validList = encodeListOffsets('known', 0, EARLIEST);
  const validGroupFetch = encodeGroupFetch({ group: 'g', member: 'm', maxRecords: 1, maxBytes: 100, maxWaitMs: 0 });
  const validOffsets = encodeOffsetLists('g', 'm', [{ topic: 'known', partition: 0, offsets: [0, 1] }]);
  const validReplicaFetch = encodeReplicaFetch({ topic: 'known', partition: 0, follower: 'x', epoch: 0, offset: 0, maxBytes: 1, maxWaitMs: 0 });
  const u64Max = (w: BufferWriter) => w.u32(0xffffffff).u32(0xffffffff);

  const BAD = RpcCode.badRequest;
  const cases: PayloadCase[] = [
    // metadata (JSON, optional)
    { name: 'metadata: JSON that is not an object', method: LogMethod.metadata, payload: json([1, 2]), code: BAD, close: true, message: /metadata request: not a JSON object/ },
    { name: 'metadata: cut-short JSON', method: LogMethod.metadata, payload: Buffer.from('{"topics": ["a"'), code: BAD, close: true, message: /metadata request: not a JSON object/ },
    { name: 'metadata: bytes that are not UTF-8', method: LogMethod.metadata, payload: Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), code: BAD, close: true, message: /not a JSON object/ },
    { name: 'metadata: JSON null', method: LogMethod.metadata, payload: Buffer.from('null'), code: BAD, close: true, message: /not a JSON object/ },

    // createTopic (JSON)
    { name: 'createTopic: not JSON', method: LogMethod.createTopic, payload: Buffer.from('name=x'), code: BAD, close: true, message: /create topic request: not a JSON object/ },
    { name: 'createTopic: a JSON string', method: LogMethod.createTopic, payload: json('orders'), code: BAD, close: true, message: /create topic request: not a JSON object/ },
    { name: 'createTopic: invalid UTF-8 inside the name', method: LogMethod.createTopic, payload: Buffer.concat([Buffer.from('{"name":"a'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), code: BAD, close: true, message: /not valid for encoding utf-8/ },
    { name: 'createTopic: name not a string', method: LogMethod.createTopic, payload: json({ name: 5 }), code: RpcCode.invalid, close: false, message: /topic name/ },
    { name: 'createTopic: bad topic name', method: LogMethod.createTopic, payload: json({ name: 'bad name!' }), code: RpcCode.invalid, close: false, message: /topic name "bad name!"/ },
    { name: 'createTopic: reserved name', method: LogMethod.createTopic, payload: json({ name: '__x' }), code: RpcCode.invalid, close: false, message: /reserved/ },
    { name: 'createTopic: 0 partitions', method: LogMethod.createTopic, payload: json({ name: 'p0', partitions: 0 }), code: RpcCode.invalid, close: false, message: /partitions must be an integer in 1\.\.1024, got 0/ },
    { name: 'createTopic: partitions a string', method: LogMethod.createTopic, payload: json({ name: 'p0', partitions: '4' }), code: RpcCode.invalid, close: false, message: /partitions must be an integer/ },
    { name: 'createTopic: compact not a boolean', method: LogMethod.createTopic, payload: json({ name: 'p0', compact: 'yes' }), code: RpcCode.invalid, close: false, message: /compact must be true or false/ },
    { name: 'createTopic: existing topic, other partition count', method: LogMethod.createTopic, payload: json({ name: 'known', partitions: 3 }), code: RpcCode.invalid, close: false, message: /exists with 2 partitions/ },

    // deleteTopic (JSON)
    { name: 'deleteTopic: not an object', method: LogMethod.deleteTopic, payload: json(['known']), code: BAD, close: true, message: /delete topic request: not a JSON object/ },
    { name: 'deleteTopic: unknown topic', method: LogMethod.deleteTopic, payload: json({ name: 'nope' }), code: RpcCode.notFound, close: false, message: /no topic "nope"/ },

    // produce (binary)
    { name: 'produce: empty payload', method: LogMethod.produce, payload: Buffer.alloc(0), code: BAD, close: true, message: /cut short reading topic/ },
    { name: 'produce: cut short in the header', method: LogMethod.produce, payload: validProduce.subarray(0, 8), code: BAD, close: true, message: /cut short reading (partition|durability)/ },
    { name: 'produce: cut short in a record', method: LogMethod.produce, payload: validProduce.subarray(0, validProduce.length - 1), code: BAD, close: true, message: /cut short reading value/ },
    { name: 'produce: trailing bytes', method: LogMethod.produce, payload: Buffer.concat([validProduce, Buffer.from([1, 2, 3])]), code: BAD, close: true, message: /3 unexpected bytes after records/ },
    { name: 'produce: record count larger than the payload', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 0, 1000), record('x')]), code: BAD, close: true, message: /cut short reading timestamp/ },
    { name: 'produce: record count 2^32-1', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 0, 0xffffffff), record('x')]), code: BAD, close: true, message: /cut short/ },
    { name: 'produce: zero records', method: LogMethod.produce, payload: produceHead('known', 0, 0, 0), code: BAD, close: true, message: /at least one record/ },
    { name: 'produce: key length larger than the payload', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 0, 1), new BufferWriter(16).u64(0).u32(1_000_000).view(), Buffer.from('k')]), code: BAD, close: true, message: /cut short reading key/ },
    { name: 'produce: value length larger than the payload', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 0, 1), new BufferWriter(16).u64(0).u32(0xffffffff).u32(0xfffffffe).view(), Buffer.from('v')]), code: BAD, close: true, message: /cut short reading value/ },
    { name: 'produce: timestamp above 2^53', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 0, 1), u64Max(new BufferWriter(16)).u32(0xffffffff).u32(1).view(), Buffer.from('v')]), code: BAD, close: true, message: /timestamp above 2\^53/ },
    { name: 'produce: durability 3', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 3, 1), record('x')]), code: BAD, close: true, message: /durability 3 is not 0 \(none\), 1 \(fsync\) or 2 \(replicated\)/ },
    { name: 'produce: durability 255', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0, 255, 1), record('x')]), code: BAD, close: true, message: /durability 255/ },
    { name: 'produce: topic string length past the payload', method: LogMethod.produce, payload: Buffer.from([0xff, 0xff, 0x61]), code: BAD, close: true, message: /cut short reading topic/ },
    { name: 'produce: unknown topic', method: LogMethod.produce, payload: Buffer.concat([produceHead('nope', 0, 1, 1), record('x')]), code: RpcCode.notFound, close: false, message: /no topic "nope"/ },
    { name: 'produce: partition out of range', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 2, 1, 1), record('x')]), code: RpcCode.invalid, close: false, message: /partitions 0\.\.1, not 2/ },
    { name: 'produce: partition 2^32-1', method: LogMethod.produce, payload: Buffer.concat([produceHead('known', 0xffffffff, 1, 1), record('x')]), code: RpcCode.invalid, close: false, message: /not 4294967295/ },

    // fetch (binary)
    { name: 'fetch: cut short', method: LogMethod.fetch, payload: validFetch.subarray(0, validFetch.length - 2), code: BAD, close: true, message: /cut short reading max wait/ },
    { name: 'fetch: trailing bytes', method: LogMethod.fetch, payload: Buffer.concat([validFetch, Buffer.alloc(2)]), code: BAD, close: true, message: /1 unexpected bytes after fetch request/ },
    { name: 'fetch: unknown flags', method: LogMethod.fetch, payload: Buffer.concat([validFetch, Buffer.from([0x80])]), code: BAD, close: true, message: /unknown fetch flags 128/ },
    { name: 'fetch: offset above 2^53', method: LogMethod.fetch, payload: u64Max(new BufferWriter(64).str('known').u32(0)).u32(10).u32(0).view(), code: BAD, close: true, message: /offset above 2\^53/ },
    { name: 'fetch: unknown topic', method: LogMethod.fetch, payload: encodeFetch({ topic: 'nope', partition: 0, offset: 0, maxBytes: 10, maxWaitMs: 0 }), code: RpcCode.notFound, close: false, message: /no topic "nope"/ },
    { name: 'fetch: partition out of range', method: LogMethod.fetch, payload: encodeFetch({ topic: 'known', partition: 7, offset: 0, maxBytes: 10, maxWaitMs: 0 }), code: RpcCode.invalid, close: false, message: /partitions 0\.\.1, not 7/ },
    { name: 'fetch: offset past the end', method: LogMethod.fetch, payload: encodeFetch({ topic: 'known', partition: 0, offset: 1000, maxBytes: 10, maxWaitMs: 0 }), code: RpcCode.invalid, close: false, message: /offset 1000 is past the end of known\/0 \(3\)/ },
    { name: 'fetch: bad topic name', method: LogMethod.fetch, payload: encodeFetch({ topic: 'no such/../topic', partition: 0, offset: 0, maxBytes: 10, maxWaitMs: 0 }), code: RpcCode.notFound, close: false, message: /no topic/ },

    // listOffsets (binary)
    { name: 'listOffsets: cut short', method: LogMethod.listOffsets, payload: validList.subarray(0, 5), code: BAD, close: true, message: /cut short reading (topic|partition)/ },
    { name: 'listOffsets: trailing bytes', method: LogMethod.listOffsets, payload: Buffer.concat([validList, Buffer.alloc(4)]), code: BAD, close: true, message: /4 unexpected bytes after list offsets request/ },
    { name: 'listOffsets: spec out of range', method: LogMethod.listOffsets, payload: new BufferWriter(32).str('known').u32(0).u32(0).u32(0x80000000).view(), code: BAD, close: true, message: /spec out of range/ },
    { name: 'listOffsets: negative spec', method: LogMethod.listOffsets, payload: encodeListOffsets('known', 0, -5), code: RpcCode.invalid, close: false, message: /offset spec -5/ },
    { name: 'listOffsets: unknown topic', method: LogMethod.listOffsets, payload: encodeListOffsets('nope', 0, EARLIEST), code: RpcCode.notFound, close: false, message: /no topic "nope"/ },
    { name: 'listOffsets: partition out of range', method: LogMethod.listOffsets, payload: encodeListOffsets('known', 9, EARLIEST), code: RpcCode.invalid, close: false, message: /not 9/ },

    // groups
    { name: 'groupJoin: not an object', method: LogMethod.groupJoin, payload: Buffer.from('42'), code: BAD, close: true, message: /group join request: not a JSON object/ },
    { name: 'groupJoin: bad group name', method: LogMethod.groupJoin, payload: json({ group: 'bad group!', subscriptions: ['known'] }), code: RpcCode.invalid, close: false, message: /group names are/ },
    { name: 'groupJoin: no subscriptions', method: LogMethod.groupJoin, payload: json({ group: 'g' }), code: RpcCode.invalid, close: false, message: /subscriptions/ },
    { name: 'groupJoin: a bad pattern', method: LogMethod.groupJoin, payload: json({ group: 'g', subscriptions: ['a.>.b'] }), code: RpcCode.invalid, close: false, message: /pattern "a\.>\.b"/ },
    { name: 'groupFetch: cut short', method: LogMethod.groupFetch, payload: validGroupFetch.subarray(0, validGroupFetch.length - 1), code: BAD, close: true, message: /cut short reading max wait/ },
    { name: 'groupFetch: trailing bytes', method: LogMethod.groupFetch, payload: Buffer.concat([validGroupFetch, Buffer.alloc(2)]), code: BAD, close: true, message: /2 unexpected bytes after group fetch request/ },
    { name: 'groupFetch: unknown group', method: LogMethod.groupFetch, payload: validGroupFetch, code: RpcCode.group, close: false, message: /no group "g"/ },
    { name: 'groupAck: offset count larger than the payload', method: LogMethod.groupAck, payload: new BufferWriter(64).str('g').str('m').u32(1).str('known').u32(0).u32(1_000_000).u64(1).view(), code: BAD, close: true, message: /offset count larger than the payload/ },
    { name: 'groupAck: partition count larger than the payload', method: LogMethod.groupAck, payload: new BufferWriter(64).str('g').str('m').u32(0xffffffff).view(), code: BAD, close: true, message: /cut short reading topic/ },
    { name: 'groupAck: trailing bytes', method: LogMethod.groupAck, payload: Buffer.concat([validOffsets, Buffer.alloc(3)]), code: BAD, close: true, message: /3 unexpected bytes after offset lists/ },
    { name: 'groupAck: unknown group', method: LogMethod.groupAck, payload: validOffsets, code: RpcCode.group, close: false, message: /no group "g"/ },
    { name: 'groupRelease: cut short', method: LogMethod.groupRelease, payload: validOffsets.subarray(0, validOffsets.length - 3), code: BAD, close: true, message: /offset count larger than the payload|cut short reading offset/ },
    { name: 'groupRelease: unknown group', method: LogMethod.groupRelease, payload: validOffsets, code: RpcCode.group, close: false, message: /no group "g"/ },
    { name: 'groupLeave: not JSON', method: LogMethod.groupLeave, payload: Buffer.from([0x80, 0x81]), code: BAD, close: true, message: /group leave request: not a JSON object/ },
    { name: 'groupLeave: unknown group', method: LogMethod.groupLeave, payload: json({ group: 'g', member: 'm' }), code: RpcCode.group, close: false, message: /no group "g"/ },
    { name: 'groupHeartbeat: not an object', method: LogMethod.groupHeartbeat, payload: json(true), code: BAD, close: true, message: /heartbeat: not a JSON object/ },
    { name: 'groupHeartbeat: unknown group', method: LogMethod.groupHeartbeat, payload: json({ group: 'g', member: 'm' }), code: RpcCode.group, close: false, message: /no group "g"/ },

    // methods the server does not serve
    { name: 'replicaFetch: cut short', method: LogMethod.replicaFetch, payload: validReplicaFetch.subarray(0, validReplicaFetch.length - 4), code: BAD, close: true, message: /cut short reading max wait/ },
    { name: 'replicaFetch: trailing bytes', method: LogMethod.replicaFetch, payload: Buffer.concat([validReplicaFetch, Buffer.alloc(5)]), code: BAD, close: true, message: /5 unexpected bytes after replica fetch request/ },
    { name: 'an unknown method', method: 0x7777, payload: Buffer.from('whatever'), code: RpcCode.unknownMethod, close: false, message: /unknown method 30583/ },
  ];
  // Every method of LogMethod is covered.
  for (const m of Object.values(LogMethod)) assert.ok(cases.some((c) => c.method === m), `a case for method ${m}`);

  for (const c of cases) {
    await t.test(c.name, async () => {
      const raw = await Raw.connect(port);
      try {
        raw.write(request(c.method, 77, c.payload));
        await raw.waitFrames(1);
        const f = raw.frames[0];
        const err = errorOf(f);
        assert.equal(f.id, 77, 'the error reply carries the request id');
        assert.equal(f.method, c.method, 'and its method');
        assert.equal(err.code, c.code, `code ${err.code} (${err.message})`);
        assert.match(err.message, c.message);
        if (c.close) {
          assert.equal(await raw.waitClosed(), true, 'connection closed after an undecodable payload');
        } else {
          // Still open and still answering in order.
          raw.write(request(LogMethod.listOffsets, 78, validList));
          await raw.waitFrames(2);
          assert.equal(raw.closed, false, 'connection kept open after invalid arguments');
          assert.equal(raw.frames[1]?.kind, FrameKind.reply);
          assert.equal(raw.frames[1]?.id, 78);
        }
      } finally {
        raw.destroy();
      }
    });
  }

  await t.test('JSON with invalid UTF-8 inside a string is refused, not silently replaced', async () => {
    const raw = await Raw.connect(port);
    try {
      raw.write(request(LogMethod.metadata, 5, Buffer.concat([Buffer.from('{"topics":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')])));
      await raw.waitFrames(1);
      assert.equal(errorOf(raw.frames[0]).code, RpcCode.badRequest);
    } finally {
      raw.destroy();
    }
  });

  await assertServes(port, 'known');
});

// ---------------------------------------------------------------------------------------------
// decoders never throw anything but DecodeError / FrameError

test('decoders: random and mutated bytes either decode or throw DecodeError/FrameError', () => {
  const decoders: Array<[string, (b: Buffer) => unknown]> = [
    ['decodeProduce', decodeProduce],
    ['decodeProduceReply', decodeProduceReply],
    ['decodeFetch', decodeFetch],
    ['decodeFetchReply', decodeFetchReply],
    ['decodeListOffsets', decodeListOffsets],
    ['decodeGroupFetch', decodeGroupFetch],
    ['decodeChunks', decodeChunks],
    ['decodeOffsetLists', decodeOffsetLists],
    ['decodeReplicaFetch', decodeReplicaFetch],
    ['decodeJson', (b) => decodeJson(b, 'x')],
  ];
  const batch = new ProduceBatch();
  batch.add(Buffer.from('value'), Buffer.from('key'), 123);
  batch.add(null, null, 0);
  const seeds = [
    Buffer.concat(encodeProduce('t', 0, 'fsync', batch)),
    encodeFetch({ topic: 'topic', partition: 1, offset: 5, maxBytes: 100, maxWaitMs: 10 }),
    encodeListOffsets('t', 0, -1),
    encodeGroupFetch({ group: 'g', member: 'm', maxRecords: 1, maxBytes: 1, maxWaitMs: 1 }),
    Buffer.concat(encodeChunks([{ topic: 't', partition: 0, frames: Buffer.alloc(40) }])),
    encodeOffsetLists('g', 'm', [{ topic: 't', partition: 0, offsets: [1, 2, 3] }]),
    encodeReplicaFetch({ topic: 't', partition: 0, follower: 'f', epoch: 1, offset: 2, maxBytes: 3, maxWaitMs: 4 }),
    Buffer.from('{"name":"x"}'),
  ];
  // Valid encodings cut, extended, or with bytes overwritten: reaches deeper than pure noise.
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.uint8Array({ maxLength: 12 }), fc.constantFrom('cut', 'append', 'overwrite'))
    .map(([seed, at, bytes, how]) => {
      const pos = seed.length === 0 ? 0 : at % seed.length;
      if (how === 'cut') return seed.subarray(0, pos);
      if (how === 'append') return Buffer.concat([seed, Buffer.from(bytes)]);
      const b = Buffer.from(seed);
      Buffer.from(bytes).copy(b, pos);
      return b;
    });
  const input = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)), mutated);
  fc.assert(
    fc.property(input, (buf) => {
      for (const [name, decode] of decoders) {
        try {
          decode(buf);
        } catch (err) {
          if (!(err instanceof DecodeError)) throw new Error(`${name} threw ${(err as Error).name}: ${(err as Error).message}`);
        }
      }
      // The error payload decoder never throws.
      assert.ok(decodeErrorPayload(buf) instanceof RpcError);
    }),
    { numRuns: 3000, seed: 7 },
  );

  // FrameDecoder: any bytes in any chunking give frames or a FrameError.
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), fc.array(fc.constantFrom(...seeds.map((s) => request(0x100, 1, s)))).map((a) => new Uint8Array(Buffer.concat(a)))), fc.array(fc.nat({ max: 64 }), { maxLength: 10 }), (bytes, cuts) => {
      const d = new FrameDecoder(1 << 16);
      const buf = Buffer.from(bytes);
      let pos = 0;
      try {
        for (const c of [...cuts, buf.length]) {
          const end = Math.min(buf.length, pos + c);
          d.push(buf.subarray(pos, end), (f) => assert.ok(f.kind <= 3 && f.payload.length === f.payload.length));
          pos = end;
        }
        d.push(buf.subarray(pos), () => {});
        assert.ok(d.buffered < 1 << 16);
      } catch (err) {
        if (!(err instanceof FrameError)) throw err;
      }
    }),
    { numRuns: 2000, seed: 11 },
  );
});

// ---------------------------------------------------------------------------------------------
// memory bounds

test('a frame announcing more than maxFrameBytes (64 MiB) is refused at once, without reading it', async (t) => {
  const service = await startService(t);
  for (const length of [64 * 1024 * 1024 - 3, 100 * 1024 * 1024, 0x7fffffff]) {
    const raw = await Raw.connect(service.port);
    try {
      const h = frameHeader(FrameKind.request, LogMethod.produce, 1, 0);
      h.writeUInt32LE(length, 0);
      raw.write(h); // the header only: the server must not wait for the body
      await raw.waitFrames(1, 2000);
      const err = errorOf(raw.frames[0]);
      assert.equal(err.code, RpcCode.badFrame);
      assert.match(err.message, new RegExp(`frame length ${length} outside 8\\.\\.${64 * 1024 * 1024 - 4}`));
      assert.equal(await raw.waitClosed(), true);
    } finally {
      raw.destroy();
    }
  }
  // The largest allowed frame length is accepted (a request that big is read, then answered).
  await assertServes(service.port);
});

test('a 60 MB frame trickled in, and many connections holding partial frames: bounded, and others are served meanwhile', async (t) => {
  const service = await startService(t);
  const port = service.port;
  const rssBefore = process.memoryUsage().rss;
  // One connection announces a 60 MB produce and trickles 4 MB of it in 64 KB pieces.
  const big = await Raw.connect(port);
  t.after(() => big.destroy());
  const header = frameHeader(FrameKind.request, LogMethod.produce, 1, 60_000_000);
  big.write(header);
  const piece = Buffer.alloc(64 * 1024, 0x61);
  const started = Date.now();
  let worst = 0;
  for (let sent = 0; sent < 4 * 1024 * 1024; sent += piece.length) {
    big.write(piece);
    await new Promise((r) => setTimeout(r, 2));
    if (sent % (1024 * 1024) === 0) {
      // Others get answers while the trickle goes on.
      const t0 = Date.now();
      await assertServes(port, 'during-trickle');
      worst = Math.max(worst, Date.now() - t0);
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(big.closed, false, 'a partial frame within the limit is simply waited for');
  assert.ok(worst < 2000, `requests of other clients answered within 2 s during the trickle (worst ${worst} ms)`);
  assert.ok(Date.now() - started < 15_000);

  // 50 more connections each hold 1 MB of an announced 50 MB frame.
  const many: Raw[] = [];
  t.after(() => many.forEach((r) => r.destroy()));
  for (let i = 0; i < 50; i++) {
    const r = await Raw.connect(port);
    r.write(Buffer.concat([frameHeader(FrameKind.request, LogMethod.produce, 1, 50_000_000), Buffer.alloc(1024 * 1024)]));
    many.push(r);
  }
  await new Promise((r) => setTimeout(r, 300));
  await assertServes(port, 'with-partials');
  const grew = process.memoryUsage().rss - rssBefore;
  // Held legitimately: 8 MB + 50 × 1 MB. Allow generous slack for the allocator and GC lag.
  assert.ok(grew < 400 * 1024 * 1024, `rss grew by ${Math.round(grew / 1048576)} MB`);
  for (const r of many) r.destroy();
  big.destroy();
  await assertServes(port, 'after-partials');
});

test('pipelined requests whose replies are not read: the server stops reading and buffers a bounded amount', async (t) => {
  const service = await startService(t);
  const port = service.port;
  // 4 MB in the partition; each fetch asks for 1 MB of it.
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port });
  const batch = new ProduceBatch();
  for (let i = 0; i < 64; i++) batch.add(Buffer.alloc(64 * 1024, i), null, 0);
  await rpc.call(LogMethod.produce, encodeProduce('pipe', 0, 'none', batch), 10_000);
  rpc.close();

  const raw = await Raw.connect(port);
  t.after(() => raw.destroy());
  raw.socket.pause(); // never read
  const fetch = request(LogMethod.fetch, 1, encodeFetch({ topic: 'pipe', partition: 0, offset: 0, maxBytes: 1024 * 1024, maxWaitMs: 0 }));
  const n = 120; // 120 MB of replies if nothing held the server back
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  t.after(() => clearInterval(sampler));
  raw.write(Buffer.concat(Array.from({ length: n }, () => fetch)));
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 100));
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  clearInterval(sampler);
  // Others are still served.
  await assertServes(port, 'while-pipelined');
  const grew = peak - rssBefore;
  assert.ok(grew < 48 * 1024 * 1024, `server held ${Math.round(grew / 1048576)} MB of replies for a client that does not read (${n} × 1 MB fetches pipelined)`);
});

test('a large legitimate frame (12 MB produce) arriving at full speed is reassembled in linear time', async (t) => {
  const service = await startService(t);
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port: service.port });
  t.after(() => rpc.close());
  const batch = new ProduceBatch();
  batch.add(Buffer.alloc(12 * 1024 * 1024, 0x62), null, 0);
  let last = Date.now();
  let maxLag = 0;
  const lag = setInterval(() => {
    const now = Date.now();
    maxLag = Math.max(maxLag, now - last - 10);
    last = now;
  }, 10);
  t.after(() => clearInterval(lag));
  const started = Date.now();
  const base = decodeProduceReply(await rpc.call(LogMethod.produce, encodeProduce('big', 0, 'none', batch), 30_000));
  const took = Date.now() - started;
  clearInterval(lag);
  assert.equal(base, 0);
  assert.ok(took < 1500 && maxLag < 500, `a 12 MB request took ${took} ms, event loop stalled up to ${maxLag} ms`);
});
