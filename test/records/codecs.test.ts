// Property tests for the records service's codecs: every encoder's output decodes to what was
// encoded, decoders given arbitrary bytes either decode or throw DecodeError, versions parse only
// from their text form, and the tablet helpers agree with simple reference implementations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DecodeError } from '../../src/core/bytes.js';
import { decodeRecord, encodeRecord, recordFields, type StoredRecord } from '../../src/records/record-codec.js';
import { ChangeKind, decodeChange, encodeChange, encodeFence } from '../../src/records/change-codec.js';
import {
  decodeRead,
  decodeReadReply,
  decodeScan,
  decodeScanReply,
  decodeWrite,
  decodeWriteReply,
  encodeRead,
  encodeReadReply,
  encodeReadReplyHead,
  encodeScan,
  encodeScanReply,
  encodeWrite,
  encodeWriteReply,
  type Consistency,
  type ReadRequest,
  type ScanRequest,
  type WriteRequest,
} from '../../src/records/protocol.js';
import { formatVersion, parseVersion, type Version } from '../../src/records/version.js';
import { initialTablets, keyOfStorageKey, positionOf, storageKey, tabletIndexAt, type Tablet } from '../../src/records/tablets.js';
import type { TableDef } from '../../src/records/table-def.js';

// ---------------------------------------------------------------------------------------------
// generators

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u8 = fc.integer({ min: 0, max: 255 });
/** Valid Unicode text (no lone surrogates: those cannot survive UTF-8). */
const text = (maxLength = 24) => fc.string({ unit: 'binary', maxLength });
const region = fc.oneof(fc.constantFrom('local', 'us-east', 'eu_west-2', ''), text(16));
const time = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const version: fc.Arbitrary<Version> = fc.tuple(u32, u32);
const fieldsObject = fc.dictionary(text(12), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 });
const fieldsJson = fieldsObject.map((o) => Buffer.from(JSON.stringify(o), 'utf8'));

const storedRecord: fc.Arbitrary<StoredRecord> = fc.record({
  gen: u32,
  ver: u32,
  master: region,
  origins: fc.array(region, { maxLength: 5 }),
  deleted: fc.boolean(),
  writtenAt: time,
  expiresAt: time,
  fieldsJson,
}).map((r) => ({ ...r })); // fc.record builds null-prototype objects; decoders build plain ones

const consistency = fc.constantFrom(0, 1, 2) as fc.Arbitrary<Consistency>;

function hashDef(tablets = 4): TableDef {
  return { name: 't', kind: 'hash', fields: {}, ttlSeconds: 0, mastership: { migrateAfter: 3 }, homeRegion: 'local', partitions: 2, tablets };
}
const orderedDef: TableDef = { ...hashDef(), kind: 'ordered' };

// ---------------------------------------------------------------------------------------------
// round trips

test('record codec: decodeRecord(encodeRecord(r)) is r, and the fields parse back', () => {
  fc.assert(
    fc.property(storedRecord, (r) => {
      const back = decodeRecord(encodeRecord(r));
      assert.deepEqual(back, r);
      if (!r.deleted) assert.deepEqual(recordFields(back), JSON.parse(r.fieldsJson.toString('utf8')));
    }),
    { numRuns: 1000, seed: 1 },
  );
});

test('record codec: a record of format other than 1 is refused with DecodeError', () => {
  const bytes = encodeRecord({ gen: 1, ver: 1, master: 'm', origins: [], deleted: false, writtenAt: 0, expiresAt: 0, fieldsJson: Buffer.from('{}') });
  bytes[0] = 2;
  assert.throws(() => decodeRecord(bytes), (err: unknown) => err instanceof DecodeError && /unknown record format 2/.test(err.message));
});

test('change codec: changes and fences decode to what was encoded', () => {
  fc.assert(
    fc.property(text(), u32, storedRecord, (writer, incarnation, record) => {
      assert.deepEqual(decodeChange(encodeChange(writer, incarnation, record)), { kind: ChangeKind.change, writer, incarnation, record });
      assert.deepEqual(decodeChange(encodeFence(writer, incarnation)), { kind: ChangeKind.fence, writer, incarnation });
    }),
    { numRuns: 1000, seed: 2 },
  );
});

test('change codec: a fence with trailing bytes and an unknown kind are DecodeErrors', () => {
  assert.throws(() => decodeChange(Buffer.concat([encodeFence('w', 1), Buffer.from([0])])), DecodeError);
  const b = encodeFence('w', 1);
  b[0] = 3;
  assert.throws(() => decodeChange(b), /unknown change kind 3/);
});

test('read request: round trip, with the known record carried only when forwarded', () => {
  const req: fc.Arbitrary<ReadRequest> = fc
    .record({ table: text(), key: text(), consistency, required: version, forwarded: fc.boolean(), known: fc.option(storedRecord) })
    .map((r) => ({ ...r, known: r.forwarded ? r.known : null }));
  fc.assert(
    fc.property(req, (r) => assert.deepEqual(decodeRead(encodeRead(r)), r)),
    { numRuns: 1000, seed: 3 },
  );
  const known: StoredRecord = { gen: 3, ver: 9, master: 'eu', origins: ['us', 'eu'], deleted: false, writtenAt: 5, expiresAt: 0, fieldsJson: Buffer.from('{"a":1}') };
  const fwd = decodeRead(encodeRead({ table: 't', key: 'k', consistency: 2, required: [0, 0], forwarded: true, known }));
  assert.deepEqual(fwd.known, known);
});

test('read request: consistency above 2 and trailing bytes are DecodeErrors', () => {
  const ok = encodeRead({ table: 't', key: 'k', consistency: 0, required: [1, 1], forwarded: false, known: null });
  const bad = Buffer.from(ok);
  bad[0] = 3;
  assert.throws(() => decodeRead(bad), /consistency must be/);
  assert.throws(() => decodeRead(Buffer.concat([ok, Buffer.from([1])])), /unexpected bytes after read request/);
});

test('write request: round trip of writes, replaces, deletes, test-and-set and forwarded copies', () => {
  const req: fc.Arbitrary<WriteRequest> = fc
    .record({
      table: text(),
      key: text(),
      forwarded: fc.boolean(),
      replace: fc.boolean(),
      fieldsJson: fc.option(fieldsJson),
      ifVersion: fc.option(version),
      origin: region,
      known: fc.option(storedRecord),
    })
    .map((r) => ({ ...r, known: r.forwarded ? r.known : null }));
  fc.assert(
    fc.property(req, (r) => assert.deepEqual(decodeWrite(encodeWrite(r)), r)),
    { numRuns: 1000, seed: 4 },
  );
});

test('read and write replies: round trip with and without a record', () => {
  fc.assert(
    fc.property(u8, region, fc.option(storedRecord), version, (status, reg, record, v) => {
      assert.deepEqual(decodeReadReply(encodeReadReply(status, reg, record)), { status, region: reg, record });
      // the fast read path sends a head and the record as stored: the same bytes
      const parts = record ? [encodeReadReplyHead(status, reg), encodeRecord(record)] : [encodeReadReplyHead(status, reg)];
      assert.deepEqual(Buffer.concat(parts), encodeReadReply(status, reg, record));
      assert.deepEqual(decodeWriteReply(encodeWriteReply(status, v, reg, record)), { status, version: v, master: reg, record });
    }),
    { numRuns: 1000, seed: 5 },
  );
});

test('scan request and reply: round trip', () => {
  const req: fc.Arbitrary<ScanRequest> = fc.record({ table: text(), start: text(), end: text(), limit: u32, after: text(), forwarded: fc.boolean(), stopAt: text() }).map((r) => ({ ...r }));
  fc.assert(
    fc.property(req, (r) => assert.deepEqual(decodeScan(encodeScan(r)), r)),
    { numRuns: 1000, seed: 6 },
  );
  const rows = fc.array(fc.record({ key: text(), record: storedRecord }).map((r) => ({ ...r })), { maxLength: 6 });
  fc.assert(
    fc.property(region, rows, text(), (reg, rs, next) => assert.deepEqual(decodeScanReply(encodeScanReply(reg, rs, next)), { region: reg, rows: rs, next })),
    { numRuns: 500, seed: 7 },
  );
});

test('scan reply: a row without a record is a DecodeError', () => {
  const b = Buffer.from([0, 0, 1, 0, 0, 0, 1, 0, 0x6b, 0xff, 0xff, 0xff, 0xff, 0, 0]);
  assert.throws(() => decodeScanReply(b), (err: unknown) => err instanceof DecodeError && /scan row without a record/.test(err.message));
});

// ---------------------------------------------------------------------------------------------
// versions

test('versions: parseVersion(formatVersion(v)) is v for every u32 pair', () => {
  fc.assert(
    fc.property(version, (v) => assert.deepEqual(parseVersion(formatVersion(v)), v)),
    { numRuns: 2000, seed: 8 },
  );
});

test('versions: malformed and out-of-range texts are refused with DecodeError', () => {
  const bad = ['', '1', '1.', '.1', '1.2.3', '-1.2', '1.-2', ' 1.2', '1.2 ', '1,2', 'a.b', '1e3.1', '0x1.1', '1.2\n', '１.１', '4294967296.0', '0.4294967296', '12345678901.1', '1.99999999999', '+1.2'];
  for (const s of bad) assert.throws(() => parseVersion(s), DecodeError, JSON.stringify(s));
});

test('versions: any text either parses to a u32 pair whose text form is it without leading zeros, or throws DecodeError', () => {
  const texts = fc.oneof(text(30), fc.tuple(fc.stringMatching(/^\d{0,12}$/), fc.stringMatching(/^\d{0,12}$/)).map(([a, b]) => `${a}.${b}`));
  fc.assert(
    fc.property(texts, (s) => {
      let v: Version;
      try {
        v = parseVersion(s);
      } catch (err) {
        assert.ok(err instanceof DecodeError, `${JSON.stringify(s)} threw ${(err as Error).name}`);
        return;
      }
      assert.ok(v.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff));
      assert.equal(formatVersion(v), s.replace(/(^|\.)0+(?=\d)/g, '$1'));
    }),
    { numRuns: 3000, seed: 9 },
  );
});

// ---------------------------------------------------------------------------------------------
// decoders against arbitrary bytes

test('decoders: random and mutated bytes either decode or throw DecodeError, never anything else', () => {
  const decoders: Array<[string, (b: Buffer) => unknown]> = [
    ['decodeRecord', decodeRecord],
    ['decodeChange', decodeChange],
    ['decodeRead', decodeRead],
    ['decodeWrite', decodeWrite],
    ['decodeReadReply', decodeReadReply],
    ['decodeWriteReply', decodeWriteReply],
    ['decodeScan', decodeScan],
    ['decodeScanReply', decodeScanReply],
  ];
  const rec: StoredRecord = { gen: 1, ver: 2, master: 'm', origins: ['a', 'b'], deleted: false, writtenAt: 7, expiresAt: 0, fieldsJson: Buffer.from('{"x":1}') };
  const seeds = [
    encodeRecord(rec),
    encodeChange('w', 1, rec),
    encodeFence('w', 1),
    encodeRead({ table: 't', key: 'k', consistency: 1, required: [1, 1], forwarded: true, known: rec }),
    encodeWrite({ table: 't', key: 'k', forwarded: true, replace: false, fieldsJson: Buffer.from('{}'), ifVersion: [1, 1], origin: 'o', known: rec }),
    encodeReadReply(1, 'r', rec),
    encodeWriteReply(0, [1, 2], 'm', rec),
    encodeScan({ table: 't', start: 'a', end: 'b', limit: 5, after: 'x', forwarded: true, stopAt: 'y' }),
    encodeScanReply('r', [{ key: 'k', record: rec }, { key: 'l', record: rec }], 'next'),
  ];
  // Valid encodings cut, extended or overwritten reach deeper than pure noise.
  const mutated = fc
    .tuple(fc.constantFrom(...seeds), fc.nat(), fc.uint8Array({ maxLength: 12 }), fc.constantFrom('cut', 'append', 'overwrite'))
    .map(([seed, at, bytes, how]) => {
      const pos = at % seed.length;
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
    }),
    { numRuns: 5000, seed: 10 },
  );
});

test('decoders: a scan reply announcing 2^32-1 rows in a few bytes fails at once', () => {
  const b = Buffer.from([0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0]);
  assert.throws(() => decodeScanReply(b), DecodeError);
});

// ---------------------------------------------------------------------------------------------
// tablets

function tabletsFrom(lows: string[]): Tablet[] {
  return lows.map((low, id) => ({ id, low, owners: {} }));
}

function linearIndex(tablets: Tablet[], position: string): number {
  let found = 0;
  for (let i = 0; i < tablets.length; i++) if (tablets[i].low <= position) found = i;
  return found;
}

test('tabletIndexAt agrees with a linear search over random sorted boundaries', () => {
  const lows = fc.uniqueArray(text(6).filter((s) => s !== ''), { maxLength: 40 }).map((a) => ['', ...a.sort()]);
  const position = fc.oneof(text(7), fc.constantFrom('', '\uffff', '\u0000'));
  fc.assert(
    fc.property(lows, fc.array(position, { minLength: 1, maxLength: 10 }), (ls, positions) => {
      const tablets = tabletsFrom(ls);
      for (const p of [...positions, ...ls]) assert.equal(tabletIndexAt(tablets, p), linearIndex(tablets, p), `position ${JSON.stringify(p)}`);
    }),
    { numRuns: 2000, seed: 11 },
  );
});

test('storageKey / keyOfStorageKey round trip for hash and ordered tables; hash keys sort by position first', () => {
  fc.assert(
    fc.property(text(40), text(40), (a, b) => {
      for (const def of [hashDef(), orderedDef]) {
        assert.equal(keyOfStorageKey(def, storageKey(def, a)), a);
        assert.ok(storageKey(def, a).startsWith(positionOf(def, a)));
      }
      const h = hashDef();
      const pa = positionOf(h, a);
      const pb = positionOf(h, b);
      assert.match(pa, /^[0-9a-f]{8}$/);
      if (pa < pb) assert.ok(storageKey(h, a) < storageKey(h, b));
    }),
    { numRuns: 2000, seed: 12 },
  );
});

test('initialTablets covers the whole hash space in order, each tablet an equal slice', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4096 }), fc.array(u32, { minLength: 1, maxLength: 20 }), (n, hashes) => {
      const tablets = initialTablets(hashDef(n));
      assert.equal(tablets.length, n);
      assert.equal(tablets[0].low, '');
      tablets.forEach((t, i) => {
        assert.equal(t.id, i);
        if (i > 0) {
          assert.match(t.low, /^[0-9a-f]{8}$/);
          assert.ok(tablets[i - 1].low < t.low, 'lows strictly increase');
        }
      });
      for (const h of [0, 0xffffffff, ...hashes]) {
        const i = tabletIndexAt(tablets, h.toString(16).padStart(8, '0'));
        assert.ok(Math.floor((i * 2 ** 32) / n) <= h, `hash ${h} at or above tablet ${i}'s start`);
        assert.ok(i === n - 1 || h < Math.floor(((i + 1) * 2 ** 32) / n), `hash ${h} below tablet ${i + 1}'s start`);
      }
    }),
    { numRuns: 300, seed: 13 },
  );
  assert.deepEqual(initialTablets(orderedDef), [{ id: 0, low: '', owners: {} }]);
});
