/**
 * Many real processes on one database and one memcached: every acknowledged write is in the database at the
 * end, no "database is locked" (or lock timeout) reaches anyone, every process exits 0, and no stale copy
 * survives. Each store: a SQLite file, a PostgreSQL schema.
 */
import { cacheKey } from '../../src/store/cache.js';
import { COPY_HEADER_BYTES } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import { openLocation, storeKinds } from '../helpers/stores.js';
import { testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

const PROCESSES = 8;
const OPS = Number(process.env.TBASE_CONCURRENCY_OPS ?? 1000);
const SHARED = Array.from({ length: 10 }, (_, i) => `shared-${i}`);

function script(worker: number): { lines: string[]; privateKeys: Map<string, string> } {
  const lines: string[] = [];
  const privateKeys = new Map<string, string>();
  let seed = worker * 7919 + 1;
  const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  for (let i = 0; i < OPS; i++) {
    const roll = random();
    const shared = SHARED[Math.floor(random() * SHARED.length)]!;
    if (roll < 0.3) lines.push(`set ${shared} w${worker}-${i}`);
    else if (roll < 0.55) lines.push(`get ${shared}`);
    else if (roll < 0.65) lines.push(`delete ${shared}`);
    else {
      const key = `private-${worker}-${i % 50}`;
      const value = `w${worker}-${i}`;
      if (roll < 0.85 || !privateKeys.has(key)) {
        privateKeys.set(key, value);
        lines.push(`set ${key} ${value}`);
      } else {
        lines.push(`get ${key}`);
      }
    }
  }
  return { lines, privateKeys };
}

describe.each(storeKinds())('%s store', (kind) => {
  test(`${PROCESSES} batch processes × ${OPS} mixed commands on overlapping keys`, async () => {
    const db = await kind.location();
    const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
    const scripts = Array.from({ length: PROCESSES }, (_, w) => script(w));
    const results = await Promise.all(
      scripts.map((s) => runTbase(['--json'], { env, stdin: `${s.lines.join('\n')}\n`, timeoutMs: 120_000 })),
    );
    for (const [w, result] of results.entries()) {
      expect({ worker: w, code: result.code, stderr: result.stderr }).toEqual({ worker: w, code: 0, stderr: '' });
      const answers = result.out.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; error?: string });
      expect(answers).toHaveLength(OPS);
      expect(answers.filter((a) => !a.ok && a.error !== 'not_found')).toEqual([]);
    }
    const store = await openLocation(db);
    const pool = new MemcachePool([testServers()], { timeoutMs: 1000, retryAfterMs: 0 });
    try {
      for (const s of scripts) {
        for (const [key, value] of s.privateKeys) expect({ key, value: (await store.read(key, Date.now()))?.value.toString() }).toEqual({ key, value });
      }
      const written = new Set(scripts.flatMap((s) => s.lines.filter((l) => l.startsWith('set shared')).map((l) => l.split(' ')[2])));
      for (const key of SHARED) {
        const row = await store.read(key, Date.now());
        if (row) expect(written.has(row.value.toString())).toBe(true);
        const copy = await pool.get(cacheKey(store.namespaceId, 1, key));
        if (copy && copy[0] !== 0x54) expect({ key, cached: copy.subarray(COPY_HEADER_BYTES).toString() }).toEqual({ key, cached: row?.value.toString() });
      }
      expect((await store.pendingInvalidations(10)).pending).toEqual([]);
    } finally {
      pool.close();
      await store.close();
    }
  }, 180_000);

  test('8 one-shot processes writing at once: all exit 0, no lock errors, all writes kept', async () => {
    const db = await kind.location();
    const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
    const rounds = 5;
    for (let round = 0; round < rounds; round++) {
      const results = await Promise.all(
        Array.from({ length: PROCESSES }, (_, w) => runTbase(['set', `one-shot-${w}-${round}`, `v${round}`], { env })),
      );
      for (const r of results) expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const list = await runTbase(['list', '--keys-only', 'one-shot-'], { env });
    expect(list.out.trim().split('\n')).toHaveLength(PROCESSES * rounds);
  }, 120_000);
});
