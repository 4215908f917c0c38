/**
 * The two coherence properties across real processes, real memcached and one SQLite file:
 *  1. read-after-write: once a set() has returned in one process, no get() started later in any process returns
 *     an older version;
 *  2. no stale survivor: when everyone has stopped, every cached copy is absent, a tombstone, or equal to SQLite.
 * Readers miss constantly (writers invalidate all the time), so fills race writers over and over.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CacheAsideStore, COPY_HEADER_BYTES } from '../../src/store/cache-aside.js';
import { cacheKey } from '../../src/store/cache.js';
import { MemcachePool } from '../../src/store/memcache.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';

const WORKER = fileURLToPath(new URL('../helpers/race-worker.mjs', import.meta.url));
const DURATION_MS = Number(process.env.TBASE_RACE_MS ?? 4000);

interface WorkerResult {
  role: string;
  operations: number;
  violations: number;
  examples: unknown[];
  hits: number;
  misses: number;
  fills: number;
  refusedFills: number;
  rejectedFills: number;
}

function worker(role: string, db: string, ackDir: string, keys: string[]): Promise<WorkerResult> {
  const child = spawn(process.execPath, [WORKER, role, db, testServers(), ackDir, String(DURATION_MS), keys.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as WorkerResult) : reject(new Error(`${role} exited ${code}: ${err}`)))),
  );
}

afterAll(removeTempDirs);

test('read-after-write and no stale survivor, across processes', async () => {
  const db = tempDbPath();
  const ackDir = tempDir();
  const owned = [['a', 'b'], ['c', 'd']];
  const chaosKeys = ['x', 'y'];
  const quietKeys = ['q1', 'q2']; // written once before the race: readers fill and then hit them
  const everyKey = [...owned.flat(), ...chaosKeys, ...quietKeys];
  // Create the database before the race so every process opens the same schema.
  const setupStore = await SqliteStore.open(db, 10000);
  await setupStore.applyWrites(quietKeys.map((key) => ({ op: 'set', key, value: Buffer.from('0'), expiresAt: null })), Date.now());
  await setupStore.close();

  const results = await Promise.all([
    worker('writer', db, ackDir, owned[0]!),
    worker('writer', db, ackDir, owned[1]!),
    worker('chaos', db, ackDir, chaosKeys),
    worker('reader', db, ackDir, everyKey),
    worker('reader', db, ackDir, everyKey),
    worker('reader', db, ackDir, owned.flat()),
  ]);

  const readers = results.filter((r) => r.role === 'reader');
  const total = (field: keyof WorkerResult) => readers.reduce((sum, r) => sum + (r[field] as number), 0);
  const summary = {
    writes: results.filter((r) => r.role !== 'reader').reduce((sum, r) => sum + r.operations, 0),
    reads: total('operations'),
    hits: total('hits'),
    misses: total('misses'),
    fills: total('fills'),
    refusedFills: total('refusedFills'),
    rejectedFills: total('rejectedFills'),
    violations: total('violations'),
  };
  console.log(`coherence race: ${JSON.stringify(summary)}`);
  expect(readers.flatMap((r) => r.examples)).toEqual([]);
  expect(summary.violations).toBe(0);
  expect(summary.writes).toBeGreaterThan(100);
  expect(summary.reads).toBeGreaterThan(100);
  expect(summary.hits).toBeGreaterThan(0);
  expect(summary.fills).toBeGreaterThan(0);

  // No stale survivor: compare what memcached holds with SQLite, key by key.
  const store = await SqliteStore.open(db, 10000);
  const pool = new MemcachePool([testServers()], { timeoutMs: 1000, retryAfterMs: 0 });
  const policy = new CacheAsideStore(store, pool, { now: Date.now, onCacheFault: () => undefined });
  expect((await store.pendingInvalidations(10)).pending).toEqual([]);
  for (const key of everyKey) {
    const copy = await pool.get(cacheKey(store.namespaceId, 1, key));
    const row = await store.read(key, Date.now());
    if (copy === null || copy[0] === 0x54 /* tombstone */) continue;
    expect({ key, cached: copy.subarray(COPY_HEADER_BYTES).toString() }).toEqual({ key, cached: row?.value.toString() });
  }
  await policy.close();
}, 60_000);
