/**
 * memcached faults in the middle of a long batch, through the built bin: the server frozen (accepts, never
 * answers) and then thawed with its old copies still in memory; a pool with one dead server. Every command is
 * answered from SQLite meanwhile, one notice, no hang, and once memcached is back no stale copy is served.
 */
import { cacheKey } from '../../src/store/cache.js';
import { COPY_HEADER_BYTES } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { BatchSession } from '../helpers/batch-session.js';
import { startMemcached } from '../helpers/memcached.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

afterAll(removeTempDirs);

const KEYS = Array.from({ length: 20 }, (_, i) => `key-${i}`);
const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as { ok: boolean; command: string; value?: string; source?: string; line: number });

async function staleCopies(db: string, server: string): Promise<string[]> {
  const store = await SqliteStore.open(db, 5000);
  const pool = new MemcachePool([server], { timeoutMs: 1000, retryAfterMs: 0 });
  const stale: string[] = [];
  for (const key of KEYS) {
    const copy = await pool.get(cacheKey(store.namespaceId, 1, key));
    if (copy === null || copy[0] === 0x54) continue;
    const row = await store.read(key, Date.now());
    if (!row || !row.value.equals(copy.subarray(COPY_HEADER_BYTES))) stale.push(key);
  }
  pool.close();
  await store.close();
  return stale;
}

test('memcached frozen mid-batch, then back with its old copies: answered throughout, never stale', async () => {
  const memcached = await startMemcached();
  const db = tempDbPath();
  const batch = new BatchSession(['--json'], { TBASE_DB: db, TBASE_SERVERS: memcached.address, TBASE_CACHE_TIMEOUT_MS: '200' });
  try {
    // Phase 1: values v1, read twice so memcached holds a copy of each.
    batch.send(KEYS.map((k) => `set ${k} v1`));
    batch.send(KEYS.map((k) => `get ${k}`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const phase1 = parse(await batch.waitForLines(KEYS.length * 3));
    expect(phase1.every((r) => r.ok)).toBe(true);
    expect(phase1.slice(-KEYS.length).filter((r) => r.source === 'cache').length).toBeGreaterThan(0);

    // Phase 2: memcached stops answering (SIGSTOP keeps its memory, and the old copies in it).
    memcached.process.kill('SIGSTOP');
    const started = Date.now();
    batch.send(KEYS.map((k) => `set ${k} v2`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const phase2 = parse(await batch.waitForLines(KEYS.length * 5)).slice(KEYS.length * 3);
    expect(Date.now() - started).toBeLessThan(10_000); // bounded by the timeout and the breaker, not by memcached
    expect(phase2.every((r) => r.ok)).toBe(true);
    expect(phase2.slice(KEYS.length).map((r) => r.value)).toEqual(KEYS.map(() => 'v2'));
    expect(batch.err.match(/notice/g)).toHaveLength(1);

    // Phase 3: memcached answers again, still holding v1 copies; pending invalidations must be replayed first.
    memcached.process.kill('SIGCONT');
    await new Promise((r) => setTimeout(r, 2500)); // past the breaker's retry pause
    batch.send(KEYS.map((k) => `get ${k}`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const phase3 = parse(await batch.waitForLines(KEYS.length * 7)).slice(KEYS.length * 5);
    expect(phase3.map((r) => r.value)).toEqual([...KEYS, ...KEYS].map(() => 'v2'));
    expect(await batch.end()).toBe(0);
    expect(await staleCopies(db, memcached.address)).toEqual([]);
    const stats = JSON.parse((await runTbase(['stats', '--json'], { env: { TBASE_DB: db, TBASE_SERVERS: memcached.address } })).out);
    expect(stats).toMatchObject({ pendingInvalidations: 0, cache: 'up' });
  } finally {
    memcached.process.kill('SIGCONT');
    batch.kill();
    await memcached.stop();
  }
}, 60_000);

test('memcached killed mid-batch and restarted: every command answered, caching resumes', async () => {
  const memcached = await startMemcached();
  const db = tempDbPath();
  const batch = new BatchSession(['--json'], { TBASE_DB: db, TBASE_SERVERS: memcached.address, TBASE_CACHE_TIMEOUT_MS: '200' });
  try {
    batch.send(KEYS.map((k) => `set ${k} a`));
    await batch.waitForLines(KEYS.length);
    await memcached.stop();
    batch.send(KEYS.map((k) => `set ${k} b`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const down = parse(await batch.waitForLines(KEYS.length * 3)).slice(KEYS.length * 2);
    expect(down.map((r) => r.value)).toEqual(KEYS.map(() => 'b'));
    const back = await startMemcached(memcached.port);
    await new Promise((r) => setTimeout(r, 2500));
    batch.send(KEYS.map((k) => `get ${k}`)); // replays the pending invalidations as tombstones first
    const after = parse(await batch.waitForLines(KEYS.length * 4)).slice(KEYS.length * 3);
    expect(after.map((r) => r.value)).toEqual(KEYS.map(() => 'b'));
    // Tombstones refuse fills for their 3 s life; after that, caching resumes.
    await new Promise((r) => setTimeout(r, 3500));
    batch.send(KEYS.map((k) => `get ${k}`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const resumed = parse(await batch.waitForLines(KEYS.length * 6)).slice(KEYS.length * 4);
    expect(resumed.map((r) => r.value)).toEqual([...KEYS, ...KEYS].map(() => 'b'));
    expect(resumed.slice(KEYS.length).filter((r) => r.source === 'cache').length).toBe(KEYS.length);
    expect(await batch.end()).toBe(0);
    expect(batch.err.match(/notice/g)).toHaveLength(1);
    await back.stop();
  } finally {
    batch.kill();
    await memcached.stop();
  }
}, 60_000);

test('a pool with one dead server: its keys fall back to SQLite, the others keep hitting', async () => {
  const live = await startMemcached();
  const dead = await startMemcached();
  await dead.stop();
  const db = tempDbPath();
  const env = { TBASE_DB: db, TBASE_SERVERS: `${live.address},${dead.address}` };
  const batch = new BatchSession(['--json'], env);
  try {
    batch.send(KEYS.map((k) => `set ${k} v`));
    batch.send(KEYS.map((k) => `get ${k}`));
    batch.send(KEYS.map((k) => `get ${k}`));
    const results = parse(await batch.waitForLines(KEYS.length * 3));
    expect(results.every((r) => r.ok)).toBe(true);
    const second = results.slice(KEYS.length * 2);
    expect(second.map((r) => r.value)).toEqual(KEYS.map(() => 'v'));
    const hits = second.filter((r) => r.source === 'cache').length;
    expect(hits).toBeGreaterThan(0);
    expect(hits).toBeLessThan(KEYS.length);
    expect(await batch.end()).toBe(0);
    const stats = JSON.parse((await runTbase(['stats', '--json'], { env })).out);
    expect(stats.servers).toEqual({ [live.address]: 'up', [dead.address]: 'down' });
  } finally {
    batch.kill();
    await live.stop();
  }
}, 60_000);
