import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { memcachedAndStrata } from '../helpers/peers.js';

/**
 * Binary protocol: the same requests to memcached 1.6.18 and to Strata give the same reply
 * packets, byte for byte, except CAS values, which are compared by identity.
 */

interface Req {
  op: number;
  key?: string;
  extras?: Buffer;
  value?: Buffer | string;
  cas?: bigint;
  opaque?: number;
}

function packet(r: Req): Buffer {
  const key = Buffer.from(r.key ?? '');
  const extras = r.extras ?? Buffer.alloc(0);
  const value = Buffer.from(r.value ?? '');
  const h = Buffer.alloc(24);
  h[0] = 0x80;
  h[1] = r.op;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(r.opaque ?? 0x01020304, 12);
  h.writeBigUInt64BE(r.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

const setExtras = (flags: number, exptime: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags, 0);
  b.writeUInt32BE(exptime, 4);
  return b;
};
const deltaExtras = (delta: bigint, initial: bigint, exptime: number) => {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(exptime, 16);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

const NOOP_OPAQUE = 0xfeedface;

/**
 * Send each request followed by a noop and wait for the noop's reply before the next one, so
 * that both servers have sent every reply before the next request arrives. (Pipelining would
 * make memcached's own output depend on timing: an item still referenced by an unsent get reply
 * is copied by incr instead of changed in place.) Returns the reply packets, CAS normalized.
 */
async function exchange(port: number, reqs: Buffer[]): Promise<string[]> {
  const socket = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  const packets: string[] = [];
  const casIds = new Map<string, number>();
  let closed = false;
  let wake: (() => void) | null = null;
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  socket.on('close', () => {
    closed = true;
    wake?.();
  });
  socket.on('error', () => {});
  /** Read packets until the noop's reply; false when the connection closed or timed out first. */
  const untilNoop = async (): Promise<boolean> => {
    const deadline = Date.now() + 3000;
    for (;;) {
      while (buf.length >= 24 && buf.length >= 24 + buf.readUInt32BE(8)) {
        const len = 24 + buf.readUInt32BE(8);
        const p = Buffer.from(buf.subarray(0, len));
        buf = buf.subarray(len);
        const cas = p.readBigUInt64BE(16).toString();
        if (cas !== '0' && !casIds.has(cas)) casIds.set(cas, casIds.size + 1);
        p.writeBigUInt64BE(cas === '0' ? 0n : BigInt(casIds.get(cas)!), 16);
        if (p[1] === 0x0a && p.readUInt32BE(12) === NOOP_OPAQUE) return true;
        // Version and stat replies carry server-specific text.
        packets.push(p[1] === 0x0b || p[1] === 0x10 ? p.subarray(0, 8).toString('hex') : p.toString('hex'));
      }
      if (closed) {
        packets.push('<closed>');
        return false;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        packets.push('<timeout>');
        return false;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(t);
          wake = null;
          resolve();
        };
      });
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    for (const req of reqs) {
      socket.write(Buffer.concat([req, packet({ op: 0x0a, opaque: NOOP_OPAQUE })]));
      if (!(await untilNoop())) break;
    }
  } finally {
    socket.destroy();
  }
  return packets;
}

const CASES: Array<[string, Req[]]> = [
  ['set get', [{ op: 0x01, key: 'a', extras: setExtras(5, 0), value: 'hello' }, { op: 0x00, key: 'a' }]],
  ['getk getq getkq', [{ op: 0x01, key: 'a', extras: setExtras(1, 0), value: 'v' }, { op: 0x0c, key: 'a' }, { op: 0x09, key: 'nope' }, { op: 0x0d, key: 'nope' }, { op: 0x0d, key: 'a' }, { op: 0x0c, key: 'nope' }]],
  ['get miss', [{ op: 0x00, key: 'nope' }]],
  ['add/replace', [{ op: 0x02, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x02, key: 'a', extras: setExtras(0, 0), value: '2' }, { op: 0x03, key: 'b', extras: setExtras(0, 0), value: '3' }, { op: 0x03, key: 'a', extras: setExtras(0, 0), value: '4' }, { op: 0x00, key: 'a' }]],
  ['quiet sets', [{ op: 0x11, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x12, key: 'a', extras: setExtras(0, 0), value: '2' }, { op: 0x13, key: 'zz', extras: setExtras(0, 0), value: '3' }, { op: 0x00, key: 'a' }]],
  ['append/prepend', [{ op: 0x01, key: 'a', extras: setExtras(3, 0), value: 'b' }, { op: 0x0e, key: 'a', value: 'c' }, { op: 0x0f, key: 'a', value: 'a' }, { op: 0x0e, key: 'nope', value: 'x' }, { op: 0x00, key: 'a' }]],
  ['delete', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x04, key: 'a' }, { op: 0x04, key: 'a' }, { op: 0x14, key: 'a' }]],
  ['incr/decr', [{ op: 0x05, key: 'n', extras: deltaExtras(1n, 10n, 0) }, { op: 0x05, key: 'n', extras: deltaExtras(5n, 0n, 0) }, { op: 0x06, key: 'n', extras: deltaExtras(100n, 0n, 0) }, { op: 0x05, key: 'm', extras: deltaExtras(1n, 0n, 0xffffffff) }, { op: 0x15, key: 'n', extras: deltaExtras(1n, 0n, 0) }, { op: 0x00, key: 'n' }]],
  ['incr non-numeric', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: 'x' }, { op: 0x05, key: 'a', extras: deltaExtras(1n, 0n, 0) }]],
  ['incr wrap', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: '18446744073709551615' }, { op: 0x05, key: 'a', extras: deltaExtras(2n, 0n, 0) }]],
  ['cas mismatch', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x01, key: 'a', extras: setExtras(0, 0), value: '2', cas: 999999999999n }, { op: 0x01, key: 'nope', extras: setExtras(0, 0), value: '2', cas: 999999999999n }, { op: 0x04, key: 'a', cas: 999999999999n }]],
  ['touch gat', [{ op: 0x01, key: 'a', extras: setExtras(7, 0), value: 'v' }, { op: 0x1c, key: 'a', extras: u32(100) }, { op: 0x1d, key: 'a', extras: u32(100) }, { op: 0x23, key: 'a', extras: u32(100) }, { op: 0x1e, key: 'nope', extras: u32(1) }, { op: 0x1c, key: 'nope', extras: u32(1) }]],
  ['flush', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x08 }, { op: 0x00, key: 'a' }, { op: 0x18 }]],
  ['version noop', [{ op: 0x0b }, { op: 0x0a }]],
  ['verbosity', [{ op: 0x1b, extras: u32(1) }]],
  ['unknown opcode', [{ op: 0x30, key: 'x', value: 'yy' }, { op: 0x00, key: 'nope' }]],
  ['too large', [{ op: 0x01, key: 'a', extras: setExtras(0, 0), value: '1' }, { op: 0x01, key: 'a', extras: setExtras(0, 0), value: Buffer.alloc(1024 * 1024) }, { op: 0x00, key: 'a' }]],
  ['get with extras is invalid', [{ op: 0x00, key: 'a', extras: u32(1) }]],
  ['set without extras is invalid', [{ op: 0x01, key: 'a', value: 'x' }]],
  ['key too long', [{ op: 0x00, key: 'k'.repeat(251) }]],
  ['quit', [{ op: 0x07 }]],
  ['quitq', [{ op: 0x17 }]],
  ['stat', [{ op: 0x10, key: 'nosuchgroup' }]],
];

const peers = memcachedAndStrata();

async function both(reqs: Buffer[]) {
  const flush = packet({ op: 0x18 });
  const expected = await exchange(peers.memcached.port, [flush, ...reqs]);
  const actual = await exchange(peers.strata.port, [flush, ...reqs]);
  return { expected, actual };
}

for (const [name, reqs] of CASES) {
  test(`binary differential: ${name}`, async () => {
    const { expected, actual } = await both(reqs.map(packet));
    assert.deepEqual(actual, expected);
  });
}

test('binary differential: random request sequences', async () => {
  const key = fc.constantFrom('a', 'b', 'n');
  const req: fc.Arbitrary<Req> = fc.oneof(
    fc.tuple(fc.constantFrom(0x01, 0x02, 0x03, 0x11, 0x12, 0x13), key, fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0, 100, 0xffffffff), fc.constantFrom('', '1', '42', 'xyz', '18446744073709551615'))
      .map(([op, k, flags, exp, v]) => ({ op, key: k, extras: setExtras(flags, exp), value: v })),
    fc.tuple(fc.constantFrom(0x00, 0x09, 0x0c, 0x0d, 0x04, 0x14), key).map(([op, k]) => ({ op, key: k })),
    fc.tuple(fc.constantFrom(0x0e, 0x0f, 0x19, 0x1a), key, fc.constantFrom('', 'x', '9')).map(([op, k, v]) => ({ op, key: k, value: v })),
    fc.tuple(fc.constantFrom(0x05, 0x06, 0x15, 0x16), key, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constantFrom(0, 0xffffffff))
      .map(([op, k, d, i, e]) => ({ op, key: k, extras: deltaExtras(d, i, e) })),
    fc.tuple(fc.constantFrom(0x1c, 0x1d, 0x1e, 0x23, 0x24), key).map(([op, k]) => ({ op, key: k, extras: u32(100) })),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(req, { minLength: 1, maxLength: 15 }), async (reqs) => {
      const { expected, actual } = await both(reqs.map(packet));
      assert.deepEqual(actual, expected, JSON.stringify({ expected, actual }, null, 1));
    }),
    { numRuns: 100 },
  );
});
