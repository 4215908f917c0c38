/**
 * kill -9 of tbase in the middle of an import: the database is intact (a SQLite file passes `PRAGMA
 * integrity_check`), the data that was there before is intact, and the import is all or nothing (never
 * half-imported). On PostgreSQL also in the middle of a large batch: what is there is a prefix of the input.
 * Each store: a SQLite file, a PostgreSQL schema.
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPostgres, storeKinds } from '../helpers/stores.js';
import { BIN, expectSentPrefix, killBatchMidway, runTbase, type RunOptions } from '../helpers/tbase.js';
import { tempDir, testServers } from '../helpers/temp.js';

const ENTRIES = 150_000;
/**
 * When the import is killed (the last is never reached: the import completes). PostgreSQL's takes about 6 s
 * (SQLite's about 2 s), so later kills land inside its transaction as well.
 */
const KILL_AFTER_MS = { sqlite: [150, 400, 900, 60_000], postgres: [400, 1500, 4000, 60_000] };

/** The live keys in the database (`stats`): `list` would be slower on PostgreSQL right after a bulk load. */
async function liveKeys(env: RunOptions['env']): Promise<number> {
  const stats = await runTbase(['--json', 'stats'], { env });
  expect(stats.code).toBe(0);
  return (JSON.parse(stats.out) as { keys: number }).keys;
}

describe.each(storeKinds())('%s store', (kind) => {
  test('kill -9 during a large import: integrity ok, earlier data intact, nothing half-imported', async () => {
    const dir = tempDir();
    const file = join(dir, 'export.json');
    const lines = [`{"format":"tenantbase-export","version":1,"entries":[`];
    for (let i = 0; i < ENTRIES; i++) {
      lines.push(`{"key":"imported:${i}","value":"value ${i} ${'x'.repeat(40)}","expiresAt":null}${i < ENTRIES - 1 ? ',' : ''}`);
    }
    lines.push(`],"count":${ENTRIES}}`);
    writeFileSync(file, `${lines.join('\n')}\n`);

    const outcomes: string[] = [];
    for (const delayMs of KILL_AFTER_MS[kind.name]) {
      const db = await kind.location();
      const env = { ...process.env, TBASE_DB: db, TBASE_SERVERS: testServers() };
      expect((await runTbase(['set', 'before', 'kept'], { env })).code).toBe(0);
      const child = spawn(process.execPath, [BIN, 'import', file], { env, stdio: 'ignore' });
      const closed = new Promise((resolve) => child.on('close', resolve));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, delayMs)))]);
      clearTimeout(timer);
      child.kill('SIGKILL');
      await closed;
      // integrity_check reads the SQLite file itself; a PostgreSQL server rolls a dead client's transaction back.
      if (!isPostgres(kind)) expect(spawnSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).stdout.trim()).toBe('ok');
      const count = (await liveKeys(env)) - 1; // all but 'before'
      expect([0, ENTRIES]).toContain(count);
      expect((await runTbase(['get', 'before'], { env })).out).toBe('kept\n');
      outcomes.push(count === 0 ? 'rolled back' : 'completed');
    }
    expect(outcomes.at(-1)).toBe('completed');
    console.log(`${kind}: kill -9 during import (${ENTRIES} entries) after ${KILL_AFTER_MS[kind.name].slice(0, -1).join('/')} ms and unkilled: ${outcomes.join(', ')}`);
  }, 120_000);

  // SQLite's case is batch.test.ts's 'kill -9 mid-batch', which reads the file itself (integrity_check included).
  if (isPostgres(kind)) {
    test('kill -9 mid-batch: every answered command is kept, and what is there is exactly a prefix of the input', async () => {
      const env = { TBASE_DB: await kind.location(), TBASE_SERVERS: testServers() };
      const fed = await killBatchMidway([], env);

      const list = await runTbase(['list', '--keys-only'], { env, timeoutMs: 60_000 });
      expect(list.code).toBe(0);
      const keys = list.out.split('\n').slice(0, -1);
      expectSentPrefix(keys, fed);
      console.log(`${kind}: kill -9 mid-batch after ${fed.answered} answers: ${keys.length} of ${fed.sent} commands sent kept`);
    }, 120_000);
  }
});
