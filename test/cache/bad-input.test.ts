import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { startMemcached } from '../helpers/memcached.js';
import { startStrataCache, collectingLogger } from '../helpers/strata.js';
import { startStrataProcess } from '../helpers/strata-process.js';
import { holdIdleConnections, type IdleConnections } from '../helpers/idle-connections.js';
import { TextSession } from '../helpers/text-session.js';
import { exchange } from '../helpers/raw-client.js';

/**
 * What a cache server meets on an open port: oversized lines, random bytes, clients that vanish,
 * clients that never read, many idle clients, more clients than allowed. The server must stay
 * up and bounded, and where memcached has a behaviour (closing, the refusal text) Strata's is
 * checked against it side by side.
 */

const MiB = 1024 * 1024;

const until = async (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** The last error each socket saw (a reset from the server shows up here). */
const lastError = new WeakMap<net.Socket, NodeJS.ErrnoException>();

function connect(port: number, allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
    s.on('error', (err) => lastError.set(s, err));
  });
}

async function answersVersion(port: number): Promise<boolean> {
  const s = await TextSession.open(port);
  try {
    return (await s.send('version\r\n')).reply.toString().startsWith('VERSION ');
  } finally {
    s.close();
  }
}

async function stats(port: number): Promise<Map<string, string>> {
  const s = await TextSession.open(port);
  try {
    const text = (await s.send('stats\r\n')).reply.toString();
    return new Map([...text.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1], m[2]]));
  } finally {
    s.close();
  }
}

/** curr_connections as the server reports it; the connection asking counts as one. */
const currConnections = async (port: number) => Number((await stats(port)).get('curr_connections'));

/** Wait until only the asking connection is left: every connection a test opened has been released. */
const allReleased = (port: number) => until('the server released every connection', async () => (await currConnections(port)) === 1);

/**
 * Once the server has closed its side: is the socket closed on the server too, or only
 * half-closed? A closed socket answers our writes with a reset (EPIPE/ECONNRESET here); a
 * half-closed one keeps taking them. The socket must have been opened with allowHalfOpen.
 */
async function fullyClosedByServer(s: net.Socket, timeoutMs = 3000): Promise<boolean> {
  const isReset = (err: NodeJS.ErrnoException | undefined) => err?.code === 'EPIPE' || err?.code === 'ECONNRESET';
  await until('the server closes its side', () => s.readableEnded || s.destroyed, timeoutMs);
  if (s.destroyed) return isReset(lastError.get(s));
  return new Promise((resolve) => {
    const done = (closed: boolean) => {
      clearInterval(probe);
      clearTimeout(timer);
      resolve(closed);
    };
    s.on('error', (err: NodeJS.ErrnoException) => done(isReset(err)));
    const probe = setInterval(() => s.write('version\r\n'), 20);
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}

test('a 1 MB line without a newline closes the connection, as memcached does, and the server stays up', async () => {
  const memcached = await startMemcached();
  const { log, lines } = collectingLogger();
  const strata = await startStrataCache({}, undefined, log);
  try {
    const garbage = Buffer.alloc(MiB, 'x');
    for (const [name, port] of [['memcached', memcached.port], ['Strata', strata.port]] as const) {
      const r = await exchange(port, garbage, () => false, 10_000);
      assert.deepEqual([r.closed, r.reply.toString()], [true, ''], `${name} closes at once, answering nothing`);
      // A get line may be long (a big multiget): 1 MB of keys with its newline is answered.
      const keys = Buffer.from(`get ${'k'.repeat(200)} `.repeat(MiB / 206).trimEnd() + '\r\n');
      const g = await exchange(port, keys, (b) => b.toString().endsWith('END\r\n'), 10_000);
      assert.equal(g.reply.toString(), 'END\r\n', `${name} answers a 1 MB multiget line`);
    }
    // memcached buffers a get line without a newline for ever; Strata stops at 1 MiB and closes.
    const endless = Buffer.concat([Buffer.from('get '), Buffer.alloc(MiB + 64 * 1024, 'k')]);
    const r = await exchange(strata.port, endless, () => false, 10_000);
    assert.deepEqual([r.closed, r.reply.toString()], [true, ''], 'an endless get line is cut off');
    assert.ok(await answersVersion(strata.port));
    await allReleased(strata.port);
    assert.deepEqual(lines, [], 'no connection handler failed');
  } finally {
    await memcached.stop();
    await strata.close();
  }
});

test('a binary header announcing a 1 GB body is refused as memcached refuses it, nothing buffered', async () => {
  const memcached = await startMemcached();
  const strata = await startStrataCache();
  try {
    const header = Buffer.alloc(24);
    header[0] = 0x80; // request, opcode 0 = get
    header.writeUInt16BE(3, 2);
    header.writeUInt32BE(1 << 30, 8);
    const request = Buffer.concat([header, Buffer.from('key')]);
    const replies: string[] = [];
    for (const port of [memcached.port, strata.port]) {
      const r = await exchange(port, request, () => false, 5000);
      assert.equal(r.closed, true);
      replies.push(r.reply.toString('hex'));
    }
    assert.equal(replies[1], replies[0]);
    assert.match(Buffer.from(replies[1], 'hex').toString('latin1'), /Invalid arguments$/);
  } finally {
    await memcached.stop();
    await strata.close();
  }
});

/** Bytes that are mostly noise but often look like the start of a request, text or binary. */
const noise = fc.array(
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 600 }),
    fc
      .constantFrom(
        'get ', 'gets a b\r\n', 'set k 0 0 5\r\n', 'set k 0 0 100000\r\n', 'add k 1 2 3 noreply\r\n', 'cas k 0 0 1 99\r\n',
        'incr k 18446744073709551615\r\n', 'touch k -1\r\n', 'mg k v t c f k\r\n', 'ms k 4 T1 I\r\n', 'md k q\r\n',
        'ma k N0 J13 D2\r\n', 'me k\r\n', 'mn\r\n', 'stats\r\n', 'stats detail dump\r\n', 'flush_all 0\r\n', 'verbosity 1\r\n',
        'shutdown\r\n', 'shutdown graceful\r\n', 'GET / HTTP/1.1\r\n', '\r\n', '\n', ' ', 'noreply', '\0',
      )
      .map((s) => Buffer.from(s, 'latin1')),
    fc
      .record({
        opcode: fc.integer({ min: 0, max: 0x30 }),
        keyLen: fc.integer({ min: 0, max: 300 }),
        extLen: fc.integer({ min: 0, max: 40 }),
        extra: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(2 * MiB), fc.constant(0xffffffff)),
        body: fc.uint8Array({ maxLength: 120 }),
      })
      .map(({ opcode, keyLen, extLen, extra, body }) => {
        const h = Buffer.alloc(24);
        h[0] = 0x80;
        h[1] = opcode;
        h.writeUInt16BE(keyLen, 2);
        h[4] = extLen;
        h.writeUInt32BE(Math.min(0xffffffff, keyLen + extLen + extra), 8);
        return Buffer.concat([h, body]);
      }),
  ),
  { minLength: 1, maxLength: 12 },
);

test('random bytes never take the server down (300 runs); every garbage connection is released', async () => {
  const { log, lines } = collectingLogger();
  const strata = await startStrataCache({}, undefined, log);
  try {
    await fc.assert(
      fc.asyncProperty(noise, fc.boolean(), async (pieces, abrupt) => {
        const s = await connect(strata.port);
        s.on('data', () => {});
        const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
        for (const piece of pieces) s.write(piece);
        if (abrupt) s.destroy();
        else s.end();
        await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the server kept a finished connection open')), 5000))]);
        assert.ok(await answersVersion(strata.port), 'a new connection is answered');
      }),
      { numRuns: 300 }, // a new seed each run; a failure prints the seed and path to replay it
    );
    await allReleased(strata.port);
    assert.deepEqual(lines, [], 'no connection handler failed');
  } finally {
    await strata.close();
  }
});

test('clients that vanish in the middle of a value leave nothing stored and nothing held (text and binary, as memcached)', async () => {
  const memcached = await startMemcached();
  const strata = await startStrataCache();
  const ROUNDS = 150;
  try {
    for (const port of [memcached.port, strata.port]) {
      for (let i = 0; i < ROUNDS; i++) {
        const s = await connect(port);
        const key = `vanish:${i}`;
        let head: Buffer;
        if (i % 2 === 0) {
          head = Buffer.from(`set ${key} 0 0 100000\r\n`);
        } else {
          head = Buffer.alloc(24 + 8 + key.length);
          head[0] = 0x80;
          head[1] = 0x01; // set
          head.writeUInt16BE(key.length, 2);
          head[4] = 8;
          head.writeUInt32BE(8 + key.length + 100_000, 8);
          head.write(key, 32, 'latin1');
        }
        // Half the value reaches the server, then the client is gone (FIN or, every third, RST).
        await new Promise<void>((resolve) => s.write(Buffer.concat([head, Buffer.alloc(50_000 + i, 'v')]), () => resolve()));
        if (i % 3 === 0) s.resetAndDestroy();
        else s.destroy();
      }
      await allReleased(port);
      const keys = Array.from({ length: ROUNDS }, (_, i) => `vanish:${i}`);
      const r = await exchange(port, `get ${keys.join(' ')}\r\n`, (b) => b.toString().endsWith('END\r\n'));
      assert.equal(r.reply.toString(), 'END\r\n', `port ${port}: no partial value was stored`);
    }
  } finally {
    await memcached.stop();
    await strata.close();
  }
});

test('a client that never reads cannot make the server buffer without bound; others are still served', async (t) => {
  // In its own process, so its resident memory is Strata's alone.
  const strata = await startStrataProcess(['--cache-threads', '1', '--cache-memory', '64m']);
  const REQUESTS = 2000;
  const value = Buffer.alloc(512 * 1024, 'b');
  const binaryGet = Buffer.alloc(27);
  binaryGet[0] = 0x80; // request, opcode 0 = get
  binaryGet.writeUInt16BE(3, 2);
  binaryGet.writeUInt32BE(3, 8);
  binaryGet.write('big', 24);
  let hog: net.Socket | undefined;
  try {
    const setup = await TextSession.open(strata.cachePort);
    assert.equal((await setup.send(Buffer.concat([Buffer.from(`set big 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]))).reply.toString(), 'STORED\r\n');
    setup.close();
    const hits = async () => Number((await stats(strata.cachePort)).get('get_hits'));
    for (const [protocol, request] of [['text', Buffer.from('get big\r\n')], ['meta', Buffer.from('mg big v\r\n')], ['binary', binaryGet]] as const) {
      const before = strata.rss();
      const hitsBefore = await hits();
      hog = await connect(strata.cachePort);
      hog.pause(); // never reads: 2,000 gets of 512 KiB ask for 1 GiB of replies
      hog.write(Buffer.concat(Array<Buffer>(REQUESTS).fill(request)));
      // Wait until the server has stopped answering the hog (get_hits unchanged over 10 polls),
      // serving another client and sampling the server's memory meanwhile.
      let maxRss = before;
      let answered = -1;
      let still = 0;
      await until(`the server stops answering the ${protocol} hog`, async () => {
        assert.ok(await answersVersion(strata.cachePort), 'another client is served meanwhile');
        maxRss = Math.max(maxRss, strata.rss());
        const now = (await hits()) - hitsBefore;
        still = now === answered && now > 0 ? still + 1 : 0;
        answered = now;
        return still >= 10;
      }, 20_000);
      const grew = (maxRss - before) / MiB;
      t.diagnostic(`${protocol}: the hog was answered ${answered} of ${REQUESTS} gets; RSS grew ${grew.toFixed(1)} MiB`);
      // In flight: up to 4 MiB of replies batched in the connection's writer, a batch handed to
      // the socket, the kernel's socket buffers: a few dozen replies (measured: 8-16), not 2,000.
      assert.ok(answered < REQUESTS / 10, `${protocol}: the server stopped reading the hog's requests (${answered} of ${REQUESTS} answered)`);
      // Bound: 64 MiB. Measured: 0-14 MiB (those batches, V8 heap noise); without backpressure, 1 GiB.
      assert.ok(grew < 64, `${protocol}: RSS grew by ${grew.toFixed(1)} MiB`);
      const other = await TextSession.open(strata.cachePort);
      try {
        assert.equal((await other.send('set k 0 0 1\r\nx\r\nget k\r\n')).reply.toString(), 'STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n');
      } finally {
        other.close();
      }
      hog.destroy();
      await allReleased(strata.cachePort);
    }
  } finally {
    hog?.destroy();
    await strata.stop();
  }
});

test('10,000 idle connections are held, counted and released; the server keeps serving', async (t) => {
  const WANTED = 10_000;
  // Strata and the holder of the idle connections each run with their open-file limit raised.
  const strata = await startStrataProcess(['--cache-threads', '2', '--cache-max-connections', '12000'], { fdLimit: WANTED + 1000 });
  let idle: IdleConnections | undefined;
  try {
    const before = strata.rss();
    idle = await holdIdleConnections(strata.cachePort, WANTED);
    assert.equal(idle.opened, WANTED);
    // Connected means queued in the kernel; wait until the server has accepted them all.
    let curr = 0;
    await until(`curr_connections counts ${WANTED} idle connections`, async () => (curr = await currConnections(strata.cachePort)) >= WANTED + 1);
    assert.equal(curr, WANTED + 1);
    const session = await TextSession.open(strata.cachePort);
    try {
      assert.equal((await session.send('set k 0 0 1\r\nx\r\nget k\r\n')).reply.toString(), 'STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n');
    } finally {
      session.close();
    }
    const perConnection = (strata.rss() - before) / WANTED;
    t.diagnostic(`RSS per idle connection: ${perConnection.toFixed(0)} B`);
    assert.ok(perConnection < 16 * 1024, `memory per idle connection ${perConnection.toFixed(0)} B`);
    assert.equal(await idle.closedByServer(), 0, 'the server closed none of them');
    await idle.close();
    idle = undefined;
    await allReleased(strata.cachePort);
  } finally {
    await idle?.close();
    await strata.stop();
  }
});

/**
 * Open connections until one is refused (at most `max`): how many were accepted, what the
 * refused one was told, and whether the server closed it completely.
 */
async function fillUp(port: number, max: number, held: net.Socket[]) {
  for (let accepted = 0; accepted <= max; accepted++) {
    const s = await connect(port, true);
    held.push(s);
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    // An accepted connection answers a version; a refused one has its error and FIN on the way.
    s.write('version\r\n');
    await until('an answer', () => got.includes('\r\n') || s.readableEnded, 5000);
    if (got.startsWith('VERSION ')) continue;
    return { accepted, refusal: got, fullyClosed: await fullyClosedByServer(s) };
  }
  throw new Error(`no connection was refused among ${max + 1}`);
}

test("connections over the limit get memcached's error and are closed, as memcached -c does", async () => {
  const memcached = await startMemcached(['-c', '20', '-t', '1']);
  const strata1 = await startStrataCache({ maxConnections: 5 });
  const strata2 = await startStrataCache({ maxConnections: 5, threads: 2 });
  const held: net.Socket[] = [];
  try {
    // memcached -c 20 keeps some of its 20 descriptors for itself, so it accepts fewer clients.
    const reference = await fillUp(memcached.port, 20, held);
    assert.deepEqual(
      { refusal: reference.refusal, fullyClosed: reference.fullyClosed },
      { refusal: 'ERROR Too many open connections\r\n', fullyClosed: true },
    );
    for (const [name, port] of [['1 thread', strata1.port], ['2 threads', strata2.port]] as const) {
      const mine: net.Socket[] = [];
      const r = await fillUp(port, 20, mine);
      held.push(...mine);
      assert.deepEqual(r, { accepted: 5, refusal: reference.refusal, fullyClosed: true }, name);
      // A freed slot can be used again.
      mine[0].destroy();
      await until(`${name}: a freed slot is usable`, async () => {
        const again = await exchange(port, 'version\r\n', (b) => b.includes('\r\n'), 5000);
        return again.reply.toString().startsWith('VERSION ');
      });
      for (const s of mine) s.destroy();
    }
  } finally {
    for (const s of held) s.destroy();
    await memcached.stop();
    await strata1.close();
    await strata2.close();
  }
});

test('quit closes the connection completely (a peer that keeps its side open holds nothing), as memcached', async () => {
  const memcached = await startMemcached();
  const strata = await startStrataCache();
  const held: net.Socket[] = [];
  try {
    const binaryQuit = Buffer.alloc(24);
    binaryQuit[0] = 0x80;
    binaryQuit[1] = 0x07;
    for (const [name, port] of [['memcached', memcached.port], ['Strata', strata.port]] as const) {
      for (const quit of [Buffer.from('version\r\nquit\r\n'), binaryQuit]) {
        const s = await connect(port, true);
        held.push(s);
        s.on('data', () => {});
        s.write(quit);
        assert.equal(await fullyClosedByServer(s), true, `${name}: ${quit[0] === 0x80 ? 'binary' : 'text'} quit`);
        await allReleased(port);
      }
    }
  } finally {
    for (const s of held) s.destroy();
    await memcached.stop();
    await strata.close();
  }
});
