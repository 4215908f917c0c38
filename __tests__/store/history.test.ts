/**
 * The change log and the lease table against each real store (a SQLite file, a PostgreSQL schema): every revision
 * that changes a key leaves exactly the row a watcher needs (type, value, revisions), in the same transaction, and
 * nothing else does; retention; leases taken, held, renewed, released and taken over with a higher fencing token.
 */
import type { Change } from '../../src/store/changes.js';
import type { Store } from '../../src/store/store.js';
import type { Write } from '../../src/store/writes.js';
import { storeKinds } from '../helpers/stores.js';

const NOW = 1_800_000_000_000;
const set = (key: string, value: string, expiresAt: number | null = null): Write => ({ op: 'set', key, value: Buffer.from(value), expiresAt });

/** The whole log of the selected keys, as short tuples. */
async function log(store: Store, selector: { key: string } | { prefix: string } = { prefix: '' }, from = 1) {
  const { changes, compacted } = await store.changesAfter({ revision: from, key: '' }, selector, 1000);
  return { compacted, rows: changes.map(short) };
}

function short(change: Change): (string | number | null)[] {
  return [change.revision, change.type, change.key, change.value?.toString() ?? null, change.createRevision, change.version];
}

describe.each(storeKinds())('%s store', (kind) => {
  const open = (historyRevisions?: number) => kind.open({ historyRevisions });

  test('one row per applied write, in the write transaction; failed conditions and missing deletes leave none', async () => {
    const store = await open();
    const { results } = await store.applyWrites(
      [
        set('a', '1'),
        set('a', '2'),
        { op: 'delete', key: 'a' },
        set('b', 'x'),
        { op: 'incr', key: 'c', by: 5n },
        { op: 'delete', key: 'nope' },
        set('b', 'y', null),
        { op: 'set', key: 'b', value: Buffer.from('z'), expiresAt: null, condition: { kind: 'absent' } },
      ],
      NOW,
    );
    expect(results.map((r) => r.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'missing', 'applied', 'conflict']);
    expect((await log(store)).rows).toEqual([
      [1, 'put', 'a', '1', 1, 1],
      [2, 'put', 'a', '2', 1, 2],
      [3, 'delete', 'a', null, null, null],
      [4, 'put', 'b', 'x', 4, 1],
      [5, 'put', 'c', '5', 5, 1],
      [6, 'put', 'b', 'y', 4, 2],
    ]);
    expect(await store.revision()).toBe(6);
    // A page starts after a position: the rest of revision 4's keys, then later revisions.
    const { changes } = await store.changesAfter({ revision: 4, key: 'b' }, { prefix: '' }, 10);
    expect(changes.map((c) => c.revision)).toEqual([5, 6]);
    expect((await log(store, { key: 'a' })).rows.map((r) => r[0])).toEqual([1, 2, 3]);
    await store.close();
  });

  test('values of every size and any bytes, in the rows and in the log: written once, twice in one transaction, and among many', async () => {
    const store = await open();
    // Small values travel in bulk (as JSON on SQLite), large ones one by one; keys and bytes of every kind.
    const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));
    const values = [Buffer.alloc(0), bytes(1, 0), Buffer.from('\0nul\0'), bytes(2048, 1), bytes(2049, 2), bytes(300_000, 3)];
    const keys = ['plain', 'ключ 🔑', 'nul\0key', 'quote\'"', 'big', 'bigger'];
    const writes: Write[] = keys.map((key, i) => ({ op: 'set', key, value: values[i]!, expiresAt: i % 2 ? NOW + 60_000 : null }));
    // Each key again in the same transaction, so the log holds a put that is not the row's final state.
    for (const [i, key] of keys.entries()) writes.push({ op: 'set', key, value: values[(i + 1) % values.length]!, expiresAt: null });
    for (let i = 0; i < 3000; i++) writes.push(set(`many:${i}`, `v${i}`));
    await store.applyWrites(writes, NOW);
    for (const [i, key] of keys.entries()) expect((await store.read(key, NOW))?.value.equals(values[(i + 1) % values.length]!)).toBe(true);
    const many = await store.readMany(['many:0', 'many:2999', 'absent'], NOW);
    expect([...many.values()].map((entry) => entry.value.toString())).toEqual(['v0', 'v2999']);
    const { changes } = await store.changesAfter({ revision: 0, key: '' }, { prefix: '' }, 10_000);
    expect(changes).toHaveLength(keys.length * 2 + 3000);
    keys.forEach((key, i) => {
      const first = changes.find((c) => c.key === key && c.revision === i + 1)!;
      const second = changes.find((c) => c.key === key && c.revision === keys.length + i + 1)!;
      expect(first.value?.equals(values[i]!)).toBe(true);
      expect(first.expiresAt).toBe(i % 2 ? NOW + 60_000 : null);
      expect(second.value?.equals(values[(i + 1) % values.length]!)).toBe(true);
      expect([first.version, second.version]).toEqual([1, 2]);
    });
    await store.close();
  });

  test('an import is one revision (above the exported one) with one row per key; a prefix delete one revision', async () => {
    const store = await open();
    await store.applyWrites([set('keep', 'k'), set('p:1', 'old'), set('p:2', 'old')], NOW);
    async function* chunks() {
      yield [set('p:1', 'new'), set('p:3', 'new')];
      yield [set('p:3', 'newer')]; // the same key again, at the same revision: one row, the last state
    }
    const imported = await store.applyWriteStream(chunks(), NOW, () => 40);
    expect(imported.revision).toBe(41);
    expect((await log(store, { prefix: 'p:' }, 41)).rows).toEqual([
      [41, 'put', 'p:1', 'new', 2, 2],
      [41, 'put', 'p:3', 'newer', 41, 2],
    ]);
    const removed = await store.deletePrefix('p:', NOW);
    expect(removed).toMatchObject({ count: 3, revision: 42 });
    expect((await log(store, { prefix: '' }, 42)).rows).toEqual([
      [42, 'delete', 'p:1', null, null, null],
      [42, 'delete', 'p:2', null, null, null],
      [42, 'delete', 'p:3', null, null, null],
    ]);
    await store.close();
  });

  test('expiry is a change of its own: carried out by expireDue (or any later write), one revision', async () => {
    const store = await open();
    await store.applyWrites([set('short', 'x', NOW + 1000), set('long', 'y', NOW + 60_000)], NOW);
    expect(await store.nextExpiry({ prefix: '' }, NOW)).toBe(NOW + 1000);
    expect(await store.expireDue(NOW + 999)).toBe(0);
    expect(await store.expireDue(NOW + 1000)).toBe(1);
    expect((await log(store)).rows.at(-1)).toEqual([3, 'expire', 'short', null, null, null]);
    expect(await store.nextExpiry({ key: 'short' }, NOW + 1000)).toBeNull();
    // A write that finds an expired row purges it too, after its own change.
    await store.applyWrites([set('other', 'z')], NOW + 61_000);
    expect((await log(store, { prefix: '' }, 4)).rows).toEqual([
      [4, 'put', 'other', 'z', 4, 1],
      [5, 'expire', 'long', null, null, null],
    ]);
    await store.close();
  });

  test('retention: changes older than the kept revisions are dropped, and the mark says from where', async () => {
    const store = await open(20);
    for (let i = 0; i < 60; i++) await store.applyWrites([set(`k${i % 3}`, String(i))], NOW);
    const { compacted, rows } = await log(store);
    expect(compacted).toBeGreaterThanOrEqual(60 - 20 - 2); // trimmed in steps of 2 (a tenth of 20)
    expect(compacted).toBeLessThanOrEqual(60 - 20);
    expect(rows[0]![0]).toBe(compacted + 1);
    expect(rows.at(-1)![0]).toBe(60);
    await store.close();
  });

  test('leases: taken at a new revision, held, renewed and released only by the owner, taken over once expired', async () => {
    const store = await open();
    const first = await store.acquireLease('job', 'owner-a', 1000, NOW);
    expect(first).toMatchObject({ taken: true, lease: { name: 'job', owner: 'owner-a', revision: 1, expiresAt: NOW + 1000 } });
    if (!first.taken) throw new Error('not taken');
    expect(await store.acquireLease('job', 'owner-b', 1000, NOW + 500)).toMatchObject({ taken: false, holder: { owner: 'owner-a', revision: 1 } });
    expect(await store.renewLease(first.lease, 1000, NOW + 900)).toBe(true);
    expect(await store.acquireLease('job', 'owner-b', 1000, NOW + 1500)).toMatchObject({ taken: false });
    // Past the renewed lease, another owner takes it with a higher fencing token; the old owner can neither renew
    // nor release it.
    const second = await store.acquireLease('job', 'owner-b', 1000, NOW + 2000);
    expect(second).toMatchObject({ taken: true, lease: { owner: 'owner-b', revision: 2 } });
    expect(await store.renewLease(first.lease, 1000, NOW + 2001)).toBe(false);
    expect(await store.releaseLease(first.lease)).toBe(false);
    if (second.taken) expect(await store.releaseLease(second.lease)).toBe(true);
    expect(await store.acquireLease('job', 'owner-c', 1000, NOW + 2002)).toMatchObject({ taken: true, lease: { revision: 3 } });
    // A lock name is not a key, and a lease writes no change: a watcher of every key sees nothing of it.
    expect((await log(store)).rows).toEqual([]);
    await store.close();
  });
});
