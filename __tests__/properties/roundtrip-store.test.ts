/**
 * Round trip through the cache-aside store (real memcached in front of each real store, SQLite and PostgreSQL):
 * whatever key and bytes are set, get gives back exactly those bytes, that expiry and those revisions — read from
 * the store on a miss, from the copy on the hit that follows, and from the copy by another process on the same
 * database. Values too large for memcached are never served from it. Keys that are not UTF-8 are refused.
 */
import { parseKey } from '../../src/commands/args.js';
import { CacheAsideStore, COPY_HEADER_BYTES } from '../../src/store/cache-aside.js';
import { MAX_CACHED_BYTES } from '../../src/store/cache.js';
import { MemcachePool } from '../../src/store/memcache.js';
import type { Store } from '../../src/store/store.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { storeKinds } from '../helpers/stores.js';
import { testServers } from '../helpers/temp.js';
import { expiresAtArb, keyArb, loneSurrogateArb, valueArb } from './arbitraries.js';

/** A fill must never be skipped for slowness here: the machine is shared, and the hit path is what is checked. */
const FILL_WINDOW_MS = 60_000;

const policies: CacheAsideStore[] = [];
afterEach(async () => {
  for (const policy of policies.splice(0)) await policy.close().catch(() => undefined);
});

function policyOver(store: Store): CacheAsideStore {
  const cache = new MemcachePool([testServers()], { timeoutMs: 2000, retryAfterMs: 0 });
  const policy = new CacheAsideStore(store, cache, {
    now: Date.now,
    fillWindowMs: FILL_WINDOW_MS,
    onCacheFault: (error) => {
      throw error; // memcached is up in this test: a fault is a failure
    },
  });
  policies.push(policy);
  return policy;
}

const cacheable = (value: Buffer) => value.length + COPY_HEADER_BYTES <= MAX_CACHED_BYTES;

describe.each(storeKinds())('%s store', (kind) => {
  test('set then get gives the exact bytes, expiry and revisions: from the store, then from the copy, also in another process', async () => {
    const now = Date.now();
    const entriesArb = fc.uniqueArray(fc.record({ key: keyArb(), value: valueArb(), expiresAt: expiresAtArb(now) }), {
      selector: (entry) => entry.key,
      minLength: 1,
      maxLength: 4,
    });
    // Each key is written once per database: a first write owes no tombstone, so the read after it fills the cache.
    // A case that repeats a key of an earlier one (shrinking does) gets a fresh database.
    let writer: CacheAsideStore | undefined;
    let used = new Set<string>();
    await checkProperty(
      `roundtrip-store ${kind}: set/get exact on miss, hit and another process`,
      fc.asyncProperty(entriesArb, async (entries) => {
        if (!writer || entries.some(({ key }) => used.has(key))) {
          if (writer) await writer.close();
          writer = policyOver(await kind.open());
          used = new Set();
        }
        for (const { key } of entries) used.add(key);
        const written = await writer.write(entries.map(({ key, value, expiresAt }) => ({ op: 'set' as const, key, value, expiresAt })));
        const keys = entries.map(({ key }) => key);
        const expectRead = (lookups: Awaited<ReturnType<CacheAsideStore['getMany']>>, source: (value: Buffer) => 'cache' | 'store') =>
          lookups.forEach((lookup, i) => {
            const { key, value, expiresAt } = entries[i]!;
            const result = written[i]!;
            expect(result.status).toBe('applied');
            expect(lookup.entry?.key).toBe(key);
            expect(lookup.entry!.value.equals(value)).toBe(true);
            expect(lookup.entry!.expiresAt).toBe(expiresAt);
            if (result.status === 'applied') expect(lookup.entry!.revision).toBe(result.revision);
            expect({ key, source: lookup.source }).toEqual({ key, source: source(value) });
          });
        expectRead(await writer.getMany(keys), () => 'store'); // the miss path, which fills
        expectRead(await writer.getMany(keys), (value) => (cacheable(value) ? 'cache' : 'store'));
        const other = policyOver(await kind.openAgain(writer.store));
        expectRead(await other.getMany([...keys].reverse()).then((l) => l.reverse()), (value) => (cacheable(value) ? 'cache' : 'store'));
        // One key at a time (get, not getMany) from the copy too.
        for (const [i, key] of keys.entries()) {
          const lookup = await other.get(key);
          expect(lookup.entry!.value.equals(entries[i]!.value)).toBe(true);
        }
        await other.close();
      }),
      { runs: kind.name === 'sqlite' ? 60 : 40 },
    );
  }, 120_000);
});

test('every valid key is accepted as it is; every string with a lone surrogate is refused as not UTF-8', async () => {
  await checkProperty(
    'roundtrip-store: parseKey accepts valid keys unchanged',
    fc.property(keyArb(), (key) => parseKey(key, 'set') === key),
    { runs: 2000 },
  );
  await checkProperty(
    'roundtrip-store: parseKey refuses lone surrogates',
    fc.property(loneSurrogateArb, (key) => {
      expect(() => parseKey(key, 'set')).toThrow('key is not valid UTF-8');
    }),
    { runs: 1000 },
  );
});
