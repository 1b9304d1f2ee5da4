import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type RealMemcached } from '../helpers/memcached.js';
import { startStrataCache } from '../helpers/strata.js';
import { TextSession, CasNormalizer } from '../helpers/text-session.js';
import type { CacheService } from '../../src/cache/server.js';

/**
 * The same command sequences go to Debian's memcached 1.6.18 and to Strata; the replies must be
 * the same bytes (CAS values compared by identity, see CasNormalizer). A case is a list of steps
 * sent one after another on one connection; `{CAS}` in a step is replaced by the last CAS that
 * server returned.
 */
const K250 = 'k'.repeat(250);
const K251 = 'k'.repeat(251);

export const CASES: Array<[string, string[]]> = [
  ['unknown command', ['bogus foo\r\n']],
  ['uppercase GET', ['GET foo\r\n']],
  ['empty line', ['\r\n']],
  ['bare LF line', ['\n']],
  ['space line', [' \r\n']],
  ['single char command', ['x\r\n']],
  ['set ok', ['set a 5 0 3\r\nabc\r\n']],
  ['get hit', ['set a 5 0 3\r\nabc\r\nget a\r\n']],
  ['gets hit', ['set a 5 0 3\r\nabc\r\ngets a\r\n']],
  ['get miss', ['get nope\r\n']],
  ['get LF only', ['set a 0 0 1\r\nx\r\nget a\n']],
  ['multiget', ['set a 1 0 1\r\nA\r\nset b 2 0 2\r\nBB\r\nget a nope b a\r\n']],
  ['multiget extra spaces', ['set a 1 0 1\r\nA\r\nget   a    a  \r\n']],
  ['key 250 ok', [`set ${K250} 0 0 1\r\nx\r\nget ${K250}\r\n`]],
  ['set key 251', [`set ${K251} 0 0 1\r\nx\r\n`]],
  ['get key 251', [`get ${K251}\r\n`]],
  ['multiget with a key 251', [`set a 0 0 1\r\nx\r\nget a ${K251}\r\n`]],
  ['bad data chunk', ['set a 0 0 3\r\nabcd\r\n']],
  ['bad data chunk noreply', ['set u 0 0 1 noreply\r\nxyz\r\n']],
  ['negative length', ['set a 0 0 -1\r\n']],
  ['huge length', ['set a 0 0 4294967295\r\n', 'set a 0 0 2147483647\r\n']],
  ['non-numeric flags', ['set a x 0 1\r\nz\r\n']],
  ['flags edge values', ['set f 4294967296 0 1\r\nx\r\nget f\r\n', 'set f 4294967295 0 1\r\nx\r\nget f\r\n', 'set f -1 0 1\r\nx\r\n', 'set f +5 0 1\r\nx\r\nget f\r\n']],
  ['flags with tab', ['set f 5\t 0 1\r\nx\r\nget f\r\n']],
  ['exptime edge values', ['set f 5 4294967296 1\r\nx\r\nget f\r\n', 'set f 5 -1 1\r\nx\r\nget f\r\n', 'set g 0 100 1\r\nx\r\nget g\r\n', 'set h 0 2592001 1\r\nx\r\nget h\r\n']],
  ['too few tokens set', ['set a 0 0\r\n']],
  ['too many tokens set', ['set a 0 0 1 noreply extra\r\nx\r\n']],
  ['set bogus noreply token', ['set f 5 0 1 bogus\r\nx\r\nget f\r\n']],
  ['noreply set then get', ['set nr 0 0 1 noreply\r\n1\r\nget nr\r\n']],
  ['zero length value', ['set z 0 0 0\r\n\r\nget z\r\n']],
  ['binary-safe value', ['set b 0 0 6\r\na\r\nb\x00c\r\nget b\r\n']],
  ['add existing', ['set a 0 0 1\r\n1\r\nadd a 0 0 1\r\n2\r\nget a\r\n']],
  ['add missing', ['add new 3 0 1\r\n2\r\nget new\r\n']],
  ['add noreply', ['add n 0 0 1 noreply\r\n1\r\nadd n 0 0 1 noreply\r\n2\r\nget n\r\n']],
  ['replace missing', ['replace nope 0 0 1\r\n1\r\n']],
  ['replace hit', ['set r 1 0 1\r\n1\r\nreplace r 2 0 2\r\n22\r\nget r\r\n']],
  ['append missing', ['append nope 0 0 1\r\n1\r\n']],
  ['append/prepend', ['set ap 7 0 2\r\nbc\r\nappend ap 0 0 1\r\nd\r\nprepend ap 9 0 1\r\na\r\nget ap\r\n']],
  ['cas missing item', ['cas nope 0 0 1 123\r\n1\r\n']],
  ['cas no token', ['cas a 0 0 1\r\n1\r\n']],
  ['cas bad token', ['set c 0 0 1\r\nx\r\ncas c 0 0 1 abc\r\nx\r\n', 'cas c 0 0 1 -1\r\nx\r\n']],
  ['cas flow', ['set c 0 0 1\r\nx\r\ngets c\r\n', 'cas c 0 0 1 {CAS}\r\ny\r\ncas c 0 0 1 {CAS}\r\nz\r\ngets c\r\n']],
  ['cas noreply', ['set c 0 0 1\r\nx\r\ngets c\r\n', 'cas c 0 0 1 {CAS} noreply\r\ny\r\ncas c 0 0 1 {CAS} noreply\r\nz\r\nget c\r\n']],
  ['incr non-numeric', ['set t 0 0 2\r\nhi\r\nincr t 1\r\n']],
  ['incr bad delta', ['set n 0 0 1\r\n1\r\nincr n abc\r\nincr n -1\r\nincr n 0x10\r\n']],
  ['incr delta bounds', ['set n 0 0 2\r\n10\r\nincr n 18446744073709551616\r\n', 'incr n 18446744073709551615\r\n']],
  ['incr missing', ['incr nope 1\r\ndecr nope 1\r\n']],
  ['decr below zero', ['set n 0 0 1\r\n5\r\ndecr n 10\r\n']],
  ['incr wrap', ['set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n']],
  ['incr grows value', ['set n 3 0 2\r\n99\r\nincr n 1\r\ngets n\r\n']],
  ['decr pads with spaces', ['set n 0 0 3\r\n100\r\ndecr n 95\r\nget n\r\n']],
  ['incr value with spaces', ['set n 0 0 3\r\n 10\r\nincr n 1\r\n', 'set n 0 0 3\r\n10 \r\nincr n 1\r\n']],
  ['incr empty and long values', ['set n 0 0 0\r\n\r\nincr n 1\r\n', 'set n 0 0 21\r\n184467440737095516150\r\nincr n 1\r\n']],
  ['incr noreply', ['set n 0 0 1\r\n1\r\nincr n 5 noreply\r\nget n\r\n']],
  ['incr wrong arg count', ['incr\r\n', 'incr n\r\n', 'incr n 1 noreply x\r\n']],
  ['delete hit/miss', ['set d 0 0 1\r\n1\r\ndelete d\r\ndelete d\r\n']],
  ['delete with time 0', ['set d 0 0 1\r\n1\r\ndelete d 0\r\n']],
  ['delete with time 10', ['set d 0 0 1\r\n1\r\ndelete d 10\r\n']],
  ['delete variants', ['set d 0 0 1\r\n1\r\ndelete d 0 noreply\r\nget d\r\n', 'delete d noreply\r\ndelete d 10 noreply\r\ndelete d 0 0\r\ndelete\r\n']],
  ['touch hit/miss', ['set t 0 0 1\r\n1\r\ntouch t 10\r\ntouch nope 10\r\n']],
  ['touch bad exptime', ['set t 0 0 1\r\n1\r\ntouch t abc\r\ntouch t\r\n']],
  ['touch negative expires', ['set t 0 0 1\r\n1\r\ntouch t -1\r\nget t\r\n']],
  ['gat/gats', ['set g 3 0 1\r\n1\r\ngat 100 g nope\r\ngats 100 g\r\n']],
  ['gat errors', ['gat abc f\r\ngat\r\ngat 10\r\n']],
  ['get without key', ['get\r\ngets\r\n']],
  ['flush_all', ['flush_all\r\nflush_all 0\r\nflush_all noreply\r\nflush_all bad\r\n']],
  ['flush_all empties', ['set a 0 0 1\r\n1\r\nflush_all\r\nget a\r\nset a 0 0 1\r\n2\r\nget a\r\n']],
  ['flush_all arg count', ['flush_all 1 2 3\r\n']],
  ['verbosity', ['verbosity 1\r\nverbosity\r\nverbosity x\r\n']],
  ['verbosity noreply', ['verbosity noreply\r\nverbosity 1 noreply\r\n']],
  ['version', ['version\r\n']],
  ['stats reset', ['stats reset\r\n']],
  ['stats detail usage', ['stats detail\r\n']],
  ['stats bogus', ['stats bogus\r\n']],
  ['stats sizes', ['stats sizes\r\n']],
  ['shutdown not enabled', ['shutdown\r\n', 'shutdown graceful\r\n']],
  ['NUL in line', ['get a\x00 b\r\n']],
  ['quit', ['set q 0 0 1\r\n1\r\nquit\r\n']],
  ['http garbage', ['GET / HTTP/1.0\r\n']],
  ['http garbage after a command', ['set h 0 0 1\r\n1\r\nget h\r\nGET / HTTP/1.1\r\n']],
  ['long line without newline', ['set h 0 0 1\r\n1\r\nincr ' + ' '.repeat(3000)]],
  ['long get line', ['set h 0 0 1\r\n1\r\nget' + ' h'.repeat(2000) + '\r\n']],
  // meta
  ['meta mn', ['mn\r\n']],
  ['meta ms/mg', ['ms mk 2 T0 F7\r\nhi\r\nmg mk v f t c s k\r\nmg missing v\r\nmg missing v q\r\n']],
  ['meta md/ma', ['ms cnt 1\r\n5\r\nma cnt v\r\nma cnt MD D10 v\r\nma nokey\r\nma nokey N0 J42 v\r\nmd cnt\r\nmd cnt\r\nmd cnt q\r\n']],
  ['meta me', ['ms mek 1\r\nx\r\nme mek\r\nme nokey\r\nme\r\n']],
  ['meta opaque/base64', ['ms Zm9v 1 b O123\r\nx\r\nmg Zm9v b v k O456\r\n']],
  ['meta bad base64', ['mg Zm9v= b v\r\nmg !!!! b v\r\n']],
  ['meta bad flag', ['mg mk !\r\nmg mk v x\r\n']],
  ['meta duplicate flag', ['mg mk v v\r\n']],
  ['meta no key', ['mg\r\nms\r\nmd\r\nma\r\n']],
  ['meta mg no flags', ['ms mk 2\r\nhi\r\nmg mk\r\nmg nokey\r\n']],
  ['meta mg quiet', ['ms mk 2\r\nhi\r\nmg mk s v f Oabc q k\r\nmg mk2 s v q\r\n']],
  ['meta mg h l t', ['ms mk 2\r\nhi\r\nmg mk h l t\r\nmg mk h l\r\n']],
  ['meta mg opaque too long', ['ms mk 2\r\nhi\r\nmg mk O123456789012345678901234567890123\r\nmg nokey O123456789012345678901234567890123\r\n']],
  ['meta mg key too long', [`mg ${K251} v\r\n`]],
  ['meta N vivify win', ['mg viv s c v N30 t\r\nmg viv s c v N30 t\r\n']],
  ['meta R recache', ['ms mk 2 T10\r\nyo\r\nmg mk R30 v t\r\nmg mk R30 v t\r\n', 'ms mk 2\r\nyo\r\nmg mk R30 v t\r\n']],
  ['meta md I stale', ['ms mk 2\r\nhi\r\nmd mk I T30\r\nmg mk c v t\r\nmg mk c v t\r\nms mk 2\r\nyo\r\nmg mk v c\r\n']],
  ['meta md I missing', ['md nokey I T30\r\n']],
  ['meta ms modes', ['ms mk 2 MZ\r\nhi\r\n', 'ms mk 2 MA\r\nhi\r\n', 'ms mk 2 ME\r\nhi\r\nms mk 2 ME\r\nho\r\nms mk 1 MA\r\n!\r\nms mk 1 MP\r\n<\r\nms mk 2 MR\r\nzz\r\nmg mk v\r\n']],
  ['meta ms length errors', ['ms mk abc\r\nhi\r\n', 'ms mk\r\n', 'ms mk 2 Mxx\r\nhi\r\n']],
  ['meta ms return flags', ['ms mk 2 c k O9\r\nhi\r\nmg mk c\r\n']],
  ['meta ms T and F', ['ms mk 2 T-1\r\nhi\r\nmg mk v\r\n', 'ms mk 2 Tabc\r\nhi\r\n', 'ms mk 2 F-1\r\nhi\r\n', 'ms mk 2 F9\r\nhi\r\nmg mk f\r\n']],
  ['meta ms C', ['ms mk 2 C1\r\nhi\r\n', 'ms mk 2\r\nhi\r\nmg mk c\r\n', 'ms mk 2 C{CAS}\r\nho\r\nms mk 2 C{CAS}\r\nhu\r\nmg mk v\r\n']],
  ['meta ms E unsupported', ['ms mk 2 E99\r\nhi\r\nmg mk c\r\n']],
  ['meta ms S unsupported', ['ms mk 2 S2\r\nhi\r\n']],
  ['meta ms quiet', ['ms mk 2 q\r\nhi\r\nms mk 2 q MA\r\nhi\r\nms nope 2 q MR\r\nhi\r\n']],
  ['meta ms invalidate', ['ms mk 2 I\r\nhi\r\nmg mk v\r\n']],
  ['meta ms stale write after md I', ['ms st 2 T100\r\nhi\r\nmg st c\r\n', 'md st I\r\nmg st c v\r\nms st 2 I C{CAS}\r\nho\r\nmg st v t c\r\nmg st v\r\n']],
  ['meta ms bad chunk', ['ms mk 2\r\nhiX\r\n']],
  ['meta ma modes', ['ms n 2\r\n10\r\nma n MI D5 v c t N0\r\nma n M- D3 v\r\nma n Md v\r\nma n M+ v\r\n', 'ma n Mx\r\n', 'ma n Dabc\r\n']],
  ['meta ma non-numeric', ['ms mk 2\r\nhi\r\nma mk\r\n']],
  ['meta ma quiet', ['ms n 1\r\n1\r\nma n q\r\nma nope q\r\nmg n v\r\n']],
  ['meta ma C', ['ms n 1\r\n1\r\nma n C1 v\r\n']],
  ['meta md C', ['ms n 1\r\n1\r\nmd n C1\r\nmd n q\r\nmd n q\r\n']],
  ['meta md k O', ['ms n 1\r\n1\r\nmd n k O5\r\nmd n k O6\r\n']],
  ['meta mx', ['mx foo\r\n']],
  ['meta mg T touch', ['ms mk 2\r\nhi\r\nmg mk T30 t\r\nmg mk t\r\n']],
  ['meta mg u', ['ms mk 2\r\nhi\r\nmg mk u h\r\nmg mk h\r\n']],
];

let memcached: RealMemcached;
let strata: CacheService;

before(async () => {
  memcached = await startMemcached();
  strata = await startStrataCache();
});

after(async () => {
  await memcached?.stop();
  await strata?.close();
});

/** Run the steps against one server and return the normalized replies. */
export async function runCase(port: number, steps: string[]): Promise<string[]> {
  const session = await TextSession.open(port);
  const cas = new CasNormalizer();
  const out: string[] = [];
  try {
    await session.send('flush_all\r\n');
    for (const step of steps) {
      const req = Buffer.from(step.replaceAll('{CAS}', cas.last || '0'), 'latin1');
      const r = await session.send(req);
      out.push(cas.normalize(r.reply) + (r.closed ? '<closed>' : '') + (r.timedOut ? '<timeout>' : ''));
      if (r.closed) break;
    }
  } finally {
    session.close();
  }
  return out;
}

for (const [name, steps] of CASES) {
  test(`differential: ${name}`, async () => {
    const expected = await runCase(memcached.port, steps);
    const actual = await runCase(strata.port, steps);
    assert.deepEqual(actual, expected);
  });
}
