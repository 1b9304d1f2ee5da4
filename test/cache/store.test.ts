import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../src/core/clock.js';
import { CacheStore, createStoreMemory } from '../../src/cache/store/store.js';
import { DEFAULT_STORE_OPTIONS, type StoreOptions } from '../../src/cache/store/layout.js';
import { Mode, StoreResult, storeItem } from '../../src/cache/ops.js';

function makeStore(overrides: Partial<StoreOptions> = {}, clock = new ManualClock()) {
  const options = { ...DEFAULT_STORE_OPTIONS, ...overrides };
  const store = new CacheStore(createStoreMemory(options, clock), options, clock);
  return { store, clock };
}

function set(store: CacheStore, key: string, value: Buffer, exptime = 0, mode = Mode.Set): StoreResult {
  const k = Buffer.from(key);
  store.lock();
  try {
    return storeItem(
      store,
      { mode, key: k, keyOff: 0, keyLen: k.length, flags: 0, exptime: store.realtime(exptime), value, valueOff: 0, valueLen: value.length, cas: 0 },
      store.now(),
    );
  } finally {
    store.unlock();
  }
}

function get(store: CacheStore, key: string): Buffer | null {
  const k = Buffer.from(key);
  store.lock();
  try {
    const now = store.now();
    const ref = store.find(k, 0, k.length, now);
    if (ref === 0) return null;
    store.bump(ref, now);
    const off = store.valueOffset(ref);
    return Buffer.from(store.u8.subarray(off, off + store.nbytes(ref)));
  } finally {
    store.unlock();
  }
}

function del(store: CacheStore, key: string): boolean {
  const k = Buffer.from(key);
  store.lock();
  try {
    const ref = store.find(k, 0, k.length, store.now());
    if (ref) store.unlink(ref);
    return ref !== 0;
  } finally {
    store.unlock();
  }
}

test('items expire by relative and absolute exptime, by the injected clock', () => {
  const { store, clock } = makeStore();
  set(store, 'rel', Buffer.from('x'), 10);
  set(store, 'abs', Buffer.from('y'), Math.floor(clock.nowMs() / 1000) + 100);
  set(store, 'never', Buffer.from('z'), 0);
  set(store, 'neg', Buffer.from('w'), -1);
  assert.equal(get(store, 'neg'), null);
  clock.advance(9_000);
  assert.deepEqual(get(store, 'rel'), Buffer.from('x'));
  clock.advance(1_000);
  assert.equal(get(store, 'rel'), null);
  assert.deepEqual(get(store, 'abs'), Buffer.from('y'));
  clock.advance(90_000);
  assert.equal(get(store, 'abs'), null);
  assert.deepEqual(get(store, 'never'), Buffer.from('z'));
});

test('flush_all with a delay invalidates only when the delay has passed', () => {
  const { store, clock } = makeStore();
  set(store, 'a', Buffer.from('1'));
  clock.advance(2_000);
  store.lock();
  store.flushAll(5);
  store.unlock();
  assert.deepEqual(get(store, 'a'), Buffer.from('1'));
  clock.advance(6_000);
  assert.equal(get(store, 'a'), null);
  set(store, 'b', Buffer.from('2'));
  assert.deepEqual(get(store, 'b'), Buffer.from('2'));
});

test('a full store evicts least recently used items and counts evictions', () => {
  const { store } = makeStore({ memoryLimit: 2 * 1024 * 1024 });
  const value = Buffer.alloc(100, 7);
  const n = 40_000;
  for (let i = 0; i < n; i++) {
    assert.equal(set(store, `key:${i}`, value), StoreResult.Stored);
    if (i % 100 === 0) get(store, 'key:0'); // keep one key hot
  }
  const g = store.globals();
  assert.ok(g.evictions > 0, 'evictions counted');
  assert.equal(g.currItems + g.evictions, n, 'every set is either stored or evicted');
  assert.ok(g.pagesUsed <= g.pageCount);
  assert.deepEqual(get(store, 'key:0'), value, 'the hot key survived');
  assert.deepEqual(get(store, `key:${n - 1}`), value, 'the newest key is there');
  assert.equal(get(store, 'key:1'), null, 'an old cold key was evicted');
  store.verify();
});

test('pages move to a size class that starves (slab rebalancing)', () => {
  const { store, clock } = makeStore({ memoryLimit: 4 * 1024 * 1024 });
  const small = Buffer.alloc(50, 1);
  for (let i = 0; i < 100_000; i++) set(store, `s:${i}`, small);
  clock.advance(10_000);
  const big = Buffer.alloc(100_000, 2);
  for (let i = 0; i < 40; i++) {
    assert.equal(set(store, `b:${i}`, big), StoreResult.Stored, `big item ${i} stored`);
    clock.advance(2_000);
  }
  assert.ok(store.globals().slabsMoved > 0);
  assert.deepEqual(get(store, 'b:39'), big);
  store.verify();
});

test('an item over the size limit is refused and a set removes the old value', () => {
  const { store } = makeStore({ itemSizeMax: 1024 * 1024 });
  set(store, 'k', Buffer.from('old'));
  assert.equal(set(store, 'k', Buffer.alloc(1024 * 1024)), StoreResult.TooLarge);
  assert.equal(get(store, 'k'), null);
  assert.equal(set(store, 'k', Buffer.alloc(1024 * 1024 - 60)), StoreResult.Stored);
});

test('model check: random set/add/replace/append/prepend/delete/get match a Map', () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const value = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
  const op = fc.oneof(
    fc.tuple(fc.constantFrom(Mode.Set, Mode.Add, Mode.Replace, Mode.Append, Mode.Prepend), key, value),
    fc.tuple(fc.constant('delete' as const), key),
    fc.tuple(fc.constant('get' as const), key),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const { store } = makeStore({ memoryLimit: 4 * 1024 * 1024 });
      const model = new Map<string, Buffer>();
      for (const o of ops) {
        if (o[0] === 'delete') {
          assert.equal(del(store, o[1]), model.delete(o[1]));
        } else if (o[0] === 'get') {
          assert.deepEqual(get(store, o[1]), model.get(o[1]) ?? null);
        } else {
          const [mode, k, v] = o;
          const had = model.get(k);
          const r = set(store, k, v, 0, mode);
          const expectStored = mode === Mode.Set || (mode === Mode.Add ? !had : !!had);
          assert.equal(r, expectStored ? StoreResult.Stored : StoreResult.NotStored);
          if (!expectStored) continue;
          if (mode === Mode.Append) model.set(k, Buffer.concat([had!, v]));
          else if (mode === Mode.Prepend) model.set(k, Buffer.concat([v, had!]));
          else model.set(k, v);
        }
      }
      for (const [k, v] of model) assert.deepEqual(get(store, k), v);
      assert.equal(store.globals().currItems, model.size);
      store.verify();
    }),
    { numRuns: 200 },
  );
});

test('the hash table doubles as items grow, a few buckets per link, and finds every item throughout', () => {
  const { store } = makeStore({ memoryLimit: 64 * 1024 * 1024 });
  const start = store.globals().hashBuckets;
  const n = 300_000;
  const value = Buffer.from('v');
  let sawExpanding = false;
  for (let i = 0; i < n; i++) {
    set(store, `k${i}`, value);
    if (store.globals().hashExpanding && !sawExpanding) {
      sawExpanding = true;
      // Mid-expansion every item is still found and the table is consistent.
      for (let j = 0; j <= i; j += 97) assert.deepEqual(get(store, `k${j}`), value);
      store.verify();
    }
  }
  assert.ok(sawExpanding);
  assert.ok(store.globals().hashBuckets >= start * 4, `grew from ${start} to ${store.globals().hashBuckets}`);
  assert.ok(store.globals().hashBuckets * 1.5 >= store.globals().currItems || store.globals().hashExpanding);
  for (let j = 0; j < n; j += 7) assert.deepEqual(get(store, `k${j}`), value);
  store.verify();
});
