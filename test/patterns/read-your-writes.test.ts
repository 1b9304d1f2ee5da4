import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../src/core/clock.js';
import { ReadYourWrites, type Replica } from '../../src/patterns/read-your-writes.js';

const clock = new ManualClock();
const SECRET = 'a test secret of 32 bytes length';
let pickIndex = 0; // which eligible replica the injected random picks
const ryw = new ReadYourWrites({ secret: [SECRET, 'an older secret, still accepted'], clock, random: () => pickIndex / 10 });
class FakeReplica implements Replica {
  constructor(
    readonly name: string,
    public applied: bigint,
  ) {}
  appliedVersion(): bigint {
    return this.applied;
  }
}
const replicas = [new FakeReplica('r1', 40n), new FakeReplica('r2', 42n)];

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, next: (err?: unknown) => void) => void;

/** Connect/Express-style chaining of (req, res, next) middleware on a plain node:http server. */
function chain(...stack: Handler[]): http.RequestListener {
  return (req, res) => {
    const run = (i: number) => (err?: unknown) => {
      if (err) return void res.writeHead(500).end(String(err));
      stack[i]?.(req, res, run(i + 1));
    };
    run(0)();
  };
}

const app: Handler = (req, res, next) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.searchParams.has('version')) ryw.rememberVersion(res, BigInt(url.searchParams.get('version')!));
  const body = JSON.stringify({
    target: ryw.readTarget(req),
    pickedReplica: (ryw.pickReplica(req, replicas, { name: 'primary' }) as { name: string }).name,
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  next();
};
const sessionCookie: Handler = (_req, res, next) => (res.setHeader('set-cookie', ['session=abc; Path=/']), next());

const server = http.createServer(chain(sessionCookie, ryw.pinAfterWrite, app));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function call(method: string, path = '/', cookies: string[] = []) {
  const res = await fetch(base + path, { method, headers: cookies.length ? { cookie: cookies.join('; ') } : {} });
  const setCookies = res.headers.getSetCookie();
  const body = method === 'HEAD' ? null : ((await res.json()) as { target: string; pickedReplica: string });
  return { body, setCookies, cookie: (name: string) => setCookies.find((c) => c.startsWith(`${name}=`))?.split(';')[0] };
}

test('a write sets a signed strata_pin cookie for 15 s, keeping other cookies; reads with it go to the primary until then', async () => {
  const post = await call('POST');
  assert.equal(post.body?.target, 'primary');
  const until = clock.nowMs() + 15_000;
  const set = post.setCookies.find((c) => c.startsWith('strata_pin='))!;
  assert.match(set, new RegExp(`^strata_pin=${until}\\.[A-Za-z0-9_-]{43}; Max-Age=15; Path=/; HttpOnly; SameSite=Lax$`));
  assert.ok(post.setCookies.includes('session=abc; Path=/'), 'the earlier Set-Cookie is kept');
  const pin = post.cookie('strata_pin')!;

  assert.equal((await call('GET', '/', [pin, 'session=abc'])).body?.target, 'primary');
  clock.advance(14_999);
  assert.equal((await call('GET', '/', [pin])).body?.target, 'primary');
  clock.advance(1);
  assert.equal((await call('GET', '/', [pin])).body?.target, 'replica');
  assert.equal((await call('GET')).body?.target, 'replica');
});

test('GET, HEAD and OPTIONS do not pin; PUT, PATCH and DELETE do', async () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS']) assert.equal((await call(method)).cookie('strata_pin'), undefined, method);
  for (const method of ['PUT', 'PATCH', 'DELETE']) assert.ok((await call(method)).cookie('strata_pin'), method);
});

test('a forged, re-signed or malformed pin does not pin; a pin signed with an older listed secret does', async () => {
  const pin = (await call('POST')).cookie('strata_pin')!;
  const [, payload, sig] = /^strata_pin=(\d+)\.(.+)$/.exec(pin)!;
  const forged = `strata_pin=${Number(payload) + 3_600_000}.${sig}`;
  const other = new ReadYourWrites({ secret: 'somebody else secret 32 bytes lo', clock });
  const older = new ReadYourWrites({ secret: 'an older secret, still accepted', clock });
  const stamp = async (r: ReadYourWrites) => {
    const res = { headers: {} as Record<string, string | string[]>, getHeader: (n: string) => res.headers[n], setHeader: (n: string, v: string | string[]) => (res.headers[n] = v) };
    r.pinAfterWrite({ method: 'POST', headers: {} }, res, () => {});
    return String((res.headers['set-cookie'] as string[])[0]).split(';')[0];
  };
  for (const bad of [forged, await stamp(other), 'strata_pin=abc', 'strata_pin=', `strata_pin=${payload}`]) {
    assert.equal((await call('GET', '/', [bad])).body?.target, 'replica', bad);
  }
  assert.equal((await call('GET', '/', [await stamp(older)])).body?.target, 'primary');
  assert.equal((await call('GET', '/', ['strata_pin=junk', pin])).body?.target, 'primary', 'a valid one among several counts');
});

test('version tokens: reads go to a replica that has applied the written version, else to the primary', async () => {
  const ver = (await call('POST', '/?version=42')).cookie('strata_ver')!;
  assert.match(ver, /^strata_ver=42\.\d+\.[A-Za-z0-9_-]{43}$/);
  pickIndex = 0;
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'r2'); // r1 has applied only 40
  replicas[1].applied = 41n;
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'primary');
  replicas[0].applied = 45n;
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'r1');
  // Without a token any replica will do (the injected random picks the second).
  pickIndex = 5;
  assert.equal((await call('GET')).body?.pickedReplica, 'r2');
  // The token expires after versionMaxAgeMs (5 min), so a lost version cannot pin reads forever.
  pickIndex = 0;
  replicas[0].applied = 0n;
  replicas[1].applied = 0n;
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'primary');
  clock.advance(300_000);
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'r1');
});

test('version tokens: versions beyond 2^53 compare exactly; a tampered version is ignored', async () => {
  const big = 2n ** 60n + 1n;
  const ver = (await call('POST', `/?version=${big}`)).cookie('strata_ver')!;
  replicas[0].applied = big - 1n;
  replicas[1].applied = big;
  pickIndex = 0;
  assert.equal((await call('GET', '/', [ver])).body?.pickedReplica, 'r2');
  const tampered = ver.replace(`=${big}.`, `=${big * 10n}.`); // accepted, it would send the read to the primary
  assert.equal((await call('GET', '/', [tampered])).body?.pickedReplica, 'r1'); // ignored: no token, any replica
});

test('secrets shorter than 16 bytes are refused', () => {
  assert.throws(() => new ReadYourWrites({ secret: 'short' }), /16 bytes/);
});
