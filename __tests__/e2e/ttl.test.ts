/**
 * TTLs with real time: short TTLs that really expire, in one-shot, batch, list and export, with the cache on.
 * Each store: a SQLite file, a PostgreSQL schema.
 */
import { storeKinds } from '../helpers/stores.js';
import { runTbase } from '../helpers/tbase.js';
import { testServers } from '../helpers/temp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function tbase(db: string, args: string[], stdin?: string) {
  return runTbase(['--db', db, '--servers', testServers(), ...args], { stdin });
}

describe.each(storeKinds())('%s store', (kind) => {
  describe('ttl', () => {
    test('a key with a short TTL is served (also from the cache) until it expires, then it is gone everywhere', async () => {
      const db = await kind.location();
      const setAt = Date.now();
      expect((await tbase(db, ['set', 'short', 'v', '--ttl', '3'])).code).toBe(0);
      expect((await tbase(db, ['set', 'keep', 'k'])).code).toBe(0);
      expect((await tbase(db, ['get', 'short'])).out).toBe('v\n'); // fills the cache with a copy carrying the expiry
      const cached = JSON.parse((await tbase(db, ['--json', 'get', 'short'])).out);
      expect(cached).toMatchObject({ value: 'v', source: 'cache' });
      expect(cached.ttl).toBeGreaterThanOrEqual(1);
      expect(cached.ttl).toBeLessThanOrEqual(3);

      await sleep(setAt + 3400 - Date.now());
      const gone = await tbase(db, ['get', 'short']);
      expect(gone.code).toBe(1);
      expect(gone.out).toBe('');
      expect((await tbase(db, ['ttl', 'short'])).code).toBe(1);
      expect((await tbase(db, ['list'])).out).toBe('keep\tk\n');
      expect(JSON.parse((await tbase(db, ['export'])).out).entries.map((e: { key: string }) => e.key)).toEqual(['keep']);
      expect((await tbase(db, [], 'get short\nttl short\nget keep\nttl keep\n')).out).toBe('\\N\n\\N\nk\n-1\n');

      // The next write purges the expired row.
      expect((await tbase(db, ['stats'])).out).toMatch(/expired_keys\t1/);
      await tbase(db, ['set', 'other', 'x']);
      expect((await tbase(db, ['stats'])).out).toMatch(/expired_keys\t0/);
    });

    test('a TTL set inside a batch expires, and the batch reports it for later commands', async () => {
      const db = await kind.location();
      const first = await tbase(db, [], 'set b 1 --ttl 1\nttl b\nget b\n');
      expect(first.out).toBe('OK\n1\n1\n');
      await sleep(1300);
      expect((await tbase(db, [], 'get b\nset b 2\nget b\nttl b\n')).out).toBe('\\N\nOK\n2\n-1\n');
    });

    test('units, the ttl command in every mode, and the 30-day memcached rule', async () => {
      const db = await kind.location();
      const cases: [string, number][] = [['90', 90], ['90s', 90], ['5m', 300], ['2h', 7200], ['1d', 86400], ['40d', 40 * 86400]];
      for (const [ttl, seconds] of cases) {
        await tbase(db, ['set', `k${ttl}`, 'v', '--ttl', ttl]);
        const left = Number((await tbase(db, ['ttl', `k${ttl}`])).out);
        expect([ttl, left <= seconds && left > seconds - 10]).toEqual([ttl, true]);
      }
      // Beyond 30 days memcached would read the TTL as a date; the copy must still be served (and not be stale).
      expect((await tbase(db, ['get', 'k40d'])).out).toBe('v\n');
      expect(JSON.parse((await tbase(db, ['--json', 'get', 'k40d'])).out)).toMatchObject({ source: 'cache', value: 'v' });
      await tbase(db, ['set', 'forever', 'v']);
      expect((await tbase(db, ['ttl', 'forever'])).out).toBe('-1\n');
      expect(JSON.parse((await tbase(db, ['--json', 'ttl', 'forever'])).out)).toEqual({ ok: true, command: 'ttl', key: 'forever', ttl: null });
      expect(JSON.parse((await tbase(db, ['--json', 'ttl', 'k5m'])).out)).toMatchObject({ ok: true, command: 'ttl', key: 'k5m' });
      const missing = await tbase(db, ['--json', 'ttl', 'nope']);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.out)).toMatchObject({ ok: false, command: 'ttl', error: 'not_found' });
      expect(JSON.parse((await tbase(db, ['--json', 'list', 'k2'])).out).entries).toMatchObject([{ key: 'k2h', value: 'v' }]);
    });

    test('bad TTLs are usage errors (exit 2) and store nothing', async () => {
      const db = await kind.location();
      for (const bad of ['0', '-5', '1.5', 'abc', '10x', '', '0s', '5 m']) {
        const r = await tbase(db, ['set', 'k', 'v', '--ttl', bad]);
        expect([bad, r.code]).toEqual([bad, 2]);
      }
      expect((await tbase(db, ['get', 'k'])).code).toBe(1);
      const inBatch = await tbase(db, [], 'set k v --ttl 0\nset k v --ttl -1m\nget k\n');
      expect(inBatch.out).toBe('\\E usage\n\\E usage\n\\N\n');
      expect(inBatch.code).toBe(2);
    });
  });
});
