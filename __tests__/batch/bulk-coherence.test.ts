/**
 * The bulk paths batch and import use (Store.applyWrites / applyWriteStream, CacheAsideStore.getMany / write /
 * importWrites) against each real store (SQLite, PostgreSQL) and real memcached: the same answers as one-at-a-time
 * writes, the outbox rules of COHERENCE.md, and the races forced with a controllable double around the real cache.
 */
import { CacheAsideStore } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import type { Store, Write } from '../../src/store/store.js';
import { ControlledCache } from '../helpers/controlled-cache.js';
import { storeKinds } from '../helpers/stores.js';
import { testServers } from '../helpers/temp.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

const set = (key: string, value: string, expiresAt: number | null = null): Write => ({ op: 'set', key, value: Buffer.from(value), expiresAt });
const del = (key: string): Write => ({ op: 'delete', key });
const text = (entry: { value: Buffer } | undefined) => entry?.value.toString();

describe.each(storeKinds())('%s store', (kind) => {
  /** A policy over a fresh database, or over `same`'s database (as another process would open it). */
  async function open(same?: Store) {
    const store = same ? await kind.openAgain(same) : await kind.open();
    const cache = new ControlledCache(new MemcachePool([testServers()], { timeoutMs: 1000, retryAfterMs: 1 }));
    const policy = new CacheAsideStore(store, cache, { now: Date.now, onCacheFault: () => undefined });
    opened.push(policy);
    return { store, cache, policy };
  }

  describe('applyWrites', () => {
    test('the same entries and the same `existed` answers as applying the writes one by one', async () => {
      const [bulk, single] = [await open(), await open()];
      const keys = ['a', 'b', 'c', 'd', 'é', 'long'.repeat(100)];
      let seed = 7;
      const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
      for (let round = 0; round < 20; round++) {
        const writes: Write[] = Array.from({ length: 1 + random(40) }, () => {
          const key = keys[random(keys.length)]!;
          return random(3) === 0 ? del(key) : set(key, `v${random(1000)}`, random(4) === 0 ? Date.now() + 60_000 : null);
        });
        const now = Date.now();
        const grouped = await bulk.store.applyWrites(writes, now);
        const oneByOne: boolean[] = [];
        for (const write of writes) oneByOne.push(...existedOf(await single.store.applyWrites([write], now)));
        expect(existedOf(grouped)).toEqual(oneByOne);
        const [x, y] = [await bulk.store.scan('', '', 100, now), await single.store.scan('', '', 100, now)];
        expect(x.entries).toEqual(y.entries);
      }
    });

    test('outbox: nothing for fresh inserts, one row per key that had a row or a pending invalidation', async () => {
      const { store } = await open();
      const now = Date.now();
      expect((await store.applyWrites([set('a', '1'), set('a', '2'), set('b', '1'), del('b')], now)).owed).toEqual([]);
      const second = await store.applyWrites([set('a', '3'), set('a', '4'), del('a'), set('c', '1'), del('zz')], now);
      expect(existedOf(second)).toEqual([true, true, true, false, false]);
      expect(second.owed.map((o: { key: string; id: number }) => o.key)).toEqual(['a']);
      // 'a' is now deleted but its invalidation is still pending: a fresh insert of it must owe one too.
      const third = await store.applyWrites([set('a', '5')], now);
      expect(third.owed.map((o: { key: string; id: number }) => o.key)).toEqual(['a']);
      expect((await store.pendingInvalidations(10)).pending.map((p) => p.key)).toEqual(['a', 'a']);
      expect(new Set([...second.owed, ...third.owed].map((o: { key: string; id: number }) => o.id)).size).toBe(2);
    });
  });

  describe('getMany / writeGroup with real memcached', () => {
    test('pipelined reads fill the cache; a group write tombstones every overwritten key', async () => {
      const { policy } = await open();
      await policy.write(Array.from({ length: 50 }, (_, i) => set(`k${i}`, `old${i}`)));
      const keys = Array.from({ length: 50 }, (_, i) => `k${i}`).concat(['missing', 'k0']);
      const cold = await policy.getMany(keys);
      expect(cold.map((l) => text(l.entry))).toEqual([...Array.from({ length: 50 }, (_, i) => `old${i}`), undefined, 'old0']);
      expect(cold.every((l) => l.source === 'store')).toBe(true);
      const hot = await policy.getMany(keys);
      expect(hot.slice(0, 50).every((l) => l.source === 'cache')).toBe(true);
      expect(existedOf({ results: await policy.write([set('k1', 'new1'), del('k2'), set('fresh', 'f')]) })).toEqual([true, true, false]);
      const after = await policy.getMany(['k1', 'k2', 'k3', 'fresh']);
      expect(after.map((l) => text(l.entry))).toEqual(['new1', undefined, 'old3', 'f']);
      expect(after[2]!.source).toBe('cache');
    });

    test('a fill held back while a group write commits cannot put the old value back', async () => {
      const { policy, cache } = await open();
      await policy.write([set('race', 'old')]);
      const held = cache.holdNextAdd();
      const reading = policy.getMany(['race']); // miss: reads 'old' from the store, then waits before its add
      await held.reached;
      await policy.write([set('race', 'new')]); // commit + tombstone while the fill is in flight
      held.release();
      expect(text((await reading)[0]!.entry)).toBe('old'); // it was read before the write: a correct answer then
      const [after] = await policy.getMany(['race']);
      expect(text(after!.entry)).toBe('new');
      // memcached holds the writer's tombstone: the late add was refused.
      expect((await cache.real.get(policy.copyKey('race')!))?.toString()).toBe('T');
    });

    test('a group written while memcached is unreachable is invalidated before the next cached read', async () => {
      const { policy, cache, store } = await open();
      await policy.write([set('p', 'old'), set('q', 'old')]);
      await policy.getMany(['p', 'q']); // cached
      cache.down = true;
      await policy.write([set('p', 'new'), del('q')]);
      expect((await policy.store.pendingInvalidations(10)).pending.map((p) => p.key).sort()).toEqual(['p', 'q']);
      cache.down = false;
      // Another process, cache up: it replays the outbox before trusting any copy.
      const other = await open(store);
      expect((await other.policy.getMany(['p', 'q'])).map((l) => text(l.entry))).toEqual(['new', undefined]);
      expect((await other.store.pendingInvalidations(10)).pending).toEqual([]);
    });

    test('importWrites: all or nothing, and overwritten keys are invalidated', async () => {
      const { policy } = await open();
      await policy.write([set('x', 'old')]);
      await policy.getMany(['x']);
      async function* failing() {
        yield [set('x', 'partial'), set('y', 'partial')];
        throw new Error('malformed');
      }
      await expect(policy.importWrites(failing())).rejects.toThrow('malformed');
      expect((await policy.getMany(['x', 'y'])).map((l) => text(l.entry))).toEqual(['old', undefined]);
      async function* good() {
        yield [set('x', 'imported'), set('y', 'imported')];
        yield [set('z', 'imported')];
      }
      expect(await policy.importWrites(good())).toEqual({ count: 3, overwritten: 1, revision: 2 });
      expect((await policy.getMany(['x', 'y', 'z'])).map((l) => text(l.entry))).toEqual(['imported', 'imported', 'imported']);
    });
  });
});

/** Per write: whether it found its key live (a delete of a missing key changed nothing, so: false). */
function existedOf(outcome: { results: { status: string; existed?: boolean }[] }): boolean[] {
  return outcome.results.map((result) => result.status === 'applied' && result.existed === true);
}
