import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ReplyWriter } from '../../src/net/reply-writer.js';

test('decimal and ascii write what String() would, across slab boundaries', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.maxSafeNat(), fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'x')))), (parts) => {
      const w = new ReplyWriter();
      let expected = '';
      for (const p of parts) {
        if (typeof p === 'number') w.decimal(p);
        else w.ascii(p);
        expected += String(p);
      }
      assert.equal(w.take().toString('latin1'), expected);
    }),
  );
});

test('flushed batches are never overwritten by later writes', () => {
  const w = new ReplyWriter();
  const batches: Buffer[] = [];
  for (let i = 0; i < 5000; i++) {
    w.ascii(`line ${i} `.repeat(1 + (i % 7))).crlf();
    if (i % 3 === 0) w.flush((b) => (batches.push(b), true));
  }
  w.flush((b) => (batches.push(b), true));
  const all = Buffer.concat(batches).toString();
  let expected = '';
  for (let i = 0; i < 5000; i++) expected += `line ${i} `.repeat(1 + (i % 7)) + '\r\n';
  assert.equal(all, expected);
});
