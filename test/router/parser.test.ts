import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RequestParser, type ClientCommand } from '../../src/router/protocol/parser.js';
import { replyEnd } from '../../src/router/protocol/reply.js';

/** Parse `input` delivered in the given chunk sizes, as a connection would (keeping unparsed tails). */
function parseChunked(input: Buffer, cuts: number[]): ClientCommand[] {
  const parser = new RequestParser(1024 * 1024);
  const out: ClientCommand[] = [];
  let pending = Buffer.alloc(0);
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length).sort((x, y) => x - y), input.length]) {
    pending = Buffer.concat([pending, input.subarray(at, cut)]);
    at = cut;
    const pos = parser.parse(pending, 0, pending.length, (cmd) => {
      out.push(cmd);
      return true;
    });
    pending = Buffer.from(pending.subarray(pos));
  }
  return out;
}

const describe = (cmds: ClientCommand[]) =>
  cmds.map((c) =>
    c.kind === 'keyed'
      ? `${c.kind}:${c.req.op}:${c.req.key.toString('latin1')}:${c.req.line?.toString('latin1')}:${c.req.data?.toString('latin1') ?? ''}:${c.quiet}`
      : c.kind === 'keys'
        ? `keys:${c.op}:${c.exptime}:${c.keys.map((k) => k.toString('latin1')).join(',')}`
        : c.kind === 'local'
          ? `local:${c.op}:${c.args.join(',')}:${c.quiet}`
          : `error:${c.reply}:${c.close}`,
  );

const key = fc.stringMatching(/^[a-z0-9:_]{1,20}$/);
const value = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1'));
const command = fc.oneof(
  fc.array(key, { minLength: 1, maxLength: 5 }).map((ks) => `get ${ks.join(' ')}\r\n`),
  fc.tuple(key, value, fc.boolean()).map(([k, v, q]) => `set ${k} 5 0 ${v.length}${q ? ' noreply' : ''}\r\n${v}\r\n`),
  fc.tuple(key, value).map(([k, v]) => `ms ${k} ${v.length} T10 q\r\n${v}\r\n`),
  key.map((k) => `mg ${k} v c q\r\n`),
  key.map((k) => `delete ${k}\r\n`),
  key.map((k) => `incr ${k} 5 noreply\r\n`),
  fc.constant('mn\r\n'),
  fc.constant('version\r\n'),
  fc.constant('bogus command\r\n'),
);

test('commands split at any points parse the same as in one piece', () => {
  fc.assert(
    fc.property(fc.array(command, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(2000), { maxLength: 8 }), (cmds, cuts) => {
      const input = Buffer.from(cmds.join(''), 'latin1');
      const whole = describe(parseChunked(input, []));
      assert.equal(whole.length, cmds.length);
      assert.deepEqual(describe(parseChunked(input, cuts)), whole);
    }),
    { numRuns: 500 },
  );
});

test('noreply and meta q are taken off the forwarded line and remembered', () => {
  const [set, ms, mg] = parseChunked(Buffer.from('set k 1 2 3 noreply\r\nabc\r\nms k 1 q T5\r\nx\r\nmg k q v\r\n'), []);
  assert.deepEqual(describe([set, ms, mg]), ['keyed:set:k:set k 1 2 3:abc\r\n:noreply', 'keyed:ms:k:ms k 1 T5:x\r\n:meta', 'keyed:mg:k:mg k v::meta']);
});

test('base64 meta keys route on the decoded key', () => {
  const [cmd] = parseChunked(Buffer.from(`mg ${Buffer.from('user:1').toString('base64')} b v\r\n`), []);
  assert.equal(cmd.kind, 'keyed');
  assert.equal(cmd.kind === 'keyed' && cmd.req.key.toString(), 'user:1');
});

test('malformed requests get memcached\'s error replies; oversized values are refused and skipped', () => {
  const input = Buffer.from(
    [
      'set k 0 0 x\r\n', // bad length
      `get ${'k'.repeat(251)}\r\n`, // key too long
      'set k 0 0\r\n', // too few tokens
      'set big 0 0 2000000\r\n' + 'z'.repeat(2_000_002), // larger than item-size-max: skipped
      'set k 0 0 1\r\nab\r\n', // bad data chunk (memcached skips 3 bytes and reads "\n" as an empty command)
      'delete k 5\r\n',
      'get ok\r\n',
    ].join(''),
    'latin1',
  );
  assert.deepEqual(describe(parseChunked(input, [7, 100, 5000, 1_000_000])), [
    'error:CLIENT_ERROR bad command line format\r\n:false',
    'error:CLIENT_ERROR bad command line format\r\n:false',
    'error:ERROR\r\n:false',
    'error:SERVER_ERROR object too large for cache\r\n:false',
    'error:CLIENT_ERROR bad data chunk\r\n:false',
    'error:ERROR\r\n:false', // the chunk's stray "\n", as memcached answers it
    'error:CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n:false',
    'keys:get:null:ok',
  ]);
});

test('a line without an end closes the connection once past the bound', () => {
  const cmds = parseChunked(Buffer.from('set ' + 'x'.repeat(5000)), [100]);
  assert.deepEqual(describe(cmds), ['error:CLIENT_ERROR line too long\r\n:true']);
  // A long multiget line is allowed to grow (memcached reads large get lines).
  const keys = Array.from({ length: 2000 }, (_, i) => `key${i}`);
  const [get] = parseChunked(Buffer.from(`get ${keys.join(' ')}\r\n`), [3000, 9000]);
  assert.equal(get.kind === 'keys' && get.keys.length, 2000);
});

test('random bytes never throw and always make progress or wait', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 5 }), (bytes, cuts) => {
      parseChunked(Buffer.from(bytes), cuts);
    }),
    { numRuns: 2000 },
  );
});

test('reply framing finds the end of each reply shape, and waits for partial ones', () => {
  const values = Buffer.from('VALUE a 0 3\r\nabc\r\nVALUE b 1 0\r\n\r\nEND\r\nSTORED\r\n');
  assert.equal(replyEnd(values, 0, values.length, 'values'), values.length - 8);
  assert.equal(replyEnd(values, 0, 10, 'values'), -1);
  assert.equal(replyEnd(values, 0, 20, 'values'), -1);
  const meta = Buffer.from('VA 2 c5\r\nhi\r\nEN\r\n');
  assert.equal(replyEnd(meta, 0, meta.length, 'meta'), 13);
  assert.equal(replyEnd(meta, 13, meta.length, 'meta'), meta.length);
  assert.equal(replyEnd(meta, 0, 12, 'meta'), -1);
  const err = Buffer.from('SERVER_ERROR out of memory\r\n');
  assert.equal(replyEnd(err, 0, err.length, 'values'), err.length);
});
