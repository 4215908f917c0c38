/**
 * A database file made by tbase 0.1.0 (schema 1, before the pool record), written by that release's bin:
 * five keys (binary, unicode, one expiring in 100 years) and one invalidation left in the outbox by a write made
 * while memcached was unreachable. The first open brings it to schema 3 in place, losing nothing.
 * And a file made by the release before revisions (schema 2, `release-schema2.db`, written by commit 03b238c's bin
 * with --no-cache: an overwrite and a delete left in the outbox, no pool recorded yet).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheAsideStore } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import { cacheKey } from '../../src/store/cache.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/release-0.1.0.db', import.meta.url));
const SCHEMA2 = fileURLToPath(new URL('../fixtures/release-schema2.db', import.meta.url));

afterAll(removeTempDirs);

function runSqlite(path: string, sql: string): string {
  return spawnSync('sqlite3', [path, sql], { encoding: 'utf8' }).stdout.trim();
}

function copyOfRelease(fixture = FIXTURE): string {
  const path = tempDbPath();
  mkdirSync(dirname(path), { recursive: true });
  copyFileSync(fixture, path);
  return path;
}

test('opening a schema-1 file migrates it in place: entries, expiry, namespace and outbox kept, no pool yet', async () => {
  const path = copyOfRelease();
  const store = await SqliteStore.open(path, 2000);
  try {
    expect(store.namespaceId).toBe('0ade5a55186899aebacf39f6'); // the release's, not made anew
    const rows = await store.readMany(['greeting', 'counter', 'binary', 'ключ 🔑', 'later'], Date.now());
    expect([...rows.values()].map((e) => [e.key, e.value.toString('hex')]).sort()).toEqual([
      ['binary', '000102ff'],
      ['counter', Buffer.from('41').toString('hex')],
      ['greeting', Buffer.from('hello again').toString('hex')],
      ['later', Buffer.from('soon').toString('hex')],
      ['ключ 🔑', Buffer.from('unicode').toString('hex')],
    ]);
    expect(rows.get('later')!.expiresAt).toBe(4949767558616);
    const { pool, pending } = await store.pendingInvalidations(10);
    expect(pool).toBeNull();
    expect(pending.map((p) => p.key)).toEqual(['greeting']);
  } finally {
    await store.close();
  }
  // Opened again, it is the current schema already (the one-round-trip open), with the same namespace.
  const again = await SqliteStore.open(path, 2000);
  await again.close();
  expect(again.namespaceId).toBe('0ade5a55186899aebacf39f6');
  expect(runSqlite(path, 'PRAGMA user_version')).toBe('4');
});

test('the first process on memcached records its pool', async () => {
  const path = copyOfRelease();
  const store = await SqliteStore.open(path, 2000);
  const pool = new MemcachePool([testServers()], { timeoutMs: 1000, retryAfterMs: 0 });
  const policy = new CacheAsideStore(store, pool, { now: Date.now, onCacheFault: () => undefined });
  try {
    expect((await policy.get('greeting')).entry?.value.toString()).toBe('hello again');
    const state = await policy.poolState();
    expect(state).toEqual({ recorded: { servers: [testServers()], hashing: 'rendezvous-fnv1a', epoch: 1 }, configured: [testServers()], using: true });
    expect((await store.pendingInvalidations(10)).pending).toEqual([]); // the release's pending invalidation was delivered
  } finally {
    await policy.close();
  }
  // And the built bin reads the migrated file as any other.
  const list = await runTbase(['list'], { env: { TBASE_DB: path, TBASE_SERVERS: testServers() } });
  expect(list.out).toBe('binary\t\\x00\\x01\\x02\\xff\ncounter\t41\ngreeting\thello again\nlater\tsoon\nключ 🔑\tunicode\n');
});

describe('schema 2 (before revisions) to 3', () => {
  test('entries, expiry, namespace and outbox are kept; every entry and the database start at revision 1', async () => {
    const path = copyOfRelease(SCHEMA2);
    const namespace = runSqlite(path, "SELECT value FROM meta WHERE name = 'namespace_id'");
    const store = await SqliteStore.open(path, 2000);
    try {
      expect(store.namespaceId).toBe(namespace);
      const rows = await store.readMany(['greeting', 'counter', 'binary', 'ключ 🔑', 'later', 'gone'], Date.now());
      expect([...rows.values()].map((e) => [e.key, e.value.toString('hex'), e.revision, e.createRevision, e.version]).sort()).toEqual([
        ['binary', '000102ff', 1, 1, 1],
        ['counter', Buffer.from('41').toString('hex'), 1, 1, 1],
        ['greeting', Buffer.from('hello again').toString('hex'), 1, 1, 1],
        ['later', Buffer.from('soon').toString('hex'), 1, 1, 1],
        ['ключ 🔑', Buffer.from('unicode').toString('hex'), 1, 1, 1],
      ]);
      expect(rows.get('later')!.expiresAt).toBeGreaterThan(Date.now() + 99 * 365 * 86400_000);
      expect((await store.pendingInvalidations(10)).pending.map((p) => p.key)).toEqual(['greeting', 'gone']);
      expect(await store.revision()).toBe(1);
      // The next write is revision 2, and a counter carries on from the value the old release stored.
      const { results } = await store.applyWrites([{ op: 'incr', key: 'counter', by: 1n }], Date.now());
      expect(results[0]).toMatchObject({ status: 'applied', revision: 2, after: { value: Buffer.from('42'), createRevision: 1, version: 2 } });
    } finally {
      await store.close();
    }
    expect(runSqlite(path, 'PRAGMA user_version')).toBe('4');
  });

  test('a recorded pool moves to its next epoch: copies cached in the old format are never looked up', async () => {
    const path = copyOfRelease(SCHEMA2);
    const pool = JSON.stringify({ servers: [testServers()], hashing: 'rendezvous-fnv1a', epoch: 4 });
    runSqlite(path, `INSERT INTO meta (name, value) VALUES ('pool', '${pool}')`);
    const store = await SqliteStore.open(path, 2000);
    const cache = new MemcachePool([testServers()], { timeoutMs: 1000, retryAfterMs: 0 });
    const policy = new CacheAsideStore(store, cache, { now: Date.now, onCacheFault: () => undefined });
    try {
      expect((await policy.poolState()).recorded?.epoch).toBe(5);
      // A copy in the old format ('V' + expiry) under the old epoch's key, with a value SQLite does not hold.
      const stale = Buffer.concat([Buffer.from([0x56]), Buffer.alloc(8), Buffer.from('stale')]);
      // ('counter': no invalidation of it is pending, so no tombstone holds back the fill.)
      await cache.set(cacheKey(store.namespaceId, 4, 'counter'), stale, 60);
      const first = await policy.get('counter');
      expect(first).toMatchObject({ source: 'store', entry: { value: Buffer.from('41'), revision: 1 } });
      const second = await policy.get('counter'); // filled under epoch 5, in the new format
      expect(second).toMatchObject({ source: 'cache', entry: { value: Buffer.from('41'), revision: 1, createRevision: 1, version: 1 } });
      expect((await cache.get(cacheKey(store.namespaceId, 5, 'counter')))![0]).toBe(0x52); // 'R': the copy format with revisions
    } finally {
      await policy.close();
    }
  });

  test('the built bin migrates the file on its first command and lists it as before', async () => {
    const path = copyOfRelease(SCHEMA2);
    const list = await runTbase(['list'], { env: { TBASE_DB: path, TBASE_NO_CACHE: '1' } });
    expect(list.code).toBe(0);
    expect(list.out).toBe('binary\t\\x00\\x01\\x02\\xff\ncounter\t41\ngreeting\thello again\nlater\tsoon\nключ 🔑\tunicode\n');
    expect(runSqlite(path, 'PRAGMA user_version')).toBe('4');
  });
});

describe('schema 3 (revisions, before the change log) to 4', () => {
  const SCHEMA3 = fileURLToPath(new URL('../fixtures/release-schema3.db', import.meta.url));

  test('the revision goes on; the history starts empty at it (older --from-revision: exit 4); locks work', async () => {
    const path = copyOfRelease(SCHEMA3);
    const env = { TBASE_DB: path, TBASE_NO_CACHE: '1' };
    const get = await runTbase(['--json', 'get', 'counter'], { env });
    expect(JSON.parse(get.out)).toMatchObject({ value: '41', revision: 3, createRevision: 3, version: 1 });
    expect(runSqlite(path, 'PRAGMA user_version')).toBe('4');
    expect(runSqlite(path, 'SELECT value, compacted FROM revision')).toBe('6|6');
    const tooOld = await runTbase(['watch', 'counter', '--from-revision', '6'], { env });
    expect(tooOld).toMatchObject({ code: 4, out: '' });
    expect(tooOld.stderr).toBe('tbase: revision 6 is no longer in the history; the oldest kept is 7\n');
    expect((await runTbase(['incr', 'counter'], { env })).out).toBe('42\n');
    const watched = await runTbase(['watch', 'counter', '--from-revision', '7'], { env, timeoutMs: 1500 });
    expect(watched.out).toBe('PUT\tcounter\t42\n'); // then it waits, until the timeout ends it
    const locked = await runTbase(['lock', 'migrated', '--', 'sh', '-c', 'echo $TBASE_LOCK_REVISION'], { env });
    expect(locked).toMatchObject({ code: 0, out: '8\n' });
  });
});
