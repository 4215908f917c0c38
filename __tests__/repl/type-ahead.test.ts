/**
 * Type-ahead in a real terminal (tmux, the built bin): whole scripts of keys sent in one send-keys, back to back,
 * never waiting for the prompt they are meant for. Each scenario runs several rounds, to catch races between a
 * prompt closing and the next one starting. Needs `npm run build` first.
 */
import { join } from 'node:path';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { TmuxSession } from './tmux.js';

const ROUNDS = 3;
const started: TmuxSession[] = [];

afterEach(() => {
  for (const session of started.splice(0)) session.kill();
});
afterAll(removeTempDirs);

function repl(db: string): TmuxSession {
  const session = TmuxSession.start(['--db', db, '--servers', testServers()], { TBASE_HISTORY: join(tempDir(), 'history') });
  started.push(session);
  return session;
}

async function seed(db: string, ...pairs: [string, string][]): Promise<void> {
  for (const [key, value] of pairs) await runTbase(['--db', db, '--servers', testServers(), 'set', key, value]);
}

/** The screen once it shows `count` times the text, and the empty prompt after it. */
const settled = (session: TmuxSession, text: string, count: number) =>
  session.waitFor((s) => s.split(text).length - 1 >= count && /^tbase>\s*$/.test(s.split('\n').at(-1)!), `${count}× ${JSON.stringify(text)} and the prompt`);

test('delete ⏎ key ⏎ y ⏎ get key ⏎, typed at once: the pick-list takes the key, the confirmation the y', async () => {
  const db = tempDbPath();
  const session = repl(db);
  await session.waitForPrompt();
  for (let round = 1; round <= ROUNDS; round++) {
    await seed(db, [`greeting${round}`, 'hello'], [`greeting${round}x`, 'other']);
    session.type(`delete\rgreeting${round}\ry\rget greeting${round}\r`);
    const screen = await settled(session, `(not found) "greeting${round}"`, 1);
    expect(screen).toMatch(
      new RegExp(
        `tbase> delete\\n✔ Key to delete \\(type to narrow\\) greeting${round}\\n✔ Delete "greeting${round}"\\? Yes\\nDeleted "greeting${round}" \\(revision \\d+\\)\\n.*\\ntbase> get greeting${round}\\n\\(not found\\) "greeting${round}"\\ntbase>$`,
      ),
    );
  }
  const left = await runTbase(['--db', db, '--servers', testServers(), 'list', '--keys-only']);
  expect(left.out).toBe('greeting1x\ngreeting2x\ngreeting3x\n');
});

test('get ⏎ and a prefix ⏎ typed at once pick the first match; keys typed after it run as the next line', async () => {
  const db = tempDbPath();
  await seed(db, ['banana', 'yellow'], ['blueberry', 'blue'], ['blue', 'sky']);
  const session = repl(db);
  await session.waitForPrompt();
  for (let round = 1; round <= ROUNDS; round++) {
    session.type('get\rblueb\rget blue\r');
    const screen = await settled(session, '\nsky\n', round);
    expect(screen).toMatch(/tbase> get\n✔ Key to read \(type to narrow\) blueberry\nblue\n.*\ntbase> get blue\nsky\n.*\ntbase>$/);
  }
});

test('Ctrl-D or Ctrl-C typed ahead into a question cancels only it; the keys after it reach the prompt', async () => {
  const db = tempDbPath();
  await seed(db, ['greeting', 'hello']);
  const session = repl(db);
  await session.waitForPrompt();
  for (let round = 1; round <= ROUNDS; round++) {
    session.type('get\rgre\x04get greeting\r'); // Ctrl-D in the pick-list
    let screen = await settled(session, 'tbase> get greeting\nhello\n', 2 * round - 1);
    expect(screen).toMatch(/tbase> get\n\? Key to read \(type to narrow\) gre\n[\s\S]*?\(cancelled\)\ntbase> get greeting\nhello\n.*\ntbase>$/);
    session.type('delete greeting\r\x03get greeting\r'); // Ctrl-C in the confirmation
    screen = await settled(session, 'tbase> get greeting\nhello\n', 2 * round);
    expect(screen).toMatch(/tbase> delete greeting\n\? Delete "greeting"\? \(y\/N\)\s*\n\(cancelled\)\ntbase> get greeting\nhello\n.*\ntbase>$/);
  }
  session.type('set\rk1\rv1\rget k1\r'); // the key and value questions
  const screen = await settled(session, 'tbase> get k1\nv1\n', 1);
  expect(screen).toMatch(/✔ Key k1\n✔ Value for "k1" v1\nOK \(revision \d+\)\n/);
});

test('keys typed before the REPL has even started are kept for the prompts', async () => {
  for (let round = 1; round <= ROUNDS; round++) {
    const db = tempDbPath();
    await seed(db, ['greeting', 'hello']);
    const session = repl(db);
    session.type('get\rgreeting\rset k v\rget k\r');
    const screen = await settled(session, 'tbase> get k\nv\n', 1);
    expect(screen).toMatch(/✔ Key to read \(type to narrow\) greeting\nhello\n.*\ntbase> set k v\nOK \(revision \d+\)\n.*\ntbase> get k\nv\n/);
    session.kill();
  }
});
