/**
 * kill -9 of tbase in the middle of an import: the database passes `PRAGMA integrity_check`, the data that was
 * there before is intact, and the import is all or nothing (never half-imported).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';

afterAll(removeTempDirs);

const ENTRIES = 150_000;

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
  for (const delayMs of [150, 400, 900, 60_000]) { // the last one is never reached: the import completes
    const db = tempDbPath();
    const env = { ...process.env, TBASE_DB: db, TBASE_SERVERS: testServers() };
    expect((await runTbase(['set', 'before', 'kept'], { env })).code).toBe(0);
    const child = spawn(process.execPath, [BIN, 'import', file], { env, stdio: 'ignore' });
    const closed = new Promise((resolve) => child.on('close', resolve));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, delayMs)))]);
    clearTimeout(timer);
    child.kill('SIGKILL');
    await closed;
    expect(spawnSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).stdout.trim()).toBe('ok');
    const count = Number(spawnSync('sqlite3', [db, "SELECT count(*) FROM entries WHERE key LIKE 'imported:%';"], { encoding: 'utf8' }).stdout.trim());
    expect([0, ENTRIES]).toContain(count);
    expect((await runTbase(['get', 'before'], { env })).out).toBe('kept\n');
    outcomes.push(count === 0 ? 'rolled back' : 'completed');
  }
  expect(outcomes.at(-1)).toBe('completed');
  console.log(`kill -9 during import (${ENTRIES} entries) after 150/400/900 ms and unkilled: ${outcomes.join(', ')}`);
}, 120_000);
