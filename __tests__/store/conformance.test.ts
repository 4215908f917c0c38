/**
 * The Store contract (src/store/store.ts), one suite run against every implementation: SQLite files and
 * PostgreSQL schemas, both real (helpers/stores.ts). Times are the caller's clock, so most tests pass a fixed NOW
 * and move it by hand. A PostgreSQL-only block at the end covers what only a server can do: restart, refuse
 * connections, lose a connection in the middle of a transaction or its LISTEN connection, hold a lock from another
 * session, and race another host's statement.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { StorageError, StoreUnavailableError, UsageError } from '../../src/errors.js';
import type { Change, KeySelector } from '../../src/store/changes.js';
import { PostgresStore } from '../../src/store/postgres.js';
import type { Store } from '../../src/store/store.js';
import type { Condition, Entry, Write } from '../../src/store/writes.js';
import { isPostgres, storeKinds } from '../helpers/stores.js';

const NOW = 1_700_000_000_000;
const kinds = storeKinds();
const postgresKind = kinds.find(isPostgres);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const b = (text: string) => Buffer.from(text);

function set(key: string, value: string | Buffer, extra: { expiresAt?: number | null; keepTtl?: boolean; condition?: Condition } = {}): Write {
  return { op: 'set', key, value: typeof value === 'string' ? b(value) : value, expiresAt: extra.expiresAt ?? null, keepTtl: extra.keepTtl, condition: extra.condition };
}
const del = (key: string, condition?: Condition): Write => ({ op: 'delete', key, condition });
const incr = (key: string, by: bigint): Write => ({ op: 'incr', key, by });

function entry(key: string, value: string | Buffer, revision: number, createRevision: number, version: number, expiresAt: number | null = null): Entry {
  return { key, value: typeof value === 'string' ? b(value) : value, expiresAt, revision, createRevision, version };
}

/** A position key after every key of its revision (keys are at most 1024 bytes), as watch/feed.ts pages. */
const AFTER_EVERY_KEY = '\u{10ffff}'.repeat(300);
/** UTF-8 byte order: the order every store lists keys in (not JavaScript's UTF-16 order). */
const byteOrder = (x: string, y: string) => Buffer.compare(b(x), b(y));

/** Every change of the selected keys after `after`, read in pages of `limit`. */
async function changesOf(store: Store, selector: KeySelector = { prefix: '' }, limit = 1000, after = { revision: 0, key: '' }): Promise<Change[]> {
  const all: Change[] = [];
  for (;;) {
    const page = await store.changesAfter(after, selector, limit);
    all.push(...page.changes);
    if (page.changes.length < limit) return all;
    const last = page.changes[page.changes.length - 1]!;
    after = { revision: last.revision, key: last.key };
  }
}
const brief = (changes: Change[]) => changes.map((c) => [c.revision, c.key, c.type, c.value?.toString() ?? null]);

/** Every key under `prefix`, paging `limit` at a time. */
async function scanAll(store: Store, prefix: string, limit: number, now = NOW, withValues = true): Promise<Entry[]> {
  const all: Entry[] = [];
  let after = '';
  for (let pages = 0; ; pages++) {
    const page = await store.scan(prefix, after, limit, now, withValues);
    expect(page.entries.length).toBeLessThanOrEqual(limit);
    all.push(...page.entries);
    if (page.done) return all;
    if (page.entries.length === 0) throw new Error('scan: an empty page that is not done');
    after = page.entries[page.entries.length - 1]!.key;
    if (pages > 10_000) throw new Error('scan does not end');
  }
}

/** Waits for `condition` (failing after `timeoutMs`); resolves to how long it took. */
async function until(condition: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return Date.now() - started;
}

async function* chunksOf(chunks: Write[][]): AsyncIterable<Write[]> {
  for (const chunk of chunks) yield chunk;
}

describe.each(kinds)('%s store', (kind) => {
  test('set, read, overwrite and delete: database revision, createRevision and version', async () => {
    const store = await kind.open();
    expect(await store.revision()).toBe(0);
    expect(await store.read('k', NOW)).toBeUndefined();

    const first = await store.applyWrites([set('k', 'one')], NOW);
    expect(first.results).toEqual([{ status: 'applied', revision: 1, existed: false, after: entry('k', 'one', 1, 1, 1) }]);
    expect(first.revision).toBe(1);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'one', 1, 1, 1));

    const second = await store.applyWrites([set('k', 'two')], NOW);
    expect(second.results).toEqual([{ status: 'applied', revision: 2, existed: true, after: entry('k', 'two', 2, 1, 2) }]);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'two', 2, 1, 2));

    const removed = await store.applyWrites([del('k')], NOW);
    expect(removed.results).toEqual([{ status: 'applied', revision: 3, existed: true, after: undefined }]);
    expect(await store.read('k', NOW)).toBeUndefined();

    const missing = await store.applyWrites([del('k')], NOW);
    expect(missing.results).toEqual([{ status: 'missing', after: undefined }]);
    expect(missing.revision).toBe(3);
    expect(await store.revision()).toBe(3);

    // A new life after a delete: created at its own revision, version 1.
    await store.applyWrites([set('k', 'three')], NOW);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'three', 4, 4, 1));
    expect(await store.revision()).toBe(4);
  });

  test('onCommitting is told once, when the COMMIT is on its way: before the writes resolve, after their reads', async () => {
    const store = await kind.open();
    const events: string[] = [];
    const written = store.applyWrites([set('a', '1'), set('b', '2')], NOW, { onCommitting: () => events.push('committing') });
    events.push('sent');
    const { revision } = await written;
    events.push('resolved');
    expect(events).toEqual(['sent', 'committing', 'resolved']);
    expect(revision).toBe(2);
    expect(await store.read('b', NOW)).toEqual(entry('b', '2', 2, 2, 1));
  });

  test('one database per open; a second instance shares it; the location is printable', async () => {
    const store = await kind.open();
    const again = await kind.openAgain(store);
    const other = await kind.open();
    expect(store.namespaceId).toMatch(/^[0-9a-f]{24}$/);
    expect(again.namespaceId).toBe(store.namespaceId);
    expect(other.namespaceId).not.toBe(store.namespaceId);
    expect(again.location).toBe(store.location);
    expect(Math.abs(store.clockOffsetMs)).toBeLessThan(1000);
    await store.applyWrites([set('shared', 'yes')], NOW);
    expect((await again.read('shared', NOW))?.value.toString()).toBe('yes');
    expect(await other.read('shared', NOW)).toBeUndefined();
    expect(await other.revision()).toBe(0);
  });

  test('conditions absent / present / revision / value: a failed one changes nothing and takes no revision', async () => {
    const store = await kind.open();
    await store.applyWrites([set('k', 'v')], NOW); // revision 1
    const failed = await store.applyWrites(
      [
        set('k', 'x', { condition: { kind: 'absent' } }),
        set('new', 'x', { condition: { kind: 'present' } }),
        set('k', 'x', { condition: { kind: 'revision', revision: 2 } }),
        set('k', 'x', { condition: { kind: 'revision', revision: 0 } }),
        set('new', 'x', { condition: { kind: 'revision', revision: 1 } }),
        set('k', 'x', { condition: { kind: 'value', value: b('V') } }),
        set('new', 'x', { condition: { kind: 'value', value: b('') } }),
        del('k', { kind: 'revision', revision: 5 }),
        del('new', { kind: 'present' }),
        del('k', { kind: 'absent' }),
      ],
      NOW,
    );
    expect(failed.results.map((r) => [r.status, r.status === 'conflict' ? r.current : null])).toEqual([
      ['conflict', 1],
      ['conflict', 0],
      ['conflict', 1],
      ['conflict', 1],
      ['conflict', 0],
      ['conflict', 1],
      ['conflict', 0],
      ['conflict', 1],
      ['conflict', 0],
      ['conflict', 1],
    ]);
    expect(failed.results[0]).toEqual({ status: 'conflict', current: 1, after: entry('k', 'v', 1, 1, 1) });
    expect(failed.owed).toEqual([]);
    expect(await store.revision()).toBe(1);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'v', 1, 1, 1));
    expect(await store.read('new', NOW)).toBeUndefined();
    expect(brief(await changesOf(store))).toEqual([[1, 'k', 'put', 'v']]);

    const passed = await store.applyWrites(
      [
        set('k', 'a', { condition: { kind: 'present' } }), // 2
        set('k', 'b', { condition: { kind: 'revision', revision: 2 } }), // 3: sees the write before it
        set('k', 'c', { condition: { kind: 'value', value: b('b') } }), // 4
        set('n', '1', { condition: { kind: 'absent' } }), // 5
        set('m', '1', { condition: { kind: 'revision', revision: 0 } }), // 6
        del('n', { kind: 'value', value: b('1') }), // 7
        set('k', 'd', { condition: { kind: 'revision', revision: 3 } }), // conflict: k is at 4 now
        del('m', { kind: 'revision', revision: 6 }), // 8
      ],
      NOW,
    );
    expect(passed.results.map((r) => (r.status === 'applied' ? r.revision : `${r.status} ${r.status === 'conflict' ? r.current : ''}`))).toEqual([2, 3, 4, 5, 6, 7, 'conflict 4', 8]);
    expect(await store.revision()).toBe(8);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'c', 4, 1, 4));
    expect(await store.readMany(['n', 'm'], NOW)).toEqual(new Map());

    // An expired key is absent to conditions too.
    await store.applyWrites([set('e', 'old', { expiresAt: NOW + 10 })], NOW); // 9
    const late = await store.applyWrites([set('e', 'x', { condition: { kind: 'present' } }), set('e', 'new', { condition: { kind: 'absent' } })], NOW + 10);
    expect(late.results.map((r) => r.status)).toEqual(['conflict', 'applied']);
    expect(await store.read('e', NOW + 10)).toEqual(entry('e', 'new', 10, 10, 1));
  });

  test('incr / decr: a missing key counts as 0, signs parse, the expiry is kept, one revision each', async () => {
    const store = await kind.open();
    const out = await store.applyWrites([incr('c', 5n), incr('c', -7n), set('t', '+10', { expiresAt: NOW + 60_000 }), incr('t', 1n), incr('t', -11n)], NOW);
    expect(out.results).toEqual([
      { status: 'applied', revision: 1, existed: false, after: entry('c', '5', 1, 1, 1) },
      { status: 'applied', revision: 2, existed: true, after: entry('c', '-2', 2, 1, 2) },
      { status: 'applied', revision: 3, existed: false, after: entry('t', '+10', 3, 3, 1, NOW + 60_000) },
      { status: 'applied', revision: 4, existed: true, after: entry('t', '11', 4, 3, 2, NOW + 60_000) },
      { status: 'applied', revision: 5, existed: true, after: entry('t', '0', 5, 3, 3, NOW + 60_000) },
    ]);
    expect(await store.read('c', NOW)).toEqual(entry('c', '-2', 2, 1, 2));
    expect(await store.read('t', NOW)).toEqual(entry('t', '0', 5, 3, 3, NOW + 60_000));
    // An expired counter starts again from 0, without the old expiry.
    await store.applyWrites([incr('t', 3n)], NOW + 60_000);
    expect(await store.read('t', NOW + 60_000)).toEqual(entry('t', '3', 6, 6, 1));
  });

  test('incr refuses a value that is not a 64-bit integer, and overflow, as a UsageError that changes nothing', async () => {
    const store = await kind.open();
    const max = '9223372036854775807';
    const min = '-9223372036854775808';
    await store.applyWrites([set('max', max), set('min', min), set('text', 'abc'), set('float', '1.5'), set('space', ' 5'), set('empty', ''), set('huge', '9223372036854775808')], NOW);
    expect(await store.revision()).toBe(7);
    const out = await store.applyWrites(
      [incr('max', 1n), incr('min', -1n), incr('text', 1n), incr('float', 1n), incr('space', 1n), incr('empty', 1n), incr('huge', -1n), incr('fresh', 9223372036854775807n), incr('fresh', 1n)],
      NOW,
    );
    const summary = out.results.map((r) => (r.status === 'invalid' ? r.error.message.replace(/^.*: /, '') : r.status));
    const notInteger = 'its value is not a base-10 64-bit integer';
    const overflow = 'the result would overflow a signed 64-bit integer';
    expect(summary).toEqual([overflow, overflow, notInteger, notInteger, notInteger, notInteger, notInteger, 'applied', overflow]);
    for (const result of out.results) if (result.status === 'invalid') expect(result.error).toBeInstanceOf(UsageError);
    expect(out.results[0]).toMatchObject({ status: 'invalid', after: entry('max', max, 1, 1, 1) });
    expect(out.results[2]!.status === 'invalid' && out.results[2]!.error.message).toBe('cannot increment "text": its value is not a base-10 64-bit integer');
    expect(await store.revision()).toBe(8); // only 'fresh' changed
    expect((await store.read('max', NOW))?.value.toString()).toBe(max);
    expect((await store.read('min', NOW))?.value.toString()).toBe(min);
    expect((await store.read('fresh', NOW))?.value.toString()).toBe(max);
    // The extremes themselves are reachable.
    await store.applyWrites([incr('max', -1n), incr('min', 1n), incr('min', -1n)], NOW);
    expect((await store.read('max', NOW))?.value.toString()).toBe('9223372036854775806');
    expect((await store.read('min', NOW))?.value.toString()).toBe(min);
  });

  test('keepTtl keeps the current expiry; a new key takes the one given', async () => {
    const store = await kind.open();
    await store.applyWrites([set('k', 'a', { expiresAt: NOW + 5000 })], NOW);
    await store.applyWrites([set('k', 'b', { keepTtl: true }), set('k', 'c', { expiresAt: NOW + 9000, keepTtl: true }), set('fresh', 'x', { expiresAt: NOW + 7000, keepTtl: true })], NOW);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'c', 3, 1, 3, NOW + 5000));
    expect(await store.read('fresh', NOW)).toEqual(entry('fresh', 'x', 4, 4, 1, NOW + 7000));
    await store.applyWrites([set('k', 'd')], NOW);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'd', 5, 1, 4));
    // An expired key has no expiry to keep.
    await store.applyWrites([set('fresh', 'y', { expiresAt: NOW + 20_000, keepTtl: true })], NOW + 7000);
    expect(await store.read('fresh', NOW + 7000)).toEqual(entry('fresh', 'y', 6, 6, 1, NOW + 20_000));
  });

  test('many writes to one key in one applyWrites: a revision each, every change logged once, one outbox row', async () => {
    const store = await kind.open();
    const writes: Write[] = [set('k', '0')];
    for (let i = 1; i <= 100; i++) writes.push(incr('k', 1n));
    writes.push(del('k'), del('k'), set('k', 'again', { condition: { kind: 'absent' } }), set('k', 'no', { condition: { kind: 'absent' } }));
    const out = await store.applyWrites(writes, NOW);
    const revisions = out.results.map((r) => (r.status === 'applied' ? r.revision : r.status));
    expect(revisions).toEqual([...Array.from({ length: 102 }, (_, i) => i + 1), 'missing', 103, 'conflict']);
    expect(out.owed).toEqual([]); // the key had no row before: a fresh insert, however many times rewritten
    expect(await store.revision()).toBe(103);
    expect(await store.read('k', NOW)).toEqual(entry('k', 'again', 103, 103, 1));
    const changes = await changesOf(store);
    expect(changes).toHaveLength(103);
    expect(changes[0]).toEqual({ revision: 1, key: 'k', type: 'put', value: b('0'), expiresAt: null, createRevision: 1, version: 1 });
    expect(changes[50]).toEqual({ revision: 51, key: 'k', type: 'put', value: b('50'), expiresAt: null, createRevision: 1, version: 51 });
    expect(changes[100]).toEqual({ revision: 101, key: 'k', type: 'put', value: b('100'), expiresAt: null, createRevision: 1, version: 101 });
    expect(changes[101]).toEqual({ revision: 102, key: 'k', type: 'delete', value: null, expiresAt: null, createRevision: null, version: null });
    expect(changes[102]).toEqual({ revision: 103, key: 'k', type: 'put', value: b('again'), expiresAt: null, createRevision: 103, version: 1 });

    // The same on a key that had a row: still one invalidation owed.
    const again = await store.applyWrites([set('k', '1'), set('k', '2'), del('k'), set('k', '3')], NOW);
    expect(again.owed.map((o) => o.key)).toEqual(['k']);
    expect((await store.pendingInvalidations(10)).pending).toEqual(again.owed);
  });

  test('readMany returns live entries only, for duplicate and missing keys alike', async () => {
    const store = await kind.open();
    await store.applyWrites([set('a', '1'), set('b', '2'), set('c', '3', { expiresAt: NOW + 1 }), set('d\u0000', '4')], NOW);
    const found = await store.readMany(['a', 'zz', 'c', 'a', 'b', 'd\u0000'], NOW + 1);
    expect([...found.keys()].sort()).toEqual(['a', 'b', 'd\u0000']);
    expect(found.get('a')).toEqual(entry('a', '1', 1, 1, 1));
    expect(found.get('d\u0000')).toEqual(entry('d\u0000', '4', 4, 4, 1));
    expect(await store.readMany([], NOW)).toEqual(new Map());
    expect((await store.readMany(['c'], NOW)).get('c')).toEqual(entry('c', '3', 3, 3, 1, NOW + 1));
  });

  describe('key order', () => {
    const KEYS = [
      'a', 'a\u0000', 'a\u0000b', 'ab', 'abc', 'A', ' space', '~', '\u007f', 'é', 'e\u0301', 'ü', 'ÿ', '\u0100', '\u07ff', '\u0800', '中文',
      '\ud7ff', '\ue000', '\ufffd', '\uffff', '\uffffz', '\u{10000}', '😀', '😀x', '😀😀', '\u{10fffe}', '\u{10ffff}', '\u{10ffff}a', '\u{10ffff}\u{10ffff}',
    ];
    const sorted = [...KEYS].sort(byteOrder);

    test('the expected order is UTF-8 byte order, not UTF-16 order (so this test means something)', () => {
      expect([...KEYS].sort()).not.toEqual(sorted);
      expect(sorted.indexOf('\uffff')).toBeLessThan(sorted.indexOf('😀'));
    });

    test('scan pages through every key in UTF-8 byte order, at any page size', async () => {
      const store = await kind.open();
      await store.applyWrites([...KEYS].reverse().map((key) => set(key, `v:${key}`)), NOW);
      for (const limit of [1, 2, 7, KEYS.length, 1000]) {
        const entries = await scanAll(store, '', limit);
        expect(entries.map((e) => e.key)).toEqual(sorted);
        for (const e of entries) expect(e.value.toString()).toBe(`v:${e.key}`);
      }
      const keysOnly = await scanAll(store, '', 5, NOW, false);
      expect(keysOnly.map((e) => e.key)).toEqual(sorted);
      expect(keysOnly.every((e) => e.value.length === 0 && e.revision > 0 && e.version === 1)).toBe(true);
      // A page of exactly `limit` is not known to be the last.
      const exact = await store.scan('', '', KEYS.length, NOW);
      expect(exact.entries).toHaveLength(KEYS.length);
      expect(await store.scan('', sorted[sorted.length - 1]!, KEYS.length, NOW)).toEqual({ entries: [], done: true });
      for (const key of KEYS) expect((await store.read(key, NOW))?.value.toString()).toBe(`v:${key}`);
    });

    test('scan and countLive by prefix: prefixes of each other, NUL, U+FFFF, emoji and U+10FFFF', async () => {
      const store = await kind.open();
      await store.applyWrites(KEYS.map((key) => set(key, 'v')), NOW);
      const prefixes = ['', 'a', 'a\u0000', 'ab', 'abc', 'abcd', 'é', '\uffff', '\u{10000}', '😀', '\u{10fffe}', '\u{10ffff}', '\u{10ffff}\u{10ffff}', 'zz', '\u0000'];
      for (const prefix of prefixes) {
        const expected = sorted.filter((key) => key.startsWith(prefix));
        for (const limit of [1, 3, 100]) expect([prefix, limit, (await scanAll(store, prefix, limit)).map((e) => e.key)]).toEqual([prefix, limit, expected]);
        expect([prefix, await store.countLive(prefix, NOW)]).toEqual([prefix, expected.length]);
      }
    });
  });

  test('TTL: an entry is invisible from its expiry on, to every read', async () => {
    const store = await kind.open();
    await store.applyWrites([set('short', 'x', { expiresAt: NOW + 1000 }), set('long', 'y', { expiresAt: NOW + 60_000 }), set('forever', 'z')], NOW);
    expect(await store.read('short', NOW + 999)).toEqual(entry('short', 'x', 1, 1, 1, NOW + 1000));
    expect(await store.countLive('', NOW + 999)).toBe(3);
    const at = NOW + 1000;
    expect(await store.read('short', at)).toBeUndefined();
    expect([...(await store.readMany(['short', 'long'], at)).keys()]).toEqual(['long']);
    expect((await scanAll(store, '', 10, at)).map((e) => e.key)).toEqual(['forever', 'long']);
    expect(await store.countLive('', at)).toBe(2);
    expect(await store.countLive('s', at)).toBe(0);
    expect(await store.stats(at)).toMatchObject({ revision: 3, keys: 2, expiredKeys: 1 });
  });

  test('expireDue purges expired entries as expire changes at one revision; nextExpiry finds the next', async () => {
    const store = await kind.open();
    await store.applyWrites([set('a', '1', { expiresAt: NOW + 1000 }), set('b', '2', { expiresAt: NOW + 1000 }), set('c', '3', { expiresAt: NOW + 5000 }), set('d', '4')], NOW);
    expect(await store.nextExpiry({ prefix: '' }, NOW)).toBe(NOW + 1000);
    expect(await store.nextExpiry({ key: 'c' }, NOW)).toBe(NOW + 5000);
    expect(await store.nextExpiry({ key: 'd' }, NOW)).toBeNull();
    expect(await store.nextExpiry({ prefix: 'c' }, NOW)).toBe(NOW + 5000);
    expect(await store.nextExpiry({ prefix: '' }, NOW + 1000)).toBe(NOW + 5000);
    expect(await store.nextExpiry({ key: 'a' }, NOW + 1000)).toBeNull();

    expect(await store.expireDue(NOW + 999)).toBe(0);
    expect(await store.revision()).toBe(4);
    expect(await store.expireDue(NOW + 1000)).toBeGreaterThan(0);
    expect(await store.revision()).toBe(5);
    expect(brief(await changesOf(store, { prefix: '' }, 100, { revision: 4, key: AFTER_EVERY_KEY }))).toEqual([
      [5, 'a', 'expire', null],
      [5, 'b', 'expire', null],
    ]);
    expect(await store.stats(NOW + 1000)).toMatchObject({ keys: 2, expiredKeys: 0, revision: 5 });
    expect(await store.expireDue(NOW + 1000)).toBe(0);
    expect(await store.revision()).toBe(5);
    expect(await store.nextExpiry({ prefix: '' }, NOW + 5000)).toBeNull();
  });

  test('expired rows are purged a bounded number at a time', async () => {
    const store = await kind.open();
    await store.applyWrites(Array.from({ length: 150 }, (_, i) => set(`k${i}`, 'v', { expiresAt: NOW + 1 })), NOW);
    expect(await store.expireDue(NOW + 1)).toBeGreaterThan(0);
    expect((await store.stats(NOW + 1)).expiredKeys).toBe(50);
    await store.expireDue(NOW + 1);
    expect((await store.stats(NOW + 1)).expiredKeys).toBe(0);
    const expired = (await changesOf(store)).filter((c) => c.type === 'expire');
    expect(expired).toHaveLength(150);
    expect(new Set(expired.map((c) => c.revision))).toEqual(new Set([151, 152]));
  });

  test('a write purges expired rows as one expire change after its own revision', async () => {
    const store = await kind.open();
    await store.applyWrites([set('e1', 'x', { expiresAt: NOW + 10 }), set('e2', 'y', { expiresAt: NOW + 10 })], NOW);
    const out = await store.applyWrites([set('k', 'v')], NOW + 20);
    expect(out.results).toEqual([{ status: 'applied', revision: 3, existed: false, after: entry('k', 'v', 3, 3, 1) }]);
    expect(await store.revision()).toBe(4);
    expect(brief(await changesOf(store))).toEqual([
      [1, 'e1', 'put', 'x'],
      [2, 'e2', 'put', 'y'],
      [3, 'k', 'put', 'v'],
      [4, 'e1', 'expire', null],
      [4, 'e2', 'expire', null],
    ]);
    expect(await store.stats(NOW + 20)).toMatchObject({ keys: 1, expiredKeys: 0 });
  });

  test('a set whose expiry has passed is applied and logged, and leaves the key absent', async () => {
    const store = await kind.open();
    await store.applyWrites([set('k', 'v')], NOW);
    const out = await store.applyWrites([set('k', 'late', { expiresAt: NOW - 1 }), set('fresh', 'gone', { expiresAt: NOW })], NOW);
    expect(out.results).toEqual([
      { status: 'applied', revision: 2, existed: true, after: undefined },
      { status: 'applied', revision: 3, existed: false, after: undefined },
    ]);
    expect(out.owed.map((o) => o.key)).toEqual(['k']);
    expect(await store.read('k', NOW)).toBeUndefined();
    expect(await store.stats(NOW)).toMatchObject({ revision: 3, keys: 0, expiredKeys: 0 });
    const changes = await changesOf(store);
    expect(brief(changes)).toEqual([
      [1, 'k', 'put', 'v'],
      [2, 'k', 'put', 'late'],
      [3, 'fresh', 'put', 'gone'],
    ]);
    expect(changes[1]!.expiresAt).toBe(NOW - 1);
  });

  describe('applyWriteStream (import)', () => {
    test('takes one revision for every chunk, counts overwrites, owes invalidations for keys that had rows', async () => {
      const store = await kind.open();
      await store.applyWrites([set('old', '1'), set('keep', 'k')], NOW); // 1, 2
      const out = await store.applyWriteStream(chunksOf([[set('old', '2'), set('a', 'x')], [], [set('b', 'y', { expiresAt: NOW + 5000 }), del('nothing')]]), NOW);
      expect(out).toEqual({ writes: 4, existed: 1, owed: [expect.objectContaining({ key: 'old' })], pool: null, revision: 3 });
      expect(await store.revision()).toBe(3);
      expect(await store.read('a', NOW)).toEqual(entry('a', 'x', 3, 3, 1));
      expect(await store.read('b', NOW)).toEqual(entry('b', 'y', 3, 3, 1, NOW + 5000));
      expect(await store.read('old', NOW)).toEqual(entry('old', '2', 3, 1, 2));
      expect(await store.read('keep', NOW)).toEqual(entry('keep', 'k', 2, 2, 1));
      expect(brief(await changesOf(store, { prefix: '' }, 2, { revision: 2, key: AFTER_EVERY_KEY }))).toEqual([
        [3, 'a', 'put', 'x'],
        [3, 'b', 'put', 'y'],
        [3, 'old', 'put', '2'],
      ]);
      const next = await store.applyWrites([set('a', 'z')], NOW);
      expect(next.results[0]).toMatchObject({ revision: 4 });
      // An import that changes nothing takes no revision.
      expect(await store.applyWriteStream(chunksOf([[del('nope')]]), NOW)).toMatchObject({ writes: 1, existed: 0, revision: 4 });
      expect(await store.revision()).toBe(4);
    });

    test('is all or nothing: a source that throws midway rolls every chunk back, and its error comes through as is', async () => {
      const store = await kind.open();
      await store.applyWrites([set('before', '1')], NOW);
      const malformed = new UsageError('import line 3: not JSON');
      async function* source() {
        yield [set('x', '1'), set('before', '2')];
        yield [set('y', '2')];
        throw malformed;
      }
      await expect(store.applyWriteStream(source(), NOW)).rejects.toBe(malformed);
      expect(await store.revision()).toBe(1);
      expect(await store.readMany(['x', 'y'], NOW)).toEqual(new Map());
      expect((await store.read('before', NOW))?.value.toString()).toBe('1');
      expect(brief(await changesOf(store))).toEqual([[1, 'before', 'put', '1']]);
      expect((await store.pendingInvalidations(10)).pending).toEqual([]);
    });

    test('is all or nothing when the source fails with an I/O error code too (it is never replayed)', async () => {
      const store = await kind.open();
      const ioError = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
      let started = 0;
      async function* source() {
        started++;
        yield [set('x', '1')];
        throw ioError;
      }
      await expect(store.applyWriteStream(source(), NOW)).rejects.toThrow('EIO: i/o error, read');
      expect(started).toBe(1);
      expect(await store.revision()).toBe(0);
      expect(await store.read('x', NOW)).toBeUndefined();
    });

    test('floor() moves the import above a higher exported revision, asked once the source is read', async () => {
      const store = await kind.open();
      await store.applyWrites([set('x', '1')], NOW); // 1
      const events: string[] = [];
      async function* source() {
        events.push('chunk 1');
        yield [set('a', '1'), set('x', '2')];
        events.push('chunk 2');
        yield [set('b', '2')];
        events.push('read');
      }
      const floor = () => {
        events.push('floor');
        return 41;
      };
      const out = await store.applyWriteStream(source(), NOW, floor);
      expect(events).toEqual(['chunk 1', 'chunk 2', 'read', 'floor']);
      expect(out.revision).toBe(42);
      expect(await store.revision()).toBe(42);
      expect(await store.read('a', NOW)).toEqual(entry('a', '1', 42, 42, 1));
      expect(await store.read('x', NOW)).toEqual(entry('x', '2', 42, 1, 2));
      expect((await changesOf(store)).map((c) => [c.revision, c.key, c.createRevision])).toEqual([
        [1, 'x', 1],
        [42, 'a', 42],
        [42, 'b', 42],
        [42, 'x', 1],
      ]);
      expect((await store.applyWrites([set('c', '3')], NOW)).results[0]).toMatchObject({ revision: 43 });
      // A floor below the database's revision changes nothing.
      expect((await store.applyWriteStream(chunksOf([[set('d', '4')]]), NOW, () => 10)).revision).toBe(44);
    });
  });

  describe('deletePrefix', () => {
    test('counts live keys, takes one revision, and owes an invalidation for every row, paged by owedPage', async () => {
      const store = await kind.open();
      await store.applyWrites([set('p/1', 'a'), set('p/2', 'b'), set('p/3', 'c', { expiresAt: NOW + 10 }), set('q/1', 'd'), set('p', 'e'), set('p0', 'f'), set('p/\u{10ffff}', 'g')], NOW);
      const out = await store.deletePrefix('p/', NOW + 10);
      expect(out).toMatchObject({ count: 3, revision: 8, pool: null });
      expect(out.owed).not.toBeNull();
      const { firstId, lastId } = out.owed!;
      expect(lastId - firstId + 1).toBe(4); // every row, the expired one included, and nobody else's
      const pages: string[][] = [];
      for (let after = firstId - 1; ; ) {
        const page = await store.owedPage(after, lastId, 3);
        if (page.length === 0) break;
        expect(page.every((p) => p.id > after && p.id <= lastId)).toBe(true);
        pages.push(page.map((p) => p.key));
        after = page[page.length - 1]!.id;
      }
      expect(pages.map((page) => page.length)).toEqual([3, 1]);
      expect(pages.flat().sort(byteOrder)).toEqual(['p/1', 'p/2', 'p/3', 'p/\u{10ffff}']);
      // The expired row goes as the expiry it is, at the same revision: a watcher of p/3 sees its EXPIRE.
      expect(brief(await changesOf(store, { prefix: 'p' }, 100, { revision: 7, key: AFTER_EVERY_KEY }))).toEqual([
        [8, 'p/1', 'delete', null],
        [8, 'p/2', 'delete', null],
        [8, 'p/3', 'expire', null],
        [8, 'p/\u{10ffff}', 'delete', null],
      ]);
      expect((await scanAll(store, '', 10, NOW + 10)).map((e) => e.key)).toEqual(['p', 'p0', 'q/1']);
      expect(await store.stats(NOW + 10)).toMatchObject({ revision: 8, keys: 3, expiredKeys: 0, pendingInvalidations: 4 });

      // Nothing under the prefix: no revision, nothing owed.
      expect(await store.deletePrefix('p/', NOW + 10)).toEqual({ count: 0, revision: 8, pool: null, owed: null });
      // '' is every key.
      const all = await store.deletePrefix('', NOW + 10);
      expect(all).toMatchObject({ count: 3, revision: 9 });
      expect(all.owed!.lastId - all.owed!.firstId + 1).toBe(3);
      expect(all.owed!.firstId).toBeGreaterThan(lastId);
      expect(await store.countLive('', NOW + 10)).toBe(0);
    });

    test('a prefix holding only expired rows: count 0, but the expiries are recorded at a revision of their own', async () => {
      const store = await kind.open();
      await store.applyWrites([set('e/1', 'a', { expiresAt: NOW + 5 }), set('f', 'b')], NOW);
      expect(await store.deletePrefix('e/', NOW + 10)).toMatchObject({ count: 0, revision: 3 });
      expect(brief(await changesOf(store, { prefix: 'e/' }))).toEqual([
        [1, 'e/1', 'put', 'a'],
        [3, 'e/1', 'expire', null],
      ]);
      expect(await store.deletePrefix('e/', NOW + 10)).toMatchObject({ count: 0, revision: 3, owed: null });
    });

    test('a prefix ending in U+10FFFF or U+FFFF removes exactly its keys', async () => {
      const store = await kind.open();
      await store.applyWrites(['\u{10ffff}', '\u{10ffff}a', '\u{10fffe}', 'x\u{10ffff}', 'x\u{10ffff}\u0000', 'y', '\uffff', '\uffff!', '\u{10000}'].map((key) => set(key, 'v')), NOW);
      expect((await store.deletePrefix('x\u{10ffff}', NOW)).count).toBe(2);
      expect((await store.deletePrefix('\u{10ffff}', NOW)).count).toBe(2);
      expect((await store.deletePrefix('\uffff', NOW)).count).toBe(2);
      expect((await scanAll(store, '', 10)).map((e) => e.key)).toEqual(['y', '\u{10000}', '\u{10fffe}']);
    });
  });

  test('outbox: a fresh insert owes nothing, an overwrite or delete owes, a key with a pending invalidation owes again', async () => {
    const store = await kind.open();
    const owed = async (writes: Write[], now = NOW) => (await store.applyWrites(writes, now)).owed.map((o) => o.key);
    expect(await owed([set('k', '1')])).toEqual([]);
    expect(await owed([set('k', '2')])).toEqual(['k']);
    expect(await owed([del('k')])).toEqual(['k']);
    // k has no row now, but its invalidations are still pending: a concurrent copy may be in flight.
    expect(await owed([set('k', '3')])).toEqual(['k']);
    const pending = (await store.pendingInvalidations(10)).pending;
    expect(pending.map((p) => p.key)).toEqual(['k', 'k', 'k']);
    expect(pending.map((p) => p.id)).toEqual([...pending.map((p) => p.id)].sort((x, y) => x - y));
    expect(new Set(pending.map((p) => p.id)).size).toBe(3);
    expect((await store.stats(NOW)).pendingInvalidations).toBe(3);

    await store.clearInvalidations(pending.slice(0, 2).map((p) => p.id));
    expect((await store.pendingInvalidations(10)).pending).toEqual(pending.slice(2));
    await store.clearInvalidations([]);
    await store.clearInvalidations([pending[2]!.id]);
    expect((await store.pendingInvalidations(10)).pending).toEqual([]);

    expect(await owed([del('k')])).toEqual(['k']);
    await store.clearInvalidations((await store.pendingInvalidations(10)).pending.map((p) => p.id));
    expect(await owed([set('k', 'fresh again')])).toEqual([]);
    // An expired row still had a copy: writing over it owes.
    await owed([set('e', '1', { expiresAt: NOW + 1 })]);
    expect(await owed([set('e', '2')], NOW + 5)).toEqual(['e']);
    // Failed conditions and counters, and deletes of nothing, owe nothing.
    expect(await owed([set('e', 'x', { condition: { kind: 'absent' } }), incr('k', 1n), del('nothing')], NOW + 5)).toEqual([]);
    // Oldest first, at most `limit`.
    const first = (await store.pendingInvalidations(1)).pending;
    expect(first).toHaveLength(1);
    expect(first[0]!.key).toBe('e');
  });

  test('the pool record: first recorded wins, changePool replaces it, every outcome carries it', async () => {
    const store = await kind.open();
    const other = await kind.openAgain(store);
    expect(await store.pool()).toBeNull();
    expect(await store.pendingInvalidations(10)).toEqual({ pool: null, pending: [] });
    expect((await store.applyWrites([set('k', '1')], NOW)).pool).toBeNull();

    const raced = await Promise.all([store.recordPool('A'), other.recordPool('B')]);
    expect(raced[0]).toBe(raced[1]);
    const recorded = raced[0];
    expect(await store.recordPool('C')).toBe(recorded);
    expect(await other.pool()).toBe(recorded);

    const written = await store.applyWrites([set('k', '2')], NOW);
    expect(written.pool).toBe(recorded);
    expect(await store.pendingInvalidations(10)).toEqual({ pool: recorded, pending: written.owed });

    const seen: (string | null)[] = [];
    expect(
      await other.changePool((current) => {
        seen.push(current);
        return 'D';
      }),
    ).toEqual({ before: recorded, after: 'D' });
    expect(seen).toEqual([recorded]);
    expect(await store.changePool(() => null)).toEqual({ before: 'D', after: 'D' });
    expect(await store.pool()).toBe('D');
    expect((await store.deletePrefix('', NOW)).pool).toBe('D');
    expect((await store.applyWriteStream(chunksOf([[set('n', '1')]]), NOW)).pool).toBe('D');
    expect((await store.pendingInvalidations(0)).pool).toBe('D');
    // Pool records take no revision.
    expect(await store.revision()).toBe(4);
  });

  test('changesAfter pages by (revision, key) positions, for one key or a prefix', async () => {
    const store = await kind.open();
    await store.applyWrites([set('a', '1')], NOW); // 1
    await store.applyWrites([set('b', '2', { expiresAt: NOW + 50_000 }), set('a', '3')], NOW); // 2, 3
    await store.deletePrefix('', NOW); // 4
    await store.applyWrites([set('c/1', 'x'), set('c/2', 'y')], NOW); // 5, 6
    const expected = [
      [1, 'a', 'put', '1'],
      [2, 'b', 'put', '2'],
      [3, 'a', 'put', '3'],
      [4, 'a', 'delete', null],
      [4, 'b', 'delete', null],
      [5, 'c/1', 'put', 'x'],
      [6, 'c/2', 'put', 'y'],
    ];
    for (const limit of [1, 2, 3, 100]) expect(brief(await changesOf(store, { prefix: '' }, limit))).toEqual(expected);
    const page = await store.changesAfter({ revision: 4, key: 'a' }, { prefix: '' }, 1);
    expect(page).toEqual({ changes: [{ revision: 4, key: 'b', type: 'delete', value: null, expiresAt: null, createRevision: null, version: null }], revision: 6, compacted: 0 });
    expect((await store.changesAfter({ revision: 1, key: 'a' }, { prefix: '' }, 1)).changes[0]).toEqual({
      revision: 2,
      key: 'b',
      type: 'put',
      value: b('2'),
      expiresAt: NOW + 50_000,
      createRevision: 2,
      version: 1,
    });
    expect(brief(await changesOf(store, { key: 'a' }, 1))).toEqual([
      [1, 'a', 'put', '1'],
      [3, 'a', 'put', '3'],
      [4, 'a', 'delete', null],
    ]);
    expect(brief(await changesOf(store, { prefix: 'c/' }, 1))).toEqual(expected.slice(5));
    expect(brief(await changesOf(store, { key: 'c' }))).toEqual([]);
    expect(await store.changesAfter({ revision: 6, key: AFTER_EVERY_KEY }, { prefix: '' }, 10)).toEqual({ changes: [], revision: 6, compacted: 0 });
  });

  test('retention: old changes are dropped and the compacted mark moves, never past the base of a transaction', async () => {
    const store = await kind.open({ historyRevisions: 10 });
    for (let i = 1; i <= 30; i++) await store.applyWrites([set('k', String(i))], NOW);
    let page = await store.changesAfter({ revision: 0, key: '' }, { prefix: '' }, 100);
    expect(page.compacted).toBe(20);
    expect(page.changes.map((c) => c.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 21 + i));
    expect(page.revision).toBe(30);

    // One transaction of 50 revisions: a watcher that had caught up with 30 must still find all of them.
    await store.applyWrites(Array.from({ length: 50 }, (_, i) => set(`m${i}`, 'v')), NOW);
    page = await store.changesAfter({ revision: 0, key: '' }, { prefix: '' }, 100);
    expect(page.compacted).toBe(30);
    expect(page.changes.map((c) => c.revision)).toEqual(Array.from({ length: 50 }, (_, i) => 31 + i));

    await store.applyWrites([set('k', 'last')], NOW);
    page = await store.changesAfter({ revision: 0, key: '' }, { prefix: '' }, 100);
    expect(page.compacted).toBe(71);
    expect(page.changes.map((c) => c.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 72 + i));
    // A second instance with the default retention reads the same mark.
    const again = await kind.openAgain(store);
    expect((await again.changesAfter({ revision: 0, key: '' }, { key: 'k' }, 10)).compacted).toBe(71);
  });

  test('leases: acquire, held, renew and release by the owner only, takeover after expiry with a higher fencing revision', async () => {
    const store = await kind.open();
    await store.applyWrites([set('job', 'a key, not a lock')], NOW); // 1
    const a = await store.acquireLease('job', 'owner-a', 1000, NOW);
    expect(a).toEqual({ taken: true, lease: { name: 'job', owner: 'owner-a', revision: 2, expiresAt: NOW + 1000 } });
    expect(await store.revision()).toBe(2);
    if (!a.taken) throw new Error('unreachable');

    const held = await store.acquireLease('job', 'owner-b', 1000, NOW + 999);
    expect(held).toEqual({ taken: false, holder: { name: 'job', owner: 'owner-a', revision: 2, expiresAt: NOW + 1000 } });
    expect(await store.revision()).toBe(2);
    // Asked again by its owner (an acquisition whose commit was never confirmed): the same lease, no new revision.
    expect(await store.acquireLease('job', 'owner-a', 1000, NOW + 10)).toEqual(a);
    expect(await store.revision()).toBe(2);

    expect(await store.renewLease({ ...a.lease, owner: 'owner-b' }, 1000, NOW + 500)).toBe(false);
    expect(await store.releaseLease({ ...a.lease, owner: 'owner-b' })).toBe(false);
    expect(await store.renewLease(a.lease, 1000, NOW + 500)).toBe(true);
    const stillHeld = await store.acquireLease('job', 'owner-b', 1000, NOW + 1499);
    expect(stillHeld).toMatchObject({ taken: false, holder: { owner: 'owner-a', expiresAt: NOW + 1500 } });

    const takeover = await store.acquireLease('job', 'owner-b', 1000, NOW + 1500);
    expect(takeover).toEqual({ taken: true, lease: { name: 'job', owner: 'owner-b', revision: 3, expiresAt: NOW + 2500 } });
    if (!takeover.taken) throw new Error('unreachable');
    expect(await store.renewLease(a.lease, 1000, NOW + 1600)).toBe(false);
    expect(await store.releaseLease(a.lease)).toBe(false);
    // The fencing revision is part of the lease: the same owner with another revision does not hold it.
    expect(await store.releaseLease({ ...takeover.lease, revision: a.lease.revision })).toBe(false);
    expect(await store.releaseLease(takeover.lease)).toBe(true);
    expect(await store.releaseLease(takeover.lease)).toBe(false);
    const c = await store.acquireLease('job', 'owner-c', 1000, NOW + 1600);
    expect(c).toMatchObject({ taken: true, lease: { revision: 4 } });
    if (!c.taken) throw new Error('unreachable');
    // A lease that ran out cannot be renewed, even by its owner.
    expect(await store.renewLease(c.lease, 1000, NOW + 2600)).toBe(false);
    // Locks live apart from keys.
    expect((await store.read('job', NOW + 2600))?.value.toString()).toBe('a key, not a lock');
    expect(await store.countLive('', NOW)).toBe(1);
  });

  test('stats: revision, live and expired keys, pending invalidations, size', async () => {
    const store = await kind.open();
    const empty = await store.stats(NOW);
    expect(empty).toEqual({ revision: 0, keys: 0, expiredKeys: 0, pendingInvalidations: 0, dbBytes: expect.any(Number) });
    expect(empty.dbBytes).toBeGreaterThan(0);
    await store.applyWrites([set('a', '1'), set('b', '2', { expiresAt: NOW + 5 }), set('c', randomBytes(256 * 1024))], NOW);
    await store.applyWrites([set('a', '3')], NOW);
    const stats = await store.stats(NOW + 5);
    expect(stats).toEqual({ revision: 4, keys: 2, expiredKeys: 1, pendingInvalidations: 1, dbBytes: expect.any(Number) });
    expect(stats.dbBytes).toBeGreaterThan(empty.dbBytes);
  });

  test('values: 8 MiB, binary and empty round-trip exactly, through every read and the change log', async () => {
    const store = await kind.open();
    const big = randomBytes(8 * 1024 * 1024);
    const binary = Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe]);
    await store.applyWrites([set('big', big), set('bin', binary), set('empty', Buffer.alloc(0)), set('nul\u0000key', binary)], NOW);
    expect((await store.read('big', NOW))!.value.equals(big)).toBe(true);
    expect((await store.read('bin', NOW))!.value).toEqual(binary);
    expect((await store.read('empty', NOW))!.value).toEqual(Buffer.alloc(0));
    expect((await store.read('nul\u0000key', NOW))!.value).toEqual(binary);
    const many = await store.readMany(['big', 'bin', 'empty'], NOW);
    expect(many.get('big')!.value.equals(big)).toBe(true);
    expect(many.get('empty')!.value.length).toBe(0);
    const listed = await scanAll(store, '', 2);
    expect(listed.map((e) => e.key)).toEqual(['big', 'bin', 'empty', 'nul\u0000key']);
    expect(listed[0]!.value.equals(big)).toBe(true);
    const changes = await changesOf(store);
    expect(changes.find((c) => c.key === 'big')!.value!.equals(big)).toBe(true);
    expect(changes.find((c) => c.key === 'bin')!.value).toEqual(binary);
    expect(changes.find((c) => c.key === 'empty')!.value).toEqual(Buffer.alloc(0));
    // Conditions compare bytes, and an import carries a big value too.
    expect((await store.applyWrites([set('bin', 'x', { condition: { kind: 'value', value: Buffer.from([0, 1, 2, 0xff, 0xfe]) } })], NOW)).results[0]!.status).toBe('applied');
    await store.applyWriteStream(chunksOf([[set('big2', big), set('small', binary)]]), NOW);
    expect((await store.read('big2', NOW))!.value.equals(big)).toBe(true);
  });

  test('a write of 12,000 keys: every key written, read back, overwritten with one invalidation each, logged', async () => {
    const store = await kind.open();
    const keys = Array.from({ length: 12_000 }, (_, i) => `bulk/${String(i).padStart(5, '0')}`);
    const fresh = await store.applyWrites(keys.map((key) => set(key, key)), NOW);
    expect(fresh.owed).toEqual([]);
    expect(fresh.results.every((r, i) => r.status === 'applied' && r.revision === i + 1)).toBe(true);
    expect(await store.countLive('bulk/', NOW)).toBe(12_000);
    const read = await store.readMany(keys, NOW);
    expect(read.size).toBe(12_000);
    expect(read.get('bulk/11999')).toEqual(entry('bulk/11999', 'bulk/11999', 12_000, 12_000, 1));
    // Conditions need the values: the overwrite reads them all.
    const overwrite = await store.applyWrites(keys.map((key) => set(key, 'new', { condition: { kind: 'value', value: b(key) } })), NOW);
    expect(overwrite.results.filter((r) => r.status === 'applied')).toHaveLength(12_000);
    expect(overwrite.owed.map((o) => o.key)).toEqual(keys);
    expect(new Set(overwrite.owed.map((o) => o.id)).size).toBe(12_000);
    expect(await store.stats(NOW)).toMatchObject({ revision: 24_000, keys: 12_000, pendingInvalidations: 12_000 });
    const page = await store.changesAfter({ revision: 11_999, key: AFTER_EVERY_KEY }, { prefix: 'bulk/' }, 3);
    expect(brief(page.changes)).toEqual([
      [12_000, 'bulk/11999', 'put', 'bulk/11999'],
      [12_001, 'bulk/00000', 'put', 'new'],
      [12_002, 'bulk/00001', 'put', 'new'],
    ]);
    expect((await store.deletePrefix('bulk/', NOW)).count).toBe(12_000);
  });

  test('a key of 1024 bytes works like any other', async () => {
    const store = await kind.open();
    const long = 'é'.repeat(512);
    expect(Buffer.byteLength(long)).toBe(1024);
    await store.applyWrites([set(long, 'v'), set(`${long.slice(1)}x`, 'w')], NOW);
    expect(await store.read(long, NOW)).toEqual(entry(long, 'v', 1, 1, 1));
    expect((await scanAll(store, 'é'.repeat(511), 1)).map((e) => e.key)).toEqual([long, `${long.slice(1)}x`].sort(byteOrder));
    expect(brief(await changesOf(store, { key: long }))).toEqual([[1, long, 'put', 'v']]);
    expect((await store.deletePrefix(long, NOW)).count).toBe(1);
  });

  test('two instances on one database: 8 concurrent incr loops end at exactly 400, revisions gap-free, each change logged once', async () => {
    const a = await kind.open();
    const b2 = await kind.openAgain(a);
    const loop = async (store: Store) => {
      for (let i = 0; i < 50; i++) {
        const out = await store.applyWrites([incr('n', 1n)], NOW);
        expect(out.results[0]!.status).toBe('applied');
      }
    };
    await Promise.all([a, a, a, a, b2, b2, b2, b2].map(loop));
    expect(await a.read('n', NOW)).toEqual(entry('n', '400', 400, 1, 400));
    expect(await b2.revision()).toBe(400);
    const changes = await changesOf(b2, { key: 'n' }, 128);
    expect(changes.map((c) => [c.revision, c.value?.toString(), c.version])).toEqual(Array.from({ length: 400 }, (_, i) => [i + 1, String(i + 1), i + 1]));
  });

  test("a commit by one instance wakes the other's notifier listeners (and its own)", async () => {
    const a = await kind.open();
    const b2 = await kind.openAgain(a);
    await a.applyWrites([set('x', 'start')], NOW);
    let woken = 0;
    let own = 0;
    const unsubscribe = b2.notifier.subscribe(() => woken++);
    const unsubscribeOwn = a.notifier.subscribe(() => own++);
    try {
      await sleep(500); // the notifiers settle (LISTEN connected, first look taken) and any start-up wake passes
      for (let round = 0; round < 3; round++) {
        const [before, ownBefore] = [woken, own];
        await a.applyWrites([set('x', String(round))], NOW);
        expect(await until(() => woken > before, 4000)).toBeLessThan(4000);
        await until(() => own > ownBefore, 4000);
      }
    } finally {
      unsubscribe();
      unsubscribeOwn();
    }
  });
});

(postgresKind ? describe : describe.skip)('postgres store only', () => {
  const kind = postgresKind!;

  test('a store keeps working across a server restart, for reads and writes, without reopening', async () => {
    const server = await kind.server();
    const store = await kind.open();
    await store.applyWrites([set('k', 'before')], NOW);
    // Fill the pool with several connections, so more than one dies in the restart.
    await Promise.all(Array.from({ length: 6 }, (_, i) => store.read(`k${i}`, NOW)));
    await server.restart();
    expect((await store.read('k', NOW))?.value.toString()).toBe('before');
    expect((await store.applyWrites([set('k', 'after')], NOW)).results[0]).toMatchObject({ status: 'applied', revision: 2 });
    expect(await store.revision()).toBe(2);
  });

  test('a connection failure is a StorageError that never shows the password', async () => {
    const server = await kind.server();
    const withPassword = server.url.replace('postgres://postgres@', 'postgres://postgres:s3cret@');
    expect(withPassword).toContain(':s3cret@');
    const store = await kind.openAt(withPassword);
    expect(store.location).not.toContain('s3cret');
    await store.applyWrites([set('k', 'v')], NOW);
    await server.kill(); // down, as after a crash (stop() would remove the cluster)
    try {
      for (const attempt of [() => store.read('k', NOW), () => store.applyWrites([set('k', 'w')], NOW), () => store.revision()]) {
        const error = await attempt().then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(StoreUnavailableError); // a StorageError that watch waits out
        expect((error as Error).message).toMatch(/^PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/tbase: connection refused/);
        expect((error as Error).message).not.toContain('s3cret');
      }
      const opening = await kind.openAt(withPassword).then(
        () => null,
        (e: unknown) => e,
      );
      expect(opening).toBeInstanceOf(StorageError);
      expect((opening as Error).message).toMatch(/connection refused/);
      expect((opening as Error).message).not.toContain('s3cret');
    } finally {
      await server.restart();
    }
    expect((await store.read('k', NOW))?.value.toString()).toBe('v');
  });

  test('the LISTEN notifier wakes its listeners again after a restart', async () => {
    const server = await kind.server();
    const a = await kind.open();
    const listener = await kind.openAgain(a);
    let woken = 0;
    const unsubscribe = listener.notifier.subscribe(() => woken++);
    try {
      await sleep(300);
      const before = woken;
      await a.applyWrites([set('x', '0')], NOW);
      await until(() => woken > before, 3000);
      await server.restart();
      // It wakes once when it is listening again (to catch up on what it missed); then for every commit.
      await until(() => woken > before + 1, 10_000);
      for (let round = 1; round <= 3; round++) {
        const seen = woken;
        await a.applyWrites([set('x', String(round))], NOW);
        expect(await until(() => woken > seen, 3000)).toBeLessThan(3000);
      }
    } finally {
      unsubscribe();
    }
  });

  test('recordPool answers the recorded pool when another host records one at the same moment', async () => {
    const server = await kind.server();
    const store = await kind.open();
    const schema = /schema (t_\d+)/.exec(store.location)![1]!;
    // Another host's insert is in flight (not yet committed) when recordPool runs, and commits after it began.
    const other = new pg.Client({ connectionString: server.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO ${schema}.meta (name, value) VALUES ('pool', 'theirs')`);
      const recording = store.recordPool('mine');
      await sleep(300); // recordPool waits on the other's row
      await other.query('COMMIT');
      expect(await recording).toBe('theirs');
      expect(await store.pool()).toBe('theirs');
    } finally {
      await other.end();
    }
  });

  test('an import whose connection dies midway fails as a StorageError, and is not run again on what is left of its source', async () => {
    const server = await kind.server();
    const store = await kind.open();
    await store.applyWrites([set('before', '1')], NOW);
    const outsider = new pg.Client({ connectionString: server.url });
    await outsider.connect();
    let chunks = 0;
    async function* source() {
      chunks++;
      yield [set('x', '1')];
      // The import's connection sits idle in its transaction while the source is read: end it from outside.
      const { rows } = await outsider.query(`SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'`);
      expect(rows).toEqual([{ ended: true }]);
      chunks++;
      yield [set('y', '2')];
      chunks++;
      yield [set('z', '3')];
    }
    try {
      const error = await store.applyWriteStream(source(), NOW).then(
        (outcome) => outcome,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect(chunks).toBe(2);
      expect(await store.revision()).toBe(1);
      expect(await store.readMany(['x', 'y', 'z'], NOW)).toEqual(new Map());
    } finally {
      await outsider.end();
    }
  });

  test('a writer that holds the database too long makes the next one fail after the lock timeout, not hang', async () => {
    const server = await kind.server();
    const store = await kind.openAt(server.url, { connectTimeoutMs: 300 });
    const schema = /schema (t_\d+)/.exec(store.location)![1]!;
    const holder = new pg.Client({ connectionString: server.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT value FROM ${schema}.revision WHERE id = 1 FOR UPDATE`);
      const started = Date.now();
      const error = await store.applyWrites([set('k', 'v')], NOW).then(
        (outcome) => outcome,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect((error as Error).message).toMatch(/another writer held the database too long/);
      expect(Date.now() - started).toBeLessThan(3000);
      await holder.query('ROLLBACK');
      expect((await store.applyWrites([set('k', 'v')], NOW)).results[0]).toMatchObject({ status: 'applied', revision: 1 });
    } finally {
      await holder.end();
    }
  });

  test('hosts opening a new schema at the same moment agree on one namespace', async () => {
    const server = await kind.server();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(server.url, 'race_at_start')));
    try {
      expect(new Set(stores.map((store) => store.namespaceId)).size).toBe(1);
      await stores[0]!.applyWrites([set('k', 'v')], NOW);
      expect((await stores[3]!.read('k', NOW))?.value.toString()).toBe('v');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});
