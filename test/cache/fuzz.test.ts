import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import { CacheStore, createStoreMemory } from '../../src/cache/store/store.js';
import { DEFAULT_STORE_OPTIONS } from '../../src/cache/store/layout.js';
import { CacheConnection } from '../../src/cache/protocol/connection.js';
import type { CacheContext } from '../../src/cache/context.js';
import type { Connection } from '../../src/net/tcp-server.js';

/**
 * Random bytes and mangled commands fed straight into the protocol layer, cut into random
 * chunks: nothing throws, output stays bounded, the store's invariants hold afterwards, and a
 * fresh connection is still served.
 */
function setup() {
  const clock = new ManualClock();
  const options = { ...DEFAULT_STORE_OPTIONS, memoryLimit: 2 * 1024 * 1024, itemSizeMax: 64 * 1024 };
  const store = new CacheStore(createStoreMemory(options, clock), options, clock);
  const ctx: CacheContext = {
    store, pid: 1, connectionCount: new Int32Array(1),
    settings: { host: '127.0.0.1', port: 0, memoryLimit: options.memoryLimit, itemSizeMax: options.itemSizeMax, maxConnections: 10, threads: 1, version: '1.6.18' },
  };
  return { store, ctx };
}

function fakeConnection() {
  const written: Buffer[] = [];
  const state = { ended: false, destroyed: false, bytes: 0 };
  const conn = {
    socket: { pause() {}, resume() {} },
    write(chunk: Buffer) {
      written.push(Buffer.from(chunk));
      state.bytes += chunk.length;
      return true;
    },
    end() {
      state.ended = true;
    },
    destroy() {
      state.destroyed = true;
    },
  } as unknown as Connection;
  return { conn, written, state };
}

const fragments = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    'get a b c\r\n', 'set a 0 0 5\r\nhello\r\n', 'set a 0 0 100000\r\n', 'incr a 1\r\n', 'mg a v c f t s k\r\n',
    'ms a 3 T10 c\r\nabc\r\n', 'md a I q\r\n', 'ma a N0 J5 v\r\n', 'mn\r\n', 'delete a\r\n', 'flush_all\r\n', 'stats\r\n',
    'gat 10 a\r\n', 'cas a 0 0 1 1\r\nx\r\n', '\r\n', '\n', ' '.repeat(3000), 'get ' + 'k'.repeat(300) + '\r\n', 'verbosity 1\r\n',
  ).map((s) => Buffer.from(s)),
  // binary-protocol headers with random fields
  fc.tuple(fc.integer({ min: 0, max: 0x30 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 400 }))
    .map(([op, klen, elen, blen]) => {
      const h = Buffer.alloc(24 + Math.min(blen, 400));
      h[0] = 0x80;
      h[1] = op;
      h.writeUInt16BE(klen, 2);
      h[4] = elen;
      h.writeUInt32BE(blen, 8);
      return h;
    }),
);

test('the protocol layer survives random input, in random chunks', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(fragments, { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 10 }), (binary, parts, cuts) => {
      const { store, ctx } = setup();
      const { conn, state } = fakeConnection();
      const handler = new CacheConnection(conn, ctx);
      const input = Buffer.concat([binary ? Buffer.from([0x80]) : Buffer.alloc(0), ...parts]);
      let pos = 0;
      for (let i = 0; pos < input.length && !state.destroyed; i++) {
        const n = cuts[i % cuts.length];
        handler.onData(input.subarray(pos, pos + n));
        pos += n;
      }
      handler.onClose();
      assert.ok(state.bytes < 1024 * 1024 + input.length * 64, 'output bounded by input');
      store.lock();
      try {
        store.verify();
      } finally {
        store.unlock();
      }
      const fresh = fakeConnection();
      const h2 = new CacheConnection(fresh.conn, ctx);
      h2.onData(Buffer.from('set z 0 0 1\r\nz\r\nget z\r\n'));
      assert.equal(Buffer.concat(fresh.written).toString(), 'STORED\r\nVALUE z 0 1\r\nz\r\nEND\r\n');
    }),
    { numRuns: 1500 },
  );
});
