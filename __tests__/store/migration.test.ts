/**
 * A database file made by tbase 0.1.0 (schema 1, before the pool record), written by that release's bin:
 * five keys (binary, unicode, one expiring in 100 years) and one invalidation left in the outbox by a write made
 * while memcached was unreachable. The first open brings it to schema 2 in place, losing nothing.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheAsideStore } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/release-0.1.0.db', import.meta.url));

afterAll(removeTempDirs);

function runSqlite(path: string, sql: string): string {
  return spawnSync('sqlite3', [path, sql], { encoding: 'utf8' }).stdout.trim();
}

function copyOfRelease(): string {
  const path = tempDbPath();
  mkdirSync(dirname(path), { recursive: true });
  copyFileSync(FIXTURE, path);
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
  // Opened again, it is schema 2 already (the one-round-trip open), with the same namespace.
  const again = await SqliteStore.open(path, 2000);
  await again.close();
  expect(again.namespaceId).toBe('0ade5a55186899aebacf39f6');
  expect(runSqlite(path, 'PRAGMA user_version')).toBe('2');
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
