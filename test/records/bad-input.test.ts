// The records service against bad input, on a real in-process region: malformed and random RPC
// payloads for every method, garbage on the TCP port, invalid table definitions, keys, records
// and requests, and bad HTTP requests. Rules checked: bad input gets an error reply with a
// sensible code (never `internal`, never a 500), the process does not crash, memory stays
// bounded, and the node keeps serving well-behaved clients afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import { RpcClient } from '../../src/net/rpc-client.js';
import { FrameDecoder, FrameKind, RpcCode, RpcError, decodeErrorPayload, frameHeader, type Frame } from '../../src/net/rpc-frame.js';
import { RecordsClient, VersionConflictError } from '../../src/records/client.js';
import {
  Consistency,
  RecordsMethod,
  WriteStatus,
  decodeReadReply,
  decodeScanReply,
  decodeWriteReply,
  encodeRead,
  encodeScan,
  encodeWrite,
  type ReadRequest,
  type WriteRequest,
} from '../../src/records/protocol.js';
import type { StoredRecord } from '../../src/records/record-codec.js';
import { startOneRegion, type OneRegion } from './helper.js';

// ---------------------------------------------------------------------------------------------
// helpers

const TOKEN = 'bad-input-token';
const SENSIBLE = new Set<number>([RpcCode.badRequest, RpcCode.invalid, RpcCode.notFound]);
/** The client-facing methods covered here (tablet administration and node-to-node methods are not). */
const CLIENT_METHODS = [RecordsMethod.auth, RecordsMethod.tables, RecordsMethod.createTable, RecordsMethod.read, RecordsMethod.write, RecordsMethod.scan, RecordsMethod.multiget];

/** A region with HTTP on and a token, a hash table `items` (price: number) and an ordered table `ord`, each with one record. */
async function start(t: { after(fn: () => unknown): void }): Promise<OneRegion> {
  const r = await startOneRegion({ over: { httpPort: 0, tokens: [TOKEN] } });
  t.after(() => r.stop());
  await r.client.createTable({ name: 'items', fields: { price: 'number' } });
  await r.client.createTable({ name: 'ord', kind: 'ordered' });
  await r.client.write('items', 'k', { price: 1 });
  await r.client.write('ord', 'k', { n: 1 });
  return r;
}

async function connect(r: OneRegion): Promise<RpcClient> {
  const rpc = await RpcClient.connect({ host: '127.0.0.1', port: r.records.port });
  await rpc.call(RecordsMethod.auth, Buffer.from(TOKEN), 5000);
  return rpc;
}

/** One call on a fresh authenticated connection: the reply, or the RpcError it failed with. */
async function callOnce(r: OneRegion, method: number, payload: Buffer): Promise<Buffer | RpcError> {
  const rpc = await connect(r);
  try {
    return await rpc.call(method, payload, 10_000);
  } catch (err) {
    assert.ok(err instanceof RpcError, `an RpcError, not ${String(err)}`);
    return err;
  } finally {
    rpc.close();
  }
}

async function expectError(r: OneRegion, method: number, payload: Buffer, codes: number[], what: string): Promise<RpcError> {
  const got = await callOnce(r, method, payload);
  assert.ok(got instanceof RpcError, `${what}: expected an error reply, got a reply of ${(got as Buffer).length} bytes`);
  assert.ok(codes.includes(got.code), `${what}: code ${got.code} (${got.message}), expected one of ${codes.join(', ')}`);
  return got;
}

/** A well-behaved client still reads and writes. */
async function assertServes(r: OneRegion): Promise<void> {
  const c = await RecordsClient.connect({ port: r.records.port, token: TOKEN, timeoutMs: 10_000 });
  try {
    assert.deepEqual((await c.readLatest('items', 'k')).value, { price: 1 });
    const w = await c.write('ord', 'health', { at: 1 });
    assert.deepEqual((await c.readCritical('ord', 'health', w.version)).value, { at: 1 });
  } finally {
    c.close();
  }
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function read(over: Partial<ReadRequest> = {}): Buffer {
  return encodeRead({ table: 'items', key: 'k', consistency: Consistency.any, required: [0, 0], forwarded: false, known: null, ...over });
}

function write(over: Partial<WriteRequest> = {}): Buffer {
  return encodeWrite({ table: 'items', key: 'k2', forwarded: false, replace: false, fieldsJson: json({ price: 2 }), ifVersion: null, origin: '', known: null, ...over });
}

const scan = (table = 'items', end = '') => encodeScan({ table, start: '', end, limit: 10, after: '', forwarded: false, stopAt: '' });

// ---------------------------------------------------------------------------------------------
// malformed RPC payloads

test('truncated and garbage payloads for every method get an error reply; the node still serves', async (t) => {
  const r = await start(t);
  const BAD = RpcCode.badRequest;
  const validRead = read();
  const validWrite = write();
  const validScan = scan();

  await t.test('read: every cut of a valid request, trailing bytes, consistency 7, garbage → badRequest', async () => {
    for (let cut = 0; cut < validRead.length; cut++) await expectError(r, RecordsMethod.read, validRead.subarray(0, cut), [BAD], `read cut at ${cut}`);
    await expectError(r, RecordsMethod.read, Buffer.concat([validRead, Buffer.from([0])]), [BAD], 'read + 1 byte');
    const c7 = Buffer.from(validRead);
    c7[0] = 7;
    assert.match((await expectError(r, RecordsMethod.read, c7, [BAD], 'consistency 7')).message, /consistency must be/);
    await expectError(r, RecordsMethod.read, Buffer.from('GET / HTTP/1.1\r\n\r\n'), [BAD], 'read garbage');
  });

  await t.test('write: every cut of a valid request → badRequest (undecodable) or invalid (fields cut short)', async () => {
    for (let cut = 0; cut < validWrite.length; cut++) await expectError(r, RecordsMethod.write, validWrite.subarray(0, cut), [BAD, RpcCode.invalid], `write cut at ${cut}`);
    await expectError(r, RecordsMethod.write, Buffer.from([0xff, 0xff, 0xff]), [BAD], 'write garbage');
  });

  await t.test('scan: every cut of a valid request and trailing bytes → badRequest', async () => {
    for (let cut = 0; cut < validScan.length; cut++) await expectError(r, RecordsMethod.scan, validScan.subarray(0, cut), [BAD], `scan cut at ${cut}`);
    await expectError(r, RecordsMethod.scan, Buffer.concat([validScan, Buffer.alloc(3)]), [BAD], 'scan + 3 bytes');
  });

  await t.test('createTable and multiget: empty, cut-short JSON, non-objects, invalid UTF-8 → badRequest', async () => {
    const payloads = [Buffer.alloc(0), Buffer.from('{"name":"x"'), json([1]), json('x'), json(5), Buffer.from('null'), Buffer.from([0xff, 0xfe, 0x00])];
    for (const method of [RecordsMethod.createTable, RecordsMethod.multiget]) {
      for (const p of payloads) assert.match((await expectError(r, method, p, [BAD], `method ${method}, ${p.toString('hex')}`)).message, /must be a JSON object/);
    }
  });

  await t.test('auth: a wrong token → unauthorized; tables ignores its payload', async () => {
    await expectError(r, RecordsMethod.auth, Buffer.from([0, 1, 2]), [RpcCode.unauthorized], 'auth garbage');
    const got = await callOnce(r, RecordsMethod.tables, Buffer.from([1, 2, 3]));
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual(
      (JSON.parse(got.toString()) as { tables: Array<{ def: { name: string } }> }).tables.map((x) => x.def.name).sort(),
      ['items', 'ord'],
    );
  });

  await t.test('an unknown method → unknownMethod, the connection kept', async () => {
    const rpc = await connect(r);
    try {
      await assert.rejects(rpc.call(0x2ff, Buffer.from('x'), 5000), (err: unknown) => err instanceof RpcError && err.code === RpcCode.unknownMethod);
      assert.ok(decodeReadReply(await rpc.call(RecordsMethod.read, validRead, 5000)).record);
    } finally {
      rpc.close();
    }
  });

  await assertServes(r);
});

test('random payloads (fast-check) to every method: an error reply with a sensible code or a valid reply; memory bounded', async (t) => {
  const r = await start(t);
  const rssBefore = process.memoryUsage().rss;
  let rpc = await connect(r);
  t.after(() => rpc.close());
  /** One call; a badRequest closes the connection, so the next call gets a new one. */
  const call = async (method: number, payload: Buffer): Promise<Buffer | RpcError> => {
    if (rpc.closed) rpc = await connect(r);
    try {
      return await rpc.call(method, payload, 10_000);
    } catch (err) {
      assert.ok(err instanceof RpcError, String(err));
      if (err.code === RpcCode.badRequest) {
        rpc.close();
        rpc = await connect(r);
      }
      return err;
    }
  };
  let replies = 0;
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      for (const method of CLIENT_METHODS) {
        const got = await call(method, Buffer.from(bytes));
        if (got instanceof RpcError) {
          const ok = SENSIBLE.has(got.code) || (method === RecordsMethod.auth && got.code === RpcCode.unauthorized);
          assert.ok(ok, `method ${method}: code ${got.code} (${got.message}) for ${Buffer.from(bytes).toString('hex')}`);
        } else replies++;
      }
    }),
    { numRuns: 200, seed: 2024 },
  );
  assert.ok(replies >= 200, 'tables (and auth, with the token connection) answer any payload');

  // Well-formed requests with random tables, keys and fields reach past the decoders.
  // Not 'k': assertServes checks that record is untouched.
  const key = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', '\u0000k', 'k2', 'x'.repeat(1025))).filter((k) => k !== 'k');
  const table = fc.constantFrom('items', 'ord', 'missing');
  const fields = fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => json(v)), fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)));
  const request = fc.oneof(
    fc.record({ table, key, consistency: fc.constantFrom(0, 1, 2) as fc.Arbitrary<Consistency>, required: fc.tuple(fc.nat(3), fc.nat(3)) }).map((q) => ({ method: RecordsMethod.read, payload: read(q) })),
    fc.record({ table, key, replace: fc.boolean(), fieldsJson: fc.option(fields), ifVersion: fc.option(fc.tuple(fc.nat(3), fc.nat(3))) }).map((q) => ({ method: RecordsMethod.write, payload: write(q) })),
    fc.record({ table, keys: fc.array(key, { maxLength: 5 }), consistency: fc.constantFrom('any', 'latest', 'critical', 7) }).map((q) => ({ method: RecordsMethod.multiget, payload: json(q) })),
  );
  await fc.assert(
    fc.asyncProperty(request, async ({ method, payload }) => {
      const got = await call(method, payload);
      if (!(got instanceof RpcError)) {
        if (method === RecordsMethod.write) assert.ok(([WriteStatus.ok, WriteStatus.conflict, WriteStatus.absent] as number[]).includes(decodeWriteReply(got).status));
        if (method === RecordsMethod.read) decodeReadReply(got);
        return;
      }
      // tryLater: a read-critical of a version not committed.
      const ok = new Set<number>([RpcCode.invalid, RpcCode.notFound, RpcCode.tryLater]).has(got.code);
      assert.ok(ok, `method ${method}: code ${got.code} (${got.message})`);
      if (got.code === RpcCode.tryLater) assert.match(got.message, /not committed/);
    }),
    { numRuns: 300, seed: 77 },
  );

  await assertServes(r);
  const grew = process.memoryUsage().rss - rssBefore;
  assert.ok(grew < 300 * 1024 * 1024, `rss grew by ${Math.round(grew / 1048576)} MB`);
});

// ---------------------------------------------------------------------------------------------
// garbage at the TCP level

/** A raw connection: write bytes, collect the server's frames, see when it closes. */
async function rawConnect(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  let badStream = false;
  socket.on('data', (chunk: Buffer) => {
    try {
      decoder.push(chunk, (f) => frames.push(f));
    } catch {
      badStream = true;
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, frames, closed, badStream: () => badStream };
}

test('garbage on the RPC port: the connection is closed, the node keeps serving other clients', async (t) => {
  const r = await start(t);
  const port = r.records.port;
  // An open, authenticated client across the garbage.
  const bystander = await connect(r);
  t.after(() => bystander.close());

  await t.test('an HTTP request line: one badFrame error, then the server closes', async () => {
    const raw = await rawConnect(port);
    raw.socket.write('GET /tables HTTP/1.1\r\nHost: x\r\n\r\n');
    await raw.closed;
    assert.equal(raw.frames.length, 1);
    assert.equal(raw.frames[0].kind, FrameKind.error);
    assert.equal(decodeErrorPayload(raw.frames[0].payload).code, RpcCode.badFrame);
  });

  await t.test('random bytes (fast-check): never an internal error, always closed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), async (bytes) => {
        const raw = await rawConnect(port);
        try {
          raw.socket.end(Buffer.from(bytes));
          await raw.closed;
          assert.equal(raw.badStream(), false, "the server's bytes are well-framed");
          for (const f of raw.frames) {
            assert.ok(f.kind === FrameKind.reply || f.kind === FrameKind.error, `kind ${f.kind}`);
            if (f.kind === FrameKind.error) assert.notEqual(decodeErrorPayload(f.payload).code, RpcCode.internal);
          }
          const length = bytes.length >= 4 ? Buffer.from(bytes).readUInt32LE(0) : -1;
          if (length >= 0 && (length < 8 || length > 64 * 1024 * 1024 - 4)) {
            assert.equal(raw.frames.length, 1, 'one error for a length out of range');
            assert.equal(decodeErrorPayload(raw.frames[0].payload).code, RpcCode.badFrame);
          }
        } finally {
          raw.socket.destroy();
        }
      }),
      { numRuns: 150, seed: 99 },
    );
  });

  await t.test('a valid frame before authenticating → unauthorized, the connection kept', async () => {
    const raw = await rawConnect(port);
    try {
      const payload = read();
      raw.socket.write(Buffer.concat([frameHeader(FrameKind.request, RecordsMethod.read, 5, payload.length), payload]));
      while (raw.frames.length < 1) await new Promise((resolve) => raw.socket.once('data', resolve));
      assert.equal(decodeErrorPayload(raw.frames[0].payload).code, RpcCode.unauthorized);
      assert.equal(raw.socket.destroyed, false);
    } finally {
      raw.socket.destroy();
    }
  });

  assert.ok(decodeReadReply(await bystander.call(RecordsMethod.read, read(), 5000)).record, 'the bystander connection still works');
  await assertServes(r);
});

// ---------------------------------------------------------------------------------------------
// invalid definitions, keys and records

test('invalid table definitions are refused with `invalid` and create nothing', async (t) => {
  const r = await start(t);
  const bad: Array<[string, unknown]> = [
    ['no name', {}],
    ['name not a string', { name: 5 }],
    ['empty name', { name: '' }],
    ['name with a space', { name: 'a b' }],
    ['name with a slash', { name: 'a/b' }],
    ['name of 65 characters', { name: 'x'.repeat(65) }],
    ['unknown kind', { name: 't1', kind: 'btree' }],
    ['fields an array', { name: 't1', fields: ['a'] }],
    ['fields a string', { name: 't1', fields: 'a:string' }],
    ['unknown field type', { name: 't1', fields: { a: 'date' } }],
    ['field type not a string', { name: 't1', fields: { a: 1 } }],
    ['ttlSeconds negative', { name: 't1', ttlSeconds: -1 }],
    ['ttlSeconds fractional', { name: 't1', ttlSeconds: 1.5 }],
    ['ttlSeconds above ten years', { name: 't1', ttlSeconds: 10 * 365 * 86400 + 1 }],
    ['ttlSeconds a string', { name: 't1', ttlSeconds: '60' }],
    ['partitions 0', { name: 't1', partitions: 0 }],
    ['partitions 257', { name: 't1', partitions: 257 }],
    ['tablets 0', { name: 't1', tablets: 0 }],
    ['tablets 4097', { name: 't1', tablets: 4097 }],
    ['tablets 1e309', { name: 't1', tablets: 1e308 * 10 }],
    ['mastership a string', { name: 't1', mastership: 'pinned' }],
    ['mastership.migrateAfter 101', { name: 't1', mastership: { migrateAfter: 101 } }],
    ['mastership.pinned not a region name', { name: 't1', mastership: { pinned: 'a b' } }],
    ['homeRegion a number', { name: 't1', homeRegion: 7 }],
    ['an existing table, another definition', { name: 'items', kind: 'ordered' }],
  ];
  for (const [what, def] of bad) {
    const err = await expectError(r, RecordsMethod.createTable, json(def), [RpcCode.invalid], what);
    assert.ok(err.message.length > 0);
  }
  const names = (await r.client.tables()).tables.map((x) => x.def.name).sort();
  assert.deepEqual(names, ['items', 'ord']);
  await assertServes(r);
});

test('invalid keys are refused with `invalid` by read, write and multiget; 1024 bytes is allowed', async (t) => {
  const r = await start(t);
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['1025 bytes', 'x'.repeat(1025)],
    ['513 two-byte characters (1026 bytes)', 'é'.repeat(513)],
    ['starting with NUL', '\u0000abc'],
    ['only NUL', '\u0000'],
  ];
  for (const [what, key] of bad) {
    assert.match((await expectError(r, RecordsMethod.read, read({ key }), [RpcCode.invalid], `read ${what}`)).message, /key/);
    await expectError(r, RecordsMethod.write, write({ key }), [RpcCode.invalid], `write ${what}`);
    await expectError(r, RecordsMethod.write, write({ key, fieldsJson: null }), [RpcCode.invalid], `delete ${what}`);
    await expectError(r, RecordsMethod.multiget, json({ table: 'items', keys: ['k', key] }), [RpcCode.invalid], `multiget ${what}`);
  }
  for (const key of ['x'.repeat(1024), 'é'.repeat(512), 'a\u0000b']) {
    assert.equal((await r.client.write('items', key, { price: 3 })).version, '1.1');
    assert.deepEqual((await r.client.readAny('items', key)).value, { price: 3 });
  }
});

test('records over 1 MiB and fields that are not a JSON object are refused with `invalid`', async (t) => {
  const r = await start(t);
  const bigValue = 'v'.repeat(1024 * 1024);
  await expectError(r, RecordsMethod.write, write({ fieldsJson: json({ big: bigValue }) }), [RpcCode.invalid], 'a 1 MiB field');
  // Two writes each under the limit, merged over it.
  const half = 'h'.repeat(600 * 1024);
  await r.client.write('items', 'merge', { a: half });
  assert.match((await expectError(r, RecordsMethod.write, write({ key: 'merge', fieldsJson: json({ b: half }) }), [RpcCode.invalid], 'a merge over 1 MiB')).message, /over the 1048576-byte limit/);
  const notObjects: Array<[string, Buffer]> = [
    ['an array', json([1, 2])],
    ['a number', json(5)],
    ['a string', json('s')],
    ['null', Buffer.from('null')],
    ['invalid JSON', Buffer.from('{"price":')],
    ['empty', Buffer.alloc(0)],
    ['not UTF-8', Buffer.from([0xff, 0xfe, 0xfd])],
  ];
  for (const [what, fieldsJson] of notObjects) {
    for (const replace of [false, true]) await expectError(r, RecordsMethod.write, write({ key: 'nobj', fieldsJson, replace }), [RpcCode.invalid], `${what}, replace ${replace}`);
  }
  assert.match((await expectError(r, RecordsMethod.write, write({ fieldsJson: json({ price: 'free' }) }), [RpcCode.invalid], 'a typed field of the wrong type')).message, /price must be a number/);
  assert.equal((await r.client.readAny('items', 'nobj')).exists, false, 'nothing was written');
  assert.equal((await r.client.readAny('items', 'merge')).version, '1.1', 'the refused merge left the record as it was');
});

// ---------------------------------------------------------------------------------------------
// requests that are well-formed but cannot be served

test('test-and-set on another generation → conflict; read-critical of a version never written → tryLater', async (t) => {
  const r = await start(t);
  const c = r.client;
  await assert.rejects(c.testAndSetWrite('items', 'k', '2.1', { price: 5 }), (err: unknown) => err instanceof VersionConflictError && err.current === '1.1');
  const raw = decodeWriteReply((await callOnce(r, RecordsMethod.write, write({ key: 'k', ifVersion: [0, 1] }))) as Buffer);
  assert.deepEqual([raw.status, raw.version], [WriteStatus.conflict, [1, 1]]);
  await assert.rejects(c.delete('items', 'k', { ifVersion: '3.1' }), VersionConflictError);
  assert.deepEqual((await c.readAny('items', 'k')).value, { price: 1 }, 'nothing changed');

  const err = await expectError(r, RecordsMethod.read, read({ key: 'never', consistency: Consistency.critical, required: [1, 1] }), [RpcCode.tryLater], 'read-critical 1.1');
  assert.match(err.message, /not committed/);
  await expectError(r, RecordsMethod.read, read({ key: 'k', consistency: Consistency.critical, required: [1, 2] }), [RpcCode.tryLater], 'read-critical above the current version');
});

test('scans and reads of a missing table → notFound; bad multigets → invalid', async (t) => {
  const r = await start(t);
  assert.match((await expectError(r, RecordsMethod.scan, scan('missing'), [RpcCode.notFound], 'scan')).message, /no table missing/);
  await expectError(r, RecordsMethod.read, read({ table: 'missing' }), [RpcCode.notFound], 'read');
  await expectError(r, RecordsMethod.write, write({ table: 'missing' }), [RpcCode.notFound], 'write');
  await expectError(r, RecordsMethod.multiget, json({ table: 'missing', keys: ['a'] }), [RpcCode.notFound], 'multiget of a missing table');
  const keys = Array.from({ length: 1001 }, (_, i) => `k${i}`);
  const bad: Array<[string, unknown]> = [
    ['1001 keys', { table: 'items', keys }],
    ['a number among the keys', { table: 'items', keys: ['a', 1] }],
    ['a null key', { table: 'items', keys: [null] }],
    ['keys not an array', { table: 'items', keys: 'a' }],
    ['no keys', { table: 'items' }],
    ['table not a string', { table: 1, keys: ['a'] }],
    ['consistency critical', { table: 'items', keys: ['a'], consistency: 'critical' }],
    ['consistency unknown', { table: 'items', keys: ['a'], consistency: 'strong' }],
  ];
  for (const [what, req] of bad) await expectError(r, RecordsMethod.multiget, json(req), [RpcCode.invalid], what);
  const ok = (await callOnce(r, RecordsMethod.multiget, json({ table: 'items', keys: keys.slice(0, 1000) }))) as Buffer;
  assert.equal(ok.readUInt32LE(0), 1000, '1000 keys are allowed');
  assert.equal(decodeScanReply((await callOnce(r, RecordsMethod.scan, encodeScan({ table: 'ord', start: 'z', end: 'a', limit: 0, after: '', forwarded: false, stopAt: '' }))) as Buffer).rows.length, 0, 'start after end, limit 0: an empty page');
});

// ---------------------------------------------------------------------------------------------
// HTTP

interface HttpAnswer {
  status: number;
  body: { error?: unknown; message?: unknown };
}

/** A request with a raw path (no URL normalisation), the token sent. */
function httpRequest(port: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as HttpAnswer['body'] });
        } catch {
          reject(new Error(`${method} ${path}: status ${res.statusCode}, body not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function expectHttp(port: number, status: number, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<void> {
  const got = await httpRequest(port, method, path, body, headers);
  assert.equal(got.status, status, `${method} ${path.slice(0, 100)}: ${JSON.stringify(got.body).slice(0, 200)}`);
  assert.equal(typeof got.body.error, 'string', 'a JSON error body');
}

test('HTTP: bad bodies, paths, methods, encodings, limits and multigets → a 4xx JSON error; the server keeps answering', async (t) => {
  const r = await start(t);
  const port = r.records.httpPort;
  const put = (body: string) => expectHttp(port, 400, 'PUT', '/tables/items/records/x', body, { 'content-type': 'application/json' });

  await t.test('bodies that are not a JSON object → 400', async () => {
    for (const body of ['{bad', '', '[]', '"s"', '5', 'null', '{"price":"free"}']) await put(body);
    for (const body of ['{bad', '[]', '']) await expectHttp(port, 400, 'POST', '/tables', body);
    await expectHttp(port, 400, 'POST', '/tables', JSON.stringify({ name: 'bad name' }));
  });

  await t.test('bodies over 2 MiB → 413, with or without content-length; a record over 1 MiB → 400', async () => {
    await expectHttp(port, 413, 'PUT', '/tables/items/records/x', Buffer.alloc(2 * 1024 * 1024 + 1, 0x20));
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'PUT', path: '/tables/items/records/x', headers: { authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 48; i++) req.write(Buffer.alloc(64 * 1024, 0x20));
      req.end();
    });
    assert.equal(chunked, 413);
    await expectHttp(port, 400, 'PUT', '/tables/items/records/x', JSON.stringify({ big: 'v'.repeat(1024 * 1024 + 10) }));
  });

  await t.test('unknown paths → 404, wrong methods → 400', async () => {
    for (const path of ['/', '/nope', '/tables/items', '/tables/items/other', '/tables/items/records/a/b', '/tables/missing/records/k', '/tables/items/multiget']) await expectHttp(port, 404, 'GET', path);
    for (const [method, path] of [['DELETE', '/tables'], ['PUT', '/tables'], ['POST', '/tables/items/records'], ['DELETE', '/tables/items/records'], ['POST', '/tables/items/records/k']]) await expectHttp(port, 400, method, path);
  });

  await t.test('bad percent-encoding → 400', async () => {
    for (const path of ['/tables/%E0%A4%A', '/tables/items/records/%zz', '/tables/items/records/%C3%28', '/tables/items/records/%']) await expectHttp(port, 400, 'GET', path);
    await expectHttp(port, 400, 'GET', '/tables/items/records/%00abc');
  });

  await t.test('bad scan limits and read options → 400', async () => {
    for (const limit of ['abc', '0', '-1', '1.5', '10001', '', '1e9', 'Infinity']) await expectHttp(port, 400, 'GET', `/tables/ord/records?limit=${limit}`);
    await expectHttp(port, 400, 'GET', '/tables/items/records/k?consistency=sometimes');
    await expectHttp(port, 400, 'GET', '/tables/items/records/k?consistency=critical');
  });

  await t.test('bad multigets → 400, a missing table → 404', async () => {
    const mg = (body: unknown, status = 400) => expectHttp(port, status, 'POST', '/tables/items/multiget', JSON.stringify(body));
    await mg({ keys: 'a' });
    await mg({ keys: [1] });
    await mg({});
    await mg({ keys: ['a'], consistency: 'critical' });
    await mg({ keys: Array.from({ length: 1001 }, (_, i) => `k${i}`) });
    await mg({ keys: [''] });
    await expectHttp(port, 404, 'POST', '/tables/missing/multiget', JSON.stringify({ keys: ['a'] }));
  });

  await t.test('random continuation tokens (fast-check) → 200 or a 4xx JSON error, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('items', 'ord'), fc.boolean(), async (bytes, table, url) => {
        const token = Buffer.from(bytes).toString(url ? 'base64url' : 'base64');
        const got = await httpRequest(port, 'GET', `/tables/${table}/records?limit=5&continuation=${encodeURIComponent(token)}`);
        assert.ok(got.status === 200 || (got.status >= 400 && got.status < 500), `status ${got.status}: ${JSON.stringify(got.body)}`);
      }),
      { numRuns: 150, seed: 5 },
    );
  });

  const tables = await httpRequest(port, 'GET', '/tables');
  assert.equal(tables.status, 200);
  await assertServes(r);
});

// ---------------------------------------------------------------------------------------------
// Bugs this suite found (fixed): each case below failed before its fix.

test(
  'HTTP: a malformed version (?version=, ?ifVersion=, If-Match) is a 400, not a 500',
  async (t) => {
    const r = await start(t);
    const port = r.records.httpPort;
    await expectHttp(port, 400, 'GET', '/tables/items/records/k?consistency=critical&version=abc');
    await expectHttp(port, 400, 'GET', '/tables/items/records/k?consistency=critical&version=99999999999.1');
    await expectHttp(port, 400, 'PUT', '/tables/items/records/k', '{"price":2}', { 'if-match': '"garbage"' });
    await expectHttp(port, 400, 'PATCH', '/tables/items/records/k?ifVersion=1', '{"price":2}');
    await expectHttp(port, 400, 'DELETE', '/tables/items/records/k?ifVersion=x.y');
  },
);

test(
  'a scan whose end key is longer than lmdb allows (1978 bytes) is refused, not an internal error',
  async (t) => {
    const r = await start(t);
    const end = 'e'.repeat(3000);
    await expectError(r, RecordsMethod.scan, scan('ord', end), [...SENSIBLE], 'scan with a 3000-byte end');
    await expectHttp(r.records.httpPort, 400, 'GET', `/tables/ord/records?end=${end}`);
  },
);

const planted = (over: Partial<StoredRecord>): StoredRecord => ({ gen: 1, ver: 1, master: 'local', origins: [], deleted: false, writtenAt: 1, expiresAt: 0, fieldsJson: Buffer.from('{}'), ...over });

test(
  "a client's forwarded read cannot plant a record whose fields are not JSON",
  async (t) => {
    const r = await start(t);
    const refused = await callOnce(r, RecordsMethod.read, read({ key: 'poison', forwarded: true, known: planted({ fieldsJson: Buffer.from('not json') }) }));
    assert.ok(refused instanceof RpcError && refused.code === RpcCode.unauthorized, 'a forwarded read from a client is refused');
    const w = await callOnce(r, RecordsMethod.write, write({ key: 'poison', fieldsJson: json({ price: 4 }) }));
    assert.ok(!(w instanceof RpcError), `a later write fails: ${(w as RpcError).message}`);
    assert.deepEqual((await r.client.readAny('items', 'poison')).value, { price: 4 });
  },
);

test(
  "a client's forwarded record at version g.4294967295 does not make the key's writes hang",
  async (t) => {
    const r = await start(t);
    const refused = await callOnce(r, RecordsMethod.read, read({ key: 'top', forwarded: true, known: planted({ ver: 0xffffffff }) }));
    assert.ok(refused instanceof RpcError && refused.code === RpcCode.unauthorized, 'a forwarded read from a client is refused');
    const rpc = await connect(r);
    t.after(() => rpc.close());
    // A bound only to detect the hang: a fixed node answers (either way) at once.
    const got = await rpc.call(RecordsMethod.write, write({ key: 'top' }), 5000).catch((err: unknown) => err as RpcError);
    assert.ok(!(got instanceof RpcError) || got.code !== RpcCode.timeout, 'the write got an answer');
  },
);
