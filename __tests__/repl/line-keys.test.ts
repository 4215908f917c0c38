/**
 * The line prompt's keys in a real terminal (tmux, the built bin): reverse history search, and the inline
 * syntax hints. Needs `npm run build` first.
 */
import { join } from 'node:path';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { TmuxSession } from './tmux.js';

const started: TmuxSession[] = [];
afterEach(() => {
  for (const session of started.splice(0)) session.kill();
});
afterAll(removeTempDirs);

function repl(env: Record<string, string> = {}): TmuxSession {
  const session = TmuxSession.start(['--db', tempDbPath(), '--servers', testServers()], { TBASE_HISTORY: join(tempDir(), 'history'), ...env });
  started.push(session);
  return session;
}

const lastLine = (screen: string) => screen.split('\n').at(-1) ?? '';

test('Ctrl-R finds a line by what it contains, Ctrl-R again an older one; Enter runs it, Esc keeps it for editing', async () => {
  const session = repl();
  await session.run('set colour blue');
  await session.run('set color red');
  await session.run('get colour');
  await session.run('timing off');
  session.press('C-r');
  session.type('colo');
  await session.waitFor((s) => lastLine(s) === "(reverse-i-search)'colo': get colour", 'the newest match');
  session.press('C-r');
  await session.waitFor((s) => lastLine(s) === "(reverse-i-search)'colo': set color red", 'an older match');
  session.press('Enter');
  let screen = await session.waitFor((s) => /tbase> set color red\nOK \(revision \d+\)\ntbase>$/.test(s), 'the match run');

  session.press('C-r');
  session.type('get c');
  await session.waitFor((s) => lastLine(s) === "(reverse-i-search)'get c': get colour", 'the match');
  session.press('Escape');
  await session.waitFor((s) => lastLine(s) === 'tbase> get colour', 'the match on the line');
  session.type(' color');
  session.press('Enter');
  screen = await session.waitFor((s) => /tbase> get colour color\ncolour {2}blue\ncolor {2}red\ntbase>$/.test(s), 'the edited line run');

  session.type('stats');
  session.press('C-r');
  session.type('zzz');
  await session.waitFor((s) => lastLine(s) === "(failed reverse-i-search)'zzz':", 'the failed search');
  session.press('C-c');
  await session.waitFor((s) => lastLine(s) === 'tbase> stats', 'the line as it was');
  expect(screen).not.toContain('error');
});

test('a command typed and a blank show the rest of its syntax, dimmed, after the cursor; NO_COLOR shows none', async () => {
  const session = repl({ NO_COLOR: '' });
  await session.waitForPrompt();
  session.type('set greeting ');
  await session.waitFor((s) => lastLine(s).startsWith('tbase> set greeting <value> [--ttl <duration>]'), 'the hint');
  expect(session.cursor().x).toBe('tbase> set greeting '.length); // the cursor stays where the typing goes on
  session.type('hello --ttl ');
  await session.waitFor((s) => lastLine(s) === 'tbase> set greeting hello --ttl <duration>', 'the option value hint');
  session.type('1h');
  await session.waitFor((s) => lastLine(s) === 'tbase> set greeting hello --ttl 1h', 'no hint inside a word');
  session.press('Enter');
  const screen = await session.waitFor((s) => /tbase> set greeting hello --ttl 1h\nOK \(revision 1, expires in 1h\)\n/.test(s), 'the command run');
  expect(screen).not.toContain('<value>'); // the entered line keeps no hint

  const plain = repl(); // NO_COLOR=1
  await plain.waitForPrompt();
  plain.type('set greeting ');
  await plain.waitFor((s) => lastLine(s) === 'tbase> set greeting', 'the line');
  plain.type('x');
  await plain.waitFor((s) => lastLine(s) === 'tbase> set greeting x', 'the typed key'); // and no hint came before it
});
