import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, appendFileSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteSpool } from '../../src/router/delete-spool.js';
import { Destination, DEFAULT_DESTINATION_OPTIONS } from '../../src/router/destination.js';
import { systemClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/core/log.js';
import { crc32c } from '../../src/core/crc32c.js';
import { startMemcached } from '../helpers/memcached.js';
import { TextSession } from '../helpers/text-session.js';

const dirs: string[] = [];
const log = createLogger('silent');
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'strata-spool-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
});

test('appended deletes survive a reopen; a torn tail is cut back to the last whole record', async () => {
  const dir = tempDir();
  const spool = new DeleteSpool(dir, log);
  await Promise.all(['a', 'b', 'c'].map((k) => spool.append('h:1', Buffer.from(`delete ${k}`))));
  await spool.close();
  const file = path.join(dir, 'h_1.spool');
  assert.equal(new DeleteSpool(dir, log).pending('h:1'), 3);
  appendFileSync(file, Buffer.from([20, 0, 0, 0, 1, 2])); // a record cut short by a crash
  assert.equal(new DeleteSpool(dir, log).pending('h:1'), 3);
  assert.equal(statSync(file).size, 3 * (8 + 8));
  // A corrupt byte in the last record: that record and what follows are dropped.
  const bytes = readFileSync(file);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(file, bytes);
  assert.equal(new DeleteSpool(dir, log).pending('h:1'), 2);
});

test('replay delivers every kept delete in order to the server, then empties the spool', async () => {
  const m = await startMemcached();
  const dest = new Destination('127.0.0.1', m.port, DEFAULT_DESTINATION_OPTIONS, systemClock, log);
  const s = await TextSession.open(m.port);
  try {
    for (let i = 0; i < 250; i++) await s.send(`set k${i} 0 0 1\r\nx\r\n`);
    const dir = tempDir();
    const spool = new DeleteSpool(dir, log);
    for (let i = 0; i < 250; i++) await spool.append(dest.name, Buffer.from(i % 2 ? `delete k${i}` : `md k${i} q`.replace(' q', '')));
    assert.equal(await spool.drain(dest), 250);
    assert.equal(spool.pending(dest.name), 0);
    assert.equal(statSync(path.join(dir, '127.0.0.1_' + m.port + '.spool')).size, 0);
    const left = (await s.send(`get ${Array.from({ length: 250 }, (_, i) => `k${i}`).join(' ')}\r\n`)).reply.toString();
    assert.equal(left, 'END\r\n');
    await spool.close();
  } finally {
    s.close();
    dest.close();
    await m.stop();
  }
});

test('replay stops at a server that does not answer and keeps the rest', async () => {
  const dir = tempDir();
  const spool = new DeleteSpool(dir, log);
  const dest = new Destination('127.0.0.1', 1, { ...DEFAULT_DESTINATION_OPTIONS, failureLimit: 100 }, systemClock, log);
  try {
    for (let i = 0; i < 5; i++) await spool.append(dest.name, Buffer.from(`delete k${i}`));
    assert.equal(await spool.drain(dest), 0);
    assert.equal(spool.pending(dest.name), 5);
  } finally {
    dest.close();
    await spool.close();
  }
});

test('a cursor that does not fit the file is reset to 0 and written back, so it cannot match later records', async () => {
  const dir = tempDir();
  const spool = new DeleteSpool(dir, log);
  for (let i = 0; i < 3; i++) await spool.append('h:2', Buffer.from(`delete key${i}`));
  await spool.close();
  writeFileSync(path.join(dir, 'h_2.cursor'), '999');
  assert.equal(new DeleteSpool(dir, log).pending('h:2'), 3);
  assert.equal(readFileSync(path.join(dir, 'h_2.cursor'), 'latin1'), '0');
});
