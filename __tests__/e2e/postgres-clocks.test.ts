/**
 * Hosts whose clocks disagree share one PostgreSQL database: TTLs must mean the same on all of them (docs/postgresql.md,
 * "Clocks": each process works on PostgreSQL's clock). Each "host" is the built bin with its clock moved by an hour
 * (a preloaded module, fixtures/skewed-clock.cjs); without the correction, a key written with `--ttl 4` by a host
 * an hour ahead would live an hour too long for the others, and one written by a host an hour behind would be
 * expired at once.
 */
import { fileURLToPath } from 'node:url';
import { postgresAvailable, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';

const SKEW = fileURLToPath(new URL('../fixtures/skewed-clock.cjs', import.meta.url));
const HOUR = 3600_000;
const available = postgresAvailable();
if (!available && !process.env.CI) console.warn('postgres-clocks: skipped, PostgreSQL 15 is not installed');
const maybe = available || process.env.CI ? describe : describe.skip;

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres();
}, 60000);
afterAll(async () => {
  await server?.stop();
  removeTempDirs();
});

/** A host whose clock is `skewMs` off, on the shared database (no memcached: the store's answers are under test). */
function host(skewMs: number, ...args: string[]) {
  return runTbase(['--no-cache', '--db', `${server.url}?schema=clocks`, ...args], {
    env: { NODE_OPTIONS: `--require ${SKEW}`, TBASE_TEST_CLOCK_SKEW_MS: String(skewMs) },
  });
}

maybe('hosts with clocks an hour apart', () => {
  test('the preloaded skew really moves the clock of a bin (else this file would prove nothing)', async () => {
    const file = tempDbPath();
    const sqliteTtl = await runTbase(['--no-cache', '--db', file, 'set', 'k', 'v', '--ttl', '100'], {
      env: { NODE_OPTIONS: `--require ${SKEW}`, TBASE_TEST_CLOCK_SKEW_MS: String(HOUR) },
    });
    expect(sqliteTtl.code).toBe(0);
    // A SQLite file takes its host's clock: read with the real clock, the key lives an hour longer.
    const seen = await runTbase(['--no-cache', '--db', file, 'ttl', 'k']);
    expect(Number(seen.out)).toBeGreaterThan(HOUR / 1000);
  });

  test('a TTL set on a host an hour ahead or behind is the same TTL on every host, and expires on time', async () => {
    for (const [writer, key] of [
      [HOUR, 'ahead'],
      [-HOUR, 'behind'],
    ] as const) {
      expect((await host(writer, 'set', key, 'v', '--ttl', '4')).code).toBe(0);
      for (const reader of [0, HOUR, -HOUR]) {
        const ttl = await host(reader, 'ttl', key);
        expect(ttl.code).toBe(0);
        expect(Number(ttl.out)).toBeGreaterThanOrEqual(2);
        expect(Number(ttl.out)).toBeLessThanOrEqual(4);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 4500));
    for (const reader of [0, HOUR, -HOUR]) {
      for (const key of ['ahead', 'behind']) expect((await host(reader, 'get', key)).code).toBe(1);
    }
  }, 60000);

  test('a lock taken by a host an hour behind is still held for the others, and frees after its TTL', async () => {
    const holder = host(-HOUR, 'lock', 'job', '--ttl', '3', '--', 'sleep', '1.5');
    await new Promise((resolve) => setTimeout(resolve, 700));
    const other = await host(HOUR, 'lock', 'job', '--', 'true');
    expect(other.code).toBe(4);
    expect((await holder).code).toBe(0);
    expect((await host(HOUR, 'lock', 'job', '--', 'true')).code).toBe(0);
  }, 60000);
});
