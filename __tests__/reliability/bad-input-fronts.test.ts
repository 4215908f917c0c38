/**
 * The same bad input through the two other fronts. Batch: each bad line answers `\E usage` (or its JSON object)
 * with the line number on stderr, the good lines around it still run, and the exit status is 2. REPL (real
 * terminal): each bad line prints one error line and the session goes on; the database only changes for the
 * lines that succeed.
 */
import { SqliteStore } from '../../src/store/sqlite.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';
import { TmuxSession } from '../repl/tmux.js';
import { join } from 'node:path';

afterAll(removeTempDirs);

const BAD_LINES: [string, RegExp][] = [
  ['set "unterminated v', /unterminated double quote/],
  ["get 'open", /unterminated single quote/],
  ['frobnicate k', /unknown command/],
  ['set k', /missing required argument 'value'/],
  ['ttl a b', /too many arguments/],
  ['incr n 1.5', /bad step "1.5"/],
  ['set k v --if-revision x', /bad --if-revision "x"/],
  ['set "" v', /key is empty/],
  [`set ${'k'.repeat(1025)} v`, /key is 1025 bytes/],
  ['set k v --ttl 0', /bad TTL "0"/],
  ['set k v --ttl soon', /bad TTL "soon"/],
  ['get k --bogus', /unknown option '--bogus'/],
  ['list --limit 0', /bad --limit "0"/],
  ['set k -', /`-` reads the value from stdin/],
  [`set huge ${'v'.repeat(64 * 1024 * 1024 + 1)}`, /value is 67108865 bytes; the limit is 67108864/],
];

async function keys(db: string): Promise<string[]> {
  const store = await SqliteStore.open(db, 5000);
  try {
    return (await store.scan('', '', 1000, Date.now())).entries.map((e) => `${e.key}=${e.value.toString()}`);
  } finally {
    await store.close();
  }
}

test('batch: every bad line is answered in place, named by line number, and the rest still runs', async () => {
  const db = tempDbPath();
  const lines = ['set before 1', ...BAD_LINES.map(([line]) => line), 'set after 2', "set 'x; DROP TABLE entries; --' 3", 'get after'];
  const plain = await runTbase([], { env: { TBASE_DB: db, TBASE_SERVERS: testServers() }, stdin: `${lines.join('\n')}\n` });
  expect(plain.code).toBe(2);
  const out = plain.out.split('\n').slice(0, -1);
  expect(out).toEqual(['OK', ...BAD_LINES.map(() => '\\E usage'), 'OK', 'OK', '2']);
  const errors = plain.stderr.trim().split('\n');
  expect(errors).toHaveLength(BAD_LINES.length);
  BAD_LINES.forEach(([, message], i) => {
    expect(errors[i]).toMatch(new RegExp(`^tbase: line ${i + 2}: `));
    expect(errors[i]).toMatch(message);
  });
  expect(plain.stderr).not.toMatch(/\n\s+at /);
  expect(await keys(db)).toEqual(['after=2', 'before=1', 'x; DROP TABLE entries; --=3']);

  const json = await runTbase(['--json', '--bail'], { env: { TBASE_DB: tempDbPath(), TBASE_SERVERS: testServers() }, stdin: `${lines.join('\n')}\n` });
  expect(json.code).toBe(2);
  const answers = json.out.trim().split('\n').map((l) => JSON.parse(l));
  expect(answers).toEqual([
    expect.objectContaining({ ok: true, command: 'set', line: 1 }),
    expect.objectContaining({ ok: false, line: 2, error: 'usage' }),
  ]);
});

test('REPL in a terminal: every bad line prints one error and the session goes on', async () => {
  const db = tempDbPath();
  const session = TmuxSession.start(['--db', db, '--servers', testServers()], { TBASE_HISTORY: join(tempDir(), 'history') }, 200);
  try {
    await session.waitForPrompt();
    expect(await session.run('set before 1')).toMatch(/^OK/);
    // `set k` is not an error in the REPL: it asks for the value (guided prompts).
    for (const [line, message] of BAD_LINES.filter(([l]) => l.length < 100 && l !== 'set k')) {
      const printed = await session.run(line);
      expect({ line, printed }).toEqual({ line, printed: expect.stringMatching(message) });
      expect(printed).not.toMatch(/\n\s+at /);
    }
    expect(await session.run('get before')).toMatch(/^1\n/);
    expect(await keys(db)).toEqual(['before=1']);
    session.press('C-d');
    expect(await session.exitStatus()).toBe(0);
  } finally {
    session.kill();
  }
});
