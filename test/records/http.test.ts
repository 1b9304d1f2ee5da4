import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startOneRegion } from './helper.js';
import { RecordsClient } from '../../src/records/client.js';
import { RpcCode, RpcError } from '../../src/net/rpc-frame.js';

test('HTTP/JSON: create, put, patch, read with ETag, test-and-set with If-Match, scan with continuation, multiget, delete; tokens required', async (t) => {
  const r = await startOneRegion({ over: { httpPort: 0, tokens: ['s3cret', 'other'] } });
  t.after(() => r.stop());
  const base = `http://127.0.0.1:${r.records.httpPort}`;
  const auth = { authorization: 'Bearer s3cret', 'content-type': 'application/json' };
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, { method, headers: { ...auth, ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });

  assert.equal((await fetch(`${base}/tables`)).status, 401);
  assert.equal((await fetch(`${base}/tables`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await call('POST', '/tables', { name: 'items', kind: 'ordered', fields: { price: 'number' } })).status, 201);

  const put = await call('PUT', '/tables/items/records/a%2Fb', { price: 10, name: 'pen' });
  assert.equal(put.status, 200);
  assert.equal(put.headers.get('etag'), '"1.1"');
  assert.deepEqual(await put.json(), { version: '1.1', master: 'local' });
  assert.equal((await call('PATCH', '/tables/items/records/a%2Fb', { price: 12 })).status, 200);
  const got = await call('GET', '/tables/items/records/a%2Fb?consistency=latest');
  assert.equal(got.headers.get('etag'), '"1.2"');
  assert.deepEqual(((await got.json()) as { value: unknown }).value, { price: 12, name: 'pen' });

  const stale = await call('PATCH', '/tables/items/records/a%2Fb', { price: 1 }, { 'if-match': '"1.1"' });
  assert.equal(stale.status, 409);
  assert.equal(((await stale.json()) as { current: string }).current, '1.2');
  assert.equal((await call('PATCH', '/tables/items/records/a%2Fb', { price: 13 }, { 'if-match': '"1.2"' })).status, 200);
  assert.equal((await call('PUT', '/tables/items/records/x', { price: 'free' })).status, 400);
  assert.equal((await call('PUT', '/tables/items/records/x', '{not json')).status, 400);
  assert.equal((await call('GET', '/tables/items/records/x?consistency=sometimes')).status, 400);
  assert.equal((await call('GET', '/tables/nope/records/x')).status, 404);
  assert.equal((await call('GET', '/tables/items/records/missing')).status, 404);

  for (let i = 0; i < 25; i++) await call('PUT', `/tables/items/records/k${String(i).padStart(2, '0')}`, { price: i });
  const keys: string[] = [];
  let continuation: string | null = null;
  do {
    const page = (await (await call('GET', `/tables/items/records?start=k05&end=k20&limit=4${continuation ? `&continuation=${continuation}` : ''}`)).json()) as { records: Array<{ key: string }>; continuation: string | null };
    keys.push(...page.records.map((x) => x.key));
    continuation = page.continuation;
  } while (continuation);
  assert.deepEqual(keys, Array.from({ length: 15 }, (_, i) => `k${String(i + 5).padStart(2, '0')}`));

  const mg = (await (await call('POST', '/tables/items/multiget', { keys: ['k01', 'zz'] })).json()) as { records: Array<{ exists: boolean }> };
  assert.deepEqual(mg.records.map((x) => x.exists), [true, false]);
  assert.equal((await call('DELETE', '/tables/items/records/k01')).status, 200);
  assert.equal((await call('DELETE', '/tables/items/records/k01')).status, 404);

  // The RPC side wants the token too.
  const anon = await RecordsClient.connect({ port: r.records.port });
  t.after(() => anon.close());
  await assert.rejects(anon.readAny('items', 'k02'), (err: unknown) => err instanceof RpcError && err.code === RpcCode.unauthorized);
  await assert.rejects(RecordsClient.connect({ port: r.records.port, token: 'nope' }), (err: unknown) => err instanceof RpcError && err.code === RpcCode.unauthorized);
  const authed = await RecordsClient.connect({ port: r.records.port, token: 'other' });
  t.after(() => authed.close());
  assert.deepEqual((await authed.readAny('items', 'k02')).value, { price: 2 });
});
