/**
 * Coalescing (src/serve/rounds.ts): first the queue's rules with a round function of our own (who shares a round,
 * what one member's failure does to the others), then group commit against the real cache-aside store on each
 * real store (SQLite, PostgreSQL) with real memcached: one transaction for a round, revisions in arrival order,
 * each write its own result, read-your-writes between rounds, no copy left stale.
 */
import { CacheAsideStore, type Lookup } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import type { Write, WriteResult } from '../../src/store/writes.js';
import { Rounds, type RoundLimits } from '../../src/serve/rounds.js';
import { storeKinds } from '../helpers/stores.js';
import { testServers } from '../helpers/temp.js';

const LIMITS: RoundLimits = { maxItems: 100, maxWaitMs: 10_000, maxConcurrent: 1, retryAlone: true };

/** A round function that records each round's items and answers each item doubled, after `gate` opens. */
function recorder(options: { fail?: (item: number) => boolean } = {}) {
  const rounds: number[][] = [];
  let gate = Promise.resolve();
  const run = async (items: number[]) => {
    rounds.push([...items]);
    await gate;
    if (options.fail && items.some(options.fail)) throw new Error(`round with ${items.join(',')} failed`);
    return items.map((item) => item * 2);
  };
  return {
    rounds,
    run,
    /** Holds every round started from now on until the returned function is called. */
    hold: () => {
      let open!: () => void;
      gate = new Promise<void>((resolve) => (open = resolve));
      return open;
    },
  };
}

const settle = <T>(promises: Promise<T>[]) => Promise.allSettled(promises);

describe('Rounds', () => {
  test('items submitted together share one round, and each gets its own answer in order', async () => {
    const r = recorder();
    const rounds = new Rounds(r.run, LIMITS);
    const answers = await Promise.all([1, 2, 3, 4].map((n) => rounds.submit(n)));
    expect(answers).toEqual([2, 4, 6, 8]);
    expect(r.rounds).toEqual([[1, 2, 3, 4]]);
    expect(rounds.counts).toEqual({ rounds: 1, items: 4, retriedAlone: 0 });
  });

  test('an item that arrives while a round runs never joins it: it takes the next round', async () => {
    const r = recorder();
    const rounds = new Rounds(r.run, LIMITS);
    const release = r.hold();
    const first = [rounds.submit(1), rounds.submit(2)];
    await new Promise((resolve) => setImmediate(resolve)); // the first round has started (and is held)
    expect(r.rounds).toEqual([[1, 2]]);
    const later = [rounds.submit(3), rounds.submit(4)];
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.rounds).toEqual([[1, 2]]); // still held: 3 and 4 wait
    release();
    expect(await Promise.all([...first, ...later])).toEqual([2, 4, 6, 8]);
    expect(r.rounds).toEqual([[1, 2], [3, 4]]);
  });

  test('a round that releases its turn (a write round, at its commit) lets the next start while it finishes; answers stay its own', async () => {
    const finish: (() => void)[] = [];
    const started: number[][] = [];
    const rounds = new Rounds<number, number>(async (items, release) => {
      started.push([...items]);
      release(); // the part that must not overlap the next round is done
      await new Promise<void>((resolve) => finish.push(resolve));
      return items.map((item) => item * 10);
    }, LIMITS);
    const first = [rounds.submit(1), rounds.submit(2)];
    await new Promise((resolve) => setImmediate(resolve));
    const second = [rounds.submit(3)];
    await new Promise((resolve) => setImmediate(resolve));
    // maxConcurrent is 1, yet the second round has started: the first gave up its turn, though it is not over.
    expect(started).toEqual([[1, 2], [3]]);
    let firstDone = false;
    void Promise.all(first).then(() => (firstDone = true));
    finish[1]!(); // the second round ends first
    expect(await Promise.all(second)).toEqual([30]);
    expect(firstDone).toBe(false);
    finish[0]!();
    expect(await Promise.all(first)).toEqual([10, 20]);
  });

  test('a round that never releases holds the next until it is over (maxConcurrent counts unreleased rounds)', async () => {
    const r = recorder();
    const rounds = new Rounds(r.run, LIMITS);
    const open = r.hold();
    const first = rounds.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const second = rounds.submit(2);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(r.rounds).toEqual([[1]]);
    open();
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(r.rounds).toEqual([[1], [2]]);
  });

  test('a round takes at most maxItems; the rest follow in arrival order', async () => {
    const r = recorder();
    const rounds = new Rounds(r.run, { ...LIMITS, maxItems: 3 });
    const answers = await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => rounds.submit(n)));
    expect(answers).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(r.rounds).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  test('an item kept waiting longer than maxWaitMs behind a slow round gets a round of its own beside it', async () => {
    const r = recorder();
    const rounds = new Rounds(r.run, { ...LIMITS, maxWaitMs: 5, maxConcurrent: 2 });
    const release = r.hold();
    const slow = rounds.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    const releaseSecond = r.hold(); // the round for 2 is held too
    const waiting = rounds.submit(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.rounds).toEqual([[1], [2]]); // 2 did not wait for 1's round to end
    // maxConcurrent 2: a third item waits for one of them to end.
    const third = rounds.submit(3);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.rounds).toEqual([[1], [2]]);
    r.hold()(); // later rounds run freely
    releaseSecond();
    expect(await waiting).toBe(4);
    expect(await third).toBe(6);
    expect(r.rounds).toEqual([[1], [2], [3]]);
    release();
    expect(await slow).toBe(2);
  });

  test('a round that throws runs each member again alone: only the one that fails is rejected (retryAlone)', async () => {
    const r = recorder({ fail: (n) => n === 3 });
    const rounds = new Rounds(r.run, LIMITS);
    const results = await settle([1, 2, 3, 4].map((n) => rounds.submit(n)));
    expect(results.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.map((s) => (s.status === 'fulfilled' ? s.value : String(s.reason)))).toEqual([2, 4, 'Error: round with 3 failed', 8]);
    expect(r.rounds).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
    expect(rounds.counts.retriedAlone).toBe(4);
  });

  test('without retryAlone (writes) a round that throws fails every member once and is never run again', async () => {
    const r = recorder({ fail: (n) => n === 3 });
    const rounds = new Rounds(r.run, { ...LIMITS, retryAlone: false });
    const results = await settle([1, 2, 3].map((n) => rounds.submit(n)));
    expect(results.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(r.rounds).toEqual([[1, 2, 3]]);
    // The queue goes on with the next round.
    expect(await rounds.submit(5)).toBe(10);
  });
});

const opened: CacheAsideStore[] = [];
afterEach(async () => {
  for (const policy of opened.splice(0)) await policy.close().catch(() => undefined);
});

describe.each(storeKinds())('group commit through the cache-aside store (%s store)', (kind) => {
  async function setup(same?: CacheAsideStore) {
    const store = same ? await kind.openAgain(same.store) : await kind.open();
    const policy = new CacheAsideStore(store, new MemcachePool([testServers()], { timeoutMs: 5000, retryAfterMs: 0 }), { now: Date.now, onCacheFault: () => undefined });
    opened.push(policy);
    // The handlers' wiring (src/serve/handlers.ts), rounds that wait for nothing.
    const writes = new Rounds<Write, WriteResult>((batch) => policy.write(batch), { ...LIMITS, retryAlone: false });
    const reads = new Rounds<string, Lookup>((keys) => policy.getMany(keys), LIMITS);
    return { policy, writes, reads };
  }
  const set = (key: string, value: string, condition?: Write & { op: 'set' } extends { condition?: infer C } ? C : never): Write => ({
    op: 'set',
    key,
    value: Buffer.from(value),
    expiresAt: null,
    condition,
  });

  test('concurrent writes commit in one round at consecutive revisions, in arrival order, each with its own result', async () => {
    const { policy, writes } = await setup();
    await policy.set('base', Buffer.from('0'), null); // revision 1
    const group = [
      set('a', 'A'),
      set('base', 'x', { kind: 'revision', revision: 1 }), // met
      set('base', 'y', { kind: 'revision', revision: 1 }), // not met any more: the one before changed it
      set('b', 'B', { kind: 'absent' }),
      { op: 'delete', key: 'nope' } as Write, // missing: its own answer
      set('a', 'A2'),
    ];
    const results = await Promise.all(group.map((w) => writes.submit(w)));
    expect(writes.counts).toMatchObject({ rounds: 1, items: 6 });
    expect(results.map((r) => r.status)).toEqual(['applied', 'applied', 'conflict', 'applied', 'missing', 'applied']);
    expect(results.map((r) => (r.status === 'applied' ? r.revision : r.status === 'conflict' ? `current ${r.current}` : r.status))).toEqual([2, 3, 'current 3', 4, 'missing', 5]);
    expect(await policy.store.revision()).toBe(5);
    // Another process sees the round's effects at once.
    const other = await setup(policy);
    const seen = await other.policy.getMany(['a', 'base', 'b', 'nope']);
    expect(seen.map((l) => l.entry?.value.toString())).toEqual(['A2', 'x', 'B', undefined]);
  });

  test('a read after a write round resolved sees it, and no copy a round read into memcached is stale', async () => {
    const { policy, writes, reads } = await setup();
    for (let i = 0; i < 5; i++) {
      const keys = ['r1', 'r2', 'r3'];
      await Promise.all(keys.map((key) => writes.submit(set(key, `v${i}`))));
      // Fill the cache, then read again: the second read is a hit and must carry the new value too.
      for (let pass = 0; pass < 2; pass++) {
        const lookups = await Promise.all(keys.map((key) => reads.submit(key)));
        expect(lookups.map((l) => l.entry?.value.toString())).toEqual([`v${i}`, `v${i}`, `v${i}`]);
      }
    }
    expect(policy.counters.hits).toBeGreaterThan(0);
  });
});
