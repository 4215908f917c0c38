import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { StorageError } from '../../src/errors.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { SqliteConnection } from '../../src/store/sqlite-driver.js';
import { removeTempDirs, tempDbPath, tempDir } from '../helpers/temp.js';

const NOW = 1_700_000_000_000;
const open = (path = tempDbPath()) => SqliteStore.open(path, 2000);
const set = (key: string, value: string | Buffer, expiresAt: number | null = null) =>
  ({ op: 'set', key, value: Buffer.isBuffer(value) ? value : Buffer.from(value), expiresAt }) as const;

afterAll(removeTempDirs);

describe('SqliteStore', () => {
  test('creates folder and file owner-only, with a namespace id that survives reopening', async () => {
    const path = tempDbPath();
    const store = await open(path);
    await store.applyWrites([set('k', 'v')], NOW);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-shm`).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    const namespace = store.namespaceId;
    expect(namespace).toMatch(/^[0-9a-f]{24}$/);
    await store.close();
    const again = await open(path);
    expect(again.namespaceId).toBe(namespace);
    await again.close();
    const other = await open();
    expect(other.namespaceId).not.toBe(namespace);
    await other.close();
  });

  test('upserts one row per key and round-trips binary, empty and large values exactly', async () => {
    const store = await open();
    const binary = randomBytes(5 * 1024 * 1024);
    await store.applyWrites([set('k', 'one'), set('k', 'two'), set('bin', binary), set('empty', Buffer.alloc(0)), set('ключ 🔑', '\0nul\0')], NOW);
    expect((await store.read('k', NOW))?.value.toString()).toBe('two');
    expect((await store.read('bin', NOW))?.value.equals(binary)).toBe(true);
    expect((await store.read('empty', NOW))?.value.length).toBe(0);
    expect((await store.read('ключ 🔑', NOW))?.value.toString()).toBe('\0nul\0');
    expect((await store.stats(NOW)).keys).toBe(4);
    await store.close();
  });

  test('hides expired rows and purges them on later writes', async () => {
    const store = await open();
    await store.applyWrites([set('short', 'x', NOW + 1000), set('long', 'y', NOW + 60_000)], NOW);
    expect(await store.read('short', NOW + 999)).toBeDefined();
    expect(await store.read('short', NOW + 1000)).toBeUndefined();
    expect((await store.stats(NOW + 2000)).expiredKeys).toBe(1);
    await store.applyWrites([set('other', 'z')], NOW + 2000);
    expect((await store.stats(NOW + 2000)).expiredKeys).toBe(0);
    await store.close();
  });

  test('records an invalidation for overwrites and deletes, none for fresh inserts', async () => {
    const store = await open();
    const keysOwed = async (writes: Parameters<SqliteStore['applyWrites']>[0]) => {
      const { results, owed } = await store.applyWrites(writes, NOW);
      return { existed: results.map((r) => r.status === 'applied' && r.existed), owed: owed.map((o) => o.key) };
    };
    expect(await keysOwed([set('a', '1')])).toEqual({ existed: [false], owed: [] });
    expect(await keysOwed([set('a', '2')])).toEqual({ existed: [true], owed: ['a'] });
    expect(await keysOwed([{ op: 'delete', key: 'a' }])).toEqual({ existed: [true], owed: ['a'] });
    // The delete's invalidation is still pending: a fresh insert of the same key must owe one too.
    expect(await keysOwed([set('a', '3')])).toEqual({ existed: [false], owed: ['a'] });
    const { pending } = await store.pendingInvalidations(10);
    expect(pending.map((p) => p.key)).toEqual(['a', 'a', 'a']);
    await store.clearInvalidations(pending.map((p) => p.id));
    expect((await store.pendingInvalidations(10)).pending).toEqual([]);
    expect(await keysOwed([{ op: 'delete', key: 'nope' }])).toEqual({ existed: [false], owed: [] });
    await store.close();
  });

  test('outbox ids are the rows\' own; delivered rows go with the next write, before a read of the outbox, or at close', async () => {
    const path = tempDbPath();
    const store = await open(path);
    const other = await open(path); // another process's view of the outbox
    const otherPending = async () => (await other.stats(NOW)).pendingInvalidations;
    await store.applyWrites(['a', 'b', 'c', 'd'].map((k) => set(k, '1')), NOW);
    const { owed } = await store.applyWrites(['a', 'b', 'c', 'd'].map((k) => set(k, '2')), NOW);
    // The ids handed back are the rows' ids, in order (clearing by id would leave rows behind otherwise).
    expect(owed).toEqual((await store.pendingInvalidations(10)).pending);
    await store.clearInvalidations([owed[0]!.id, owed[1]!.id]);
    // A read of the outbox in this process never sees rows it delivered.
    expect((await store.pendingInvalidations(10)).pending.map((p) => p.key)).toEqual(['c', 'd']);
    await store.clearInvalidations([owed[2]!.id]);
    const next = await store.applyWrites([set('e', '1')], NOW); // a fresh key: owes nothing
    expect(next.owed).toEqual([]);
    expect(await otherPending()).toBe(1); // only d's: c's went with that write
    await store.clearInvalidations([owed[3]!.id]);
    await store.close(); // and the last one at close
    expect(await otherPending()).toBe(0);
    // The next rows continue the ids, as AUTOINCREMENT gives them.
    const reopened = await open(path);
    const more = await reopened.applyWrites([set('a', '3'), set('b', '3')], NOW);
    expect(more.owed.map((o) => o.id)).toEqual([owed[3]!.id + 1, owed[3]!.id + 2]);
    expect(more.owed).toEqual((await reopened.pendingInvalidations(10)).pending);
    await reopened.close();
    await other.close();
  });

  test('scans by prefix in key order, page by page', async () => {
    const store = await open();
    const keys = ['a', 'b:1', 'b:2', 'b:3', 'b;', 'c', 'b'];
    await store.applyWrites(keys.map((k) => set(k, k)), NOW);
    const first = await store.scan('b', '', 2, NOW);
    expect(first.entries.map((e) => e.key)).toEqual(['b', 'b:1']);
    expect(first.done).toBe(false);
    const rest = await store.scan('b', 'b:1', 10, NOW);
    expect(rest.entries.map((e) => e.key)).toEqual(['b:2', 'b:3', 'b;']);
    expect(rest.done).toBe(true);
    expect((await store.scan('', '', 100, NOW)).entries.map((e) => e.key)).toEqual([...keys].sort());
    const keysOnly = await store.scan('b', '', 10, NOW, false);
    expect(keysOnly.entries.map((e) => [e.key, e.value.length])).toEqual(['b', 'b:1', 'b:2', 'b:3', 'b;'].map((k) => [k, 0]));
    await store.close();
  });

  test.each([
    ['read with the state in one query', 1],
    ['read in parts (keys over one JSON parameter)', 2500],
  ])('a chunk of writes whose keys are %s: rows, versions, liveness and owed invalidations as written', async (_, padding) => {
    const store = await open();
    // Keys SQL or JSON could misread ('?' is a parameter to literalSql, quotes end strings), and enough others to
    // make the chunk's keys longer than one JSON parameter in the second case.
    const odd = ['q?', "it's", 'back\\slash', 'ключ 🔑', 'expires', 'kept'];
    const others = Array.from({ length: padding }, (_, i) => `padding-key-${i}`);
    const keys = [...odd, ...others];
    const first = await store.applyWrites(keys.map((k) => set(k, `1 ${k}`, k === 'expires' ? NOW + 10 : null)), NOW);
    expect(first.owed).toEqual([]);
    const second = await store.applyWrites([...keys.map((k) => set(k, `2 ${k}`)), { op: 'delete', key: 'kept' }], NOW + 20);
    // Every key had a row (the expired one too: its copy may still be cached), so each owes one invalidation.
    expect(second.owed.map((o) => o.key).sort()).toEqual([...keys].sort());
    expect(second.results.map((r) => r.status === 'applied' && r.existed)).toEqual([...keys.map((k) => k !== 'expires'), true]);
    for (const key of odd.filter((k) => k !== 'kept')) {
      const entry = (await store.read(key, NOW + 20))!;
      expect(entry.value.toString()).toBe(`2 ${key}`);
      // An expired row counts as absent: the set starts the key again (version 1, created now).
      expect([entry.version, entry.createRevision === entry.revision]).toEqual(key === 'expires' ? [1, true] : [2, false]);
    }
    expect(await store.read('kept', NOW + 20)).toBeUndefined();
    expect((await store.stats(NOW + 20)).keys).toBe(keys.length - 1);
    await store.close();
  });

  test('a group whose rows go to SQLite in several trips (the first sent early) commits all of them or none', async () => {
    const path = tempDbPath();
    const store = await open(path);
    // 600 rows of ~150 characters of JSON each: several slices of JSON_PARAM_CHARS (sqlite-json.ts).
    const writes = Array.from({ length: 600 }, (_, i) => set(`k'${i}`, `${"v'".repeat(20)}${i}`));
    await store.applyWrites([set("k'599", 'old')], NOW); // one overwrite: it owes an invalidation
    const side = await SqliteConnection.open(path, 2000);
    const count = async (table: string) => (await side.get<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))!.n;
    // A row of the first slice fails, then one of the last: each time nothing of the group is committed.
    for (const failing of ["k'3", "k'598"]) {
      await side.exec(`CREATE TRIGGER refuse BEFORE INSERT ON entries WHEN NEW.key = '${failing.replace("'", "''")}' BEGIN SELECT RAISE(ABORT, 'refused'); END`);
      await expect(store.applyWrites(writes, NOW)).rejects.toThrow(/refused/);
      await side.exec('DROP TRIGGER refuse');
      expect([await store.revision(), await count('entries'), await count('changes'), await count('outbox')]).toEqual([1, 1, 1, 0]);
      expect((await store.read("k'599", NOW))?.value.toString()).toBe('old');
    }
    const outcome = await store.applyWrites(writes, NOW);
    expect(outcome.revision).toBe(601);
    expect(outcome.owed.map((owed) => owed.key)).toEqual(["k'599"]);
    expect([await count('entries'), await count('changes')]).toEqual([600, 601]);
    for (const i of [0, 3, 299, 598, 599]) {
      const entry = await store.read(`k'${i}`, NOW);
      expect([entry?.value.toString(), entry?.revision]).toEqual([`${"v'".repeat(20)}${i}`, 2 + i]);
    }
    await side.close();
    await store.close();
  });

  test('treats quotes and SQL in keys and values as data', async () => {
    const store = await open();
    const evil = "x'); DROP TABLE entries; --";
    await store.applyWrites([set(evil, evil)], NOW);
    expect((await store.read(evil, NOW))?.value.toString()).toBe(evil);
    await store.close();
  });

  test('says clearly when the path is a directory, a file that is not a database, or under a file', async () => {
    const dir = tempDir();
    await expect(open(dir)).rejects.toThrow(new StorageError(`cannot open database ${JSON.stringify(dir)}: it is a directory`));
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a database, just some text that is long enough to look like a header'.repeat(20));
    await expect(open(junk)).rejects.toThrow(/is not a tbase database \(file is not a database\)/);
    const underFile = join(junk, 'x.db');
    await expect(open(underFile)).rejects.toThrow(/a parent of it is not a folder/);
    mkdirSync(join(dir, 'sub'));
  });

  test('a write waiting on another connection\'s lock fails with a clear message after the busy timeout', async () => {
    const path = tempDbPath();
    const holder = await SqliteStore.open(path, 100);
    const waiter = await SqliteStore.open(path, 100);
    // Hold the write lock from a raw transaction on the holder's connection.
    const driver = (holder as unknown as { db: { exec(sql: string): Promise<void> } }).db;
    await driver.exec('BEGIN IMMEDIATE');
    let committing = 0;
    await expect(waiter.applyWrites([set('k', 'v')], NOW, { onCommitting: () => committing++ })).rejects.toThrow(/is locked by another process/);
    expect(committing).toBe(0); // it never got as far as its COMMIT
    await driver.exec('ROLLBACK');
    await waiter.applyWrites([set('k', 'v')], NOW);
    await holder.close();
    await waiter.close();
  });
});
