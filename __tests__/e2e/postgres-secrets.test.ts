/**
 * A PostgreSQL URL may hold a password; tbase must never show it (docs/postgresql.md): not in `stats` (plain or
 * JSON), not in errors of one-shot, batch or serve, not in serve's start line or /health. The private server trusts
 * every connection, so a URL with a password works and shows where it could leak.
 */
import { postgresAvailable, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { runTbase } from '../helpers/tbase.js';
import { startServer } from '../serve/server-process.js';

const SECRET = 'Sup3r-s3cret';
const available = postgresAvailable();
if (!available && !process.env.CI) console.warn('postgres-secrets: skipped, PostgreSQL 15 is not installed');
const maybe = available || process.env.CI ? describe : describe.skip;

let server: PostgresServer;
let url: string;
beforeAll(async () => {
  server = await startPostgres();
  url = server.url.replace('postgres@', `postgres:${SECRET}@`) + '?schema=secrets';
}, 60000);
afterAll(async () => {
  await server?.stop();
});

maybe('a password in the URL', () => {
  test('is used, and never printed by stats, --json stats, batch or errors', async () => {
    const set = await runTbase(['--no-cache', '--db', url, 'set', 'k', 'v']);
    expect(set.code).toBe(0);
    const outputs = [
      await runTbase(['--no-cache', '--db', url, 'stats']),
      await runTbase(['--no-cache', '--db', url, '--json', 'stats']),
      await runTbase(['--no-cache', '--db', url, 'get', 'missing']),
      await runTbase(['--no-cache', '--db', url], { stdin: 'get k\nset\nget missing\n' }),
      // Unreachable (a closed port) and a database that does not exist: the errors name the URL, without it.
      await runTbase(['--no-cache', '--db', url.replace(`:${server.port}/`, ':1/'), 'get', 'k']),
      await runTbase(['--no-cache', '--db', url.replace('/tbase?', '/nope?'), 'get', 'k']),
      await runTbase(['--no-cache', '--db', `postgres://postgres:${SECRET}@[::1`, 'get', 'k']),
    ];
    expect(outputs[0]!.out).toContain(`database\tpostgres://postgres@127.0.0.1:${server.port}/tbase?schema=secrets`);
    expect(JSON.parse(outputs[1]!.out)).toMatchObject({ database: `postgres://postgres@127.0.0.1:${server.port}/tbase?schema=secrets` });
    expect(outputs.map((run) => run.code)).toEqual([0, 0, 1, 2, 3, 3, 2]); // batch: the worst line (a usage error)
    expect(outputs[4]!.stderr).toMatch(/PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/tbase: connection refused/);
    expect(outputs[5]!.stderr).toMatch(/database "nope" does not exist/);
    for (const run of outputs) expect(run.out + run.stderr).not.toContain(SECRET);
  });

  test('is never printed by serve: start line, /health, errors', async () => {
    const serve = await startServer({ dbPath: url, env: { TBASE_NO_CACHE: '1' } });
    try {
      const health = await (await fetch(`${serve.url}/health`)).json();
      expect(health).toMatchObject({ ok: true, database: `postgres://postgres@127.0.0.1:${server.port}/tbase?schema=secrets` });
      await server.restart(); // the next request fails (or reconnects); neither may print the URL's password
      await fetch(`${serve.url}/keys/k`).catch(() => undefined);
      expect((await fetch(`${serve.url}/keys/k`)).status).toBe(200);
      expect(serve.stderr()).toContain(`database postgres://postgres@127.0.0.1:${server.port}/tbase?schema=secrets`);
      expect(serve.stderr()).not.toContain(SECRET);
      expect(JSON.stringify(health)).not.toContain(SECRET);
    } finally {
      await serve.stop();
    }
  }, 30000);
});
