/**
 * `watch` in the interactive REPL: the built bin in a real pseudo-terminal (tmux) against real memcached and
 * SQLite, typed at as a person would, while another process writes. The REPL must show the changes as they come,
 * stop at Ctrl-C with the prompt back (and its own Ctrl-C handling restored), and offer `watch` on Tab.
 */
import { join } from 'node:path';
import { jsonCommand, sleep } from '../helpers/watchers.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { TmuxSession } from '../repl/tmux.js';

const started: TmuxSession[] = [];

afterEach(() => {
  for (const session of started.splice(0)) session.kill();
});
afterAll(removeTempDirs);

const lastLine = (screen: string) => (screen.split('\n').at(-1) ?? '').trimEnd();

/** The lines of a watch on the terminal: `PUT    k  v1  (revision 3)` (coloured off: NO_COLOR). */
const putLines = (screen: string, key: string) => screen.split('\n').filter((line) => new RegExp(`^PUT\\s+${key}\\s`).test(line));

test('watch k shows changes made by another process; Ctrl-C brings the prompt back; Tab offers watch', async () => {
  const db = tempDbPath();
  const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
  const session = TmuxSession.start(['--db', db, '--servers', testServers()], { TBASE_HISTORY: join(tempDir(), 'history') });
  started.push(session);
  await session.waitForPrompt();

  // Tab completes the command name.
  session.type('wat');
  session.press('Tab');
  await session.waitFor((s) => lastLine(s) === 'tbase> watch', 'watch completed by Tab');
  session.type('k');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s) === 'tbase> watch k', 'the watch line entered');

  // The watch prints nothing until k changes, so "it has started" is learnt by writing until a change shows.
  for (let n = 1; putLines(session.screen(), 'k').length === 0; n++) {
    if (n > 20) throw new Error(`the REPL's watch never showed a change:\n${session.screen()}`);
    await runTbase(['set', 'k', `ready-${n}`], { env });
    await sleep(500);
  }
  const before = putLines(session.screen(), 'k').length;

  const first = await jsonCommand(['set', 'k', 'v1'], { ...env });
  const second = await jsonCommand(['set', 'k', 'v2'], { ...env });
  const screen = await session.waitFor((s) => putLines(s, 'k').length >= before + 2, 'both PUT lines');
  await sleep(300); // anything extra (a repeat) would show up now
  const shown = putLines(session.screen(), 'k').slice(before);
  expect(shown).toHaveLength(2);
  expect(shown[0]).toMatch(new RegExp(`^PUT\\s+k\\s+v1\\s+\\(revision ${first.body.revision as number}\\)$`));
  expect(shown[1]).toMatch(new RegExp(`^PUT\\s+k\\s+v2\\s+\\(revision ${second.body.revision as number}\\)$`));
  expect(lastLine(screen)).not.toMatch(/^tbase>/); // still watching: no prompt yet

  // Ctrl-C ends the watch, not the session.
  session.press('C-c');
  await session.waitForPrompt();
  // A change made now is not shown: the watch really stopped. And the next command works.
  await runTbase(['set', 'k', 'v3'], { env });
  expect(await session.run('get k')).toMatch(/^v3\n/);
  expect(putLines(session.screen(), 'k').some((line) => /\sv3\s/.test(line))).toBe(false);

  // A second watch in the same session works as the first, and Ctrl-C ends it too.
  session.type('watch --prefix k');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s) === 'tbase> watch --prefix k', 'the second watch line entered');
  const beforeSecond = putLines(session.screen(), 'k').length;
  for (let n = 1; putLines(session.screen(), 'k').length === beforeSecond; n++) {
    if (n > 20) throw new Error(`the second watch never showed a change:\n${session.screen()}`);
    await runTbase(['set', 'k', `again-${n}`], { env });
    await sleep(500);
  }
  session.press('C-c');
  await session.waitForPrompt();
  expect(await session.run('get k')).toMatch(/^again-\d+\n/);

  // The REPL's own Ctrl-C is back: on an empty line it leaves, with status 0.
  session.press('C-c');
  expect(await session.exitStatus()).toBe(0);
}, 60000);
