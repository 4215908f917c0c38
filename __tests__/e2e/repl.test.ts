/**
 * The REPL end to end: the built bin in a real pseudo-terminal (tmux) against real memcached, driven by keys as
 * a person would, asserting on the screen. Needs `npm run build` first (as every e2e test does).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { postgresAvailable, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { TmuxSession } from '../repl/tmux.js';

const started: TmuxSession[] = [];
const servers: MemcachedServer[] = [];

afterEach(async () => {
  for (const session of started.splice(0)) session.kill();
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(removeTempDirs);

function repl(db: string, history: string, extra: { servers?: string; env?: Record<string, string> } = {}): TmuxSession {
  const session = TmuxSession.start(['--db', db, '--servers', extra.servers ?? testServers()], { TBASE_HISTORY: history, ...extra.env });
  started.push(session);
  return session;
}

const lastLine = (screen: string) => screen.split('\n').at(-1) ?? '';

test('a full session: banner, set/get/list, guided set, Tab completion, confirmed delete, errors, Ctrl-D', async () => {
  const db = tempDbPath();
  const session = repl(db, join(tempDir(), 'history'));
  const banner = await session.waitForPrompt();
  expect(banner).toContain(`database  ${db} (0 keys)`);
  expect(banner).toContain(`cache     up ${testServers()}`);

  expect(await session.run('set greeting "hello world"')).toMatch(/^OK \(revision 1\)\n\(\d+(\.\d)? ms\)$/);
  expect(await session.run('get greeting')).toMatch(/^hello world\n\(\d+(\.\d)? ms · cache miss\)$/);
  expect(await session.run('GET greeting')).toMatch(/^hello world\n\(\d+(\.\d)? ms · cache hit\)$/);

  // `set` alone asks for the key (validated), then the value.
  await session.waitForPrompt();
  session.type('set');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s).startsWith('? Key'), 'the key question');
  session.press('Enter'); // an empty key is refused, and the question stays
  await session.waitFor((s) => s.includes('key is empty'), 'the validation message');
  session.type('user:1');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s).startsWith('? Value for "user:1"'), 'the value question');
  session.type('alice');
  session.press('Enter');
  let screen = await session.waitForPrompt();
  expect(screen).toMatch(/✔ Key user:1\n✔ Value for "user:1" alice\nOK \(revision \d+\)\n/);

  // Tab completes a key from SQLite; with several matches, it lists them.
  await session.run('set user:2 bob');
  session.type('get us');
  session.press('Tab');
  screen = await session.waitFor((s) => s.includes('user:1  user:2'), 'the list of matching keys');
  expect(lastLine(screen)).toBe('user:1  user:2');
  session.type('2');
  session.press('Tab');
  await session.waitFor((s) => lastLine(s) === 'tbase> get user:2', 'the completed key');
  session.press('Enter');
  screen = await session.waitForPrompt();
  expect(screen).toMatch(/tbase> get user:2\s*\nbob\n/);

  expect(await session.run('list user:')).toMatch(/^user:1 {2}alice\nuser:2 {2}bob\n\(2 entries\)\n/);

  // delete asks first; the default is No.
  await session.waitForPrompt();
  session.type('del user:1');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s).startsWith('? Delete "user:1"? (y/N)'), 'the confirmation');
  session.press('Enter');
  screen = await session.waitForPrompt();
  expect(screen).toMatch(/\(not deleted\)\n[^\n]*$/);
  session.type('rm user:1');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s).startsWith('? Delete "user:1"?'), 'the confirmation');
  session.type('y');
  session.press('Enter');
  screen = await session.waitForPrompt();
  expect(screen).toMatch(/✔ Delete "user:1"\? Yes\nDeleted "user:1" \(revision \d+\)\n/);

  // Errors are reported and the session goes on.
  expect(await session.run('get user:1')).toBe('(not found) "user:1"');
  expect(await session.run('frobnicate')).toMatch(/^error: unknown command 'frobnicate'/);
  expect(await session.run('set k "open')).toBe('error: unterminated double quote');
  expect(await session.run('set k v --ttl soon')).toMatch(/^error: bad TTL "soon"/);

  expect(await session.run('help')).toMatch(/Commands[\s\S]*set <key> <value>[\s\S]*exit, quit/);
  expect(await session.run('help get')).toMatch(/Usage: tbase get \[options\] <key\.\.\.>/);
  expect(await session.run('timing off')).toBe('timing off');
  expect(await session.run('get greeting')).toBe('hello world');

  // A prefix delete asks first, naming how many keys would go; the default is No.
  session.type('delete --prefix user:');
  session.press('Enter');
  await session.waitFor((s) => lastLine(s).startsWith('? Delete 1 key (every key under "user:")? (y/N)'), 'the prefix confirmation');
  session.press('Enter');
  screen = await session.waitForPrompt();
  expect(screen).toMatch(/\(nothing deleted\)\n[^\n]*$/);
  // Counters and conditional writes, with the revision on a failed condition.
  expect(await session.run('incr hits 5')).toBe('5');
  expect(await session.run('decr hits')).toBe('4');
  expect(await session.run('set hits 0 --if-revision 1')).toMatch(/^error: condition not met: "hits" is at revision \d+; nothing changed$/);
  expect(await session.run('get greeting hits')).toBe('greeting  hello world\nhits  4');

  session.press('C-d');
  expect(await session.exitStatus()).toBe(0);
  // What the session did is in SQLite, for every other process.
  expect((await runTbase(['--db', db, '--servers', testServers(), 'list', '--keys-only'])).out).toBe('greeting\nhits\nuser:2\n');
});

test('history: recalled with ↑ after a restart, owner-only, and without lines typed with a leading space', async () => {
  const db = tempDbPath();
  const history = join(tempDir(), 'state', 'history');
  const first = repl(db, history);
  await first.run('set colour blue');
  await first.run('get colour');
  await first.run(' set secret hunter2');
  await first.waitForPrompt();
  first.type('exit');
  first.press('Enter');
  expect(await first.exitStatus()).toBe(0);
  expect(statSync(history).mode & 0o777).toBe(0o600);
  expect(readFileSync(history, 'utf8')).toBe('set colour blue\nget colour\nexit\n');

  const second = repl(db, history);
  await second.waitForPrompt();
  second.press('Up');
  second.press('Up');
  await second.waitFor((s) => lastLine(s) === 'tbase> get colour', 'the recalled line');
  second.press('Enter');
  const screen = await second.waitForPrompt();
  expect(screen).toMatch(/tbase> get colour\nblue\n/);
  second.press('C-c'); // on an empty line: leave
  expect(await second.exitStatus()).toBe(0);
});

test('TBASE_HISTORY_REDACT keeps set values out of the history file; recalling the line asks for the value', async () => {
  const db = tempDbPath();
  const history = join(tempDir(), 'history');
  const first = repl(db, history, { env: { TBASE_HISTORY_REDACT: '1' } });
  await first.run('set token s3cr3t --ttl 1h');
  first.press('C-d');
  await first.exitStatus();
  expect(readFileSync(history, 'utf8')).toBe('set token --ttl 1h\n');

  const second = repl(db, history, { env: { TBASE_HISTORY_REDACT: '1' } });
  await second.waitForPrompt();
  second.press('Up');
  await second.waitFor((s) => lastLine(s) === 'tbase> set token --ttl 1h', 'the recalled line');
  second.press('Enter');
  await second.waitFor((s) => s.includes('? Value for "token"'), 'the value question');
  second.type('n3w');
  await second.waitFor((s) => s.includes('? Value for "token" ***'), 'the masked value');
  second.press('Enter');
  const screen = await second.waitForPrompt();
  expect(screen).not.toContain('n3w');
  expect((await runTbase(['--db', db, '--servers', testServers(), 'get', 'token'])).out).toBe('n3w\n');
});

test('pasted lines all run, in order, and an unfinished last line waits at the prompt', async () => {
  const session = repl(tempDbPath(), join(tempDir(), 'history'));
  await session.waitForPrompt();
  session.paste('set p1 one\nset p2 two\nlist p\nget p');
  await session.waitFor((s) => lastLine(s) === 'tbase> get p', 'the unfinished line at the prompt');
  session.type('2');
  session.press('Enter');
  const screen = await session.waitForPrompt();
  expect(screen).toMatch(
    /tbase> set p1 one\nOK \(revision 1\)\n.*\ntbase> set p2 two\nOK \(revision 2\)\n.*\ntbase> list p\np1 {2}one\np2 {2}two\n\(2 entries\)\n.*\ntbase> get p2\ntwo\n/,
  );
  session.press('C-d');
  expect(await session.exitStatus()).toBe(0);
});

test('get alone offers a searchable pick-list; Ctrl-C there cancels only that command', async () => {
  const db = tempDbPath();
  for (const [key, value] of [['apple', 'red'], ['banana', 'yellow'], ['blueberry', 'blue']]) {
    await runTbase(['--db', db, '--servers', testServers(), 'set', key!, value!]);
  }
  const session = repl(db, join(tempDir(), 'history'));
  await session.waitForPrompt();
  session.type('get');
  session.press('Enter');
  await session.waitFor((s) => s.includes('❯ apple') && s.includes('blueberry'), 'the pick-list');
  session.type('bl');
  await session.waitFor((s) => s.includes('❯ blueberry') && !s.split('? Key to read')[1]!.includes('banana'), 'the narrowed list');
  session.press('Enter');
  let screen = await session.waitForPrompt();
  expect(screen).toMatch(/✔ Key to read \(type to narrow\) blueberry\nblue\n/);

  session.type('get');
  session.press('Enter');
  await session.waitFor((s) => s.includes('❯ apple'), 'the pick-list');
  session.press('C-c');
  screen = await session.waitForPrompt();
  expect(screen).toMatch(/\(cancelled\)\ntbase>$/);
  expect(await session.run('get apple')).toMatch(/^red\n/);
  session.press('C-d');
  expect(await session.exitStatus()).toBe(0);
});

test('memcached going away shows in the prompt, and the REPL recovers by itself when it comes back', async () => {
  const memcached = await startMemcached();
  servers.push(memcached);
  const db = tempDbPath();
  const session = repl(db, join(tempDir(), 'history'), { servers: memcached.address });
  expect(await session.waitForPrompt()).toContain('cache     up');
  await session.run('set k v');
  expect(await session.run('get k')).toMatch(/cache miss/);

  await memcached.stop();
  const down = await session.run('get k');
  expect(down).toMatch(/^v\n\(\d+(\.\d)? ms · cache down, from SQLite\)\ntbase: notice: cache unavailable, answering from SQLite \(.+\); silence with --no-cache or TBASE_NO_CACHE=1$/);
  expect(lastLine(session.screen())).toBe('tbase (cache down)>');
  expect(await session.run('set k v2')).toMatch(/^OK \(revision \d+\)\n/); // said once, not after every command

  servers.push(await startMemcached(memcached.port));
  // No key pressed: the prompt itself notices memcached is back.
  await session.waitFor((s) => lastLine(s) === 'tbase>', 'the prompt without "(cache down)"');
  const back = await session.run('get k');
  expect(back).toMatch(/tbase: notice: cache is back/);
  expect(back).toMatch(/^[\s\S]*v2\n\(\d+(\.\d)? ms · cache miss\)$/);
  // (The write made while memcached was away left a short-lived tombstone, so no hit is promised yet; the
  // value is the new one, never the copy cached before the outage.)
  expect(await session.run('stats')).toMatch(/^cache {2,}up$/m);
  session.press('C-d');
  expect(await session.exitStatus()).toBe(0);
});

const describePg = postgresAvailable() ? describe : describe.skip;

describePg('on PostgreSQL', () => {
  let postgres: PostgresServer | undefined;
  afterAll(async () => {
    await postgres?.stop();
  });

  test('the banner hides the password; a restart of PostgreSQL costs at most one failed command, and the session goes on', async () => {
    postgres = await startPostgres();
    const url = postgres.url.replace('postgres@', 'postgres:hunter2@') + '?schema=repl';
    const session = repl(url, join(tempDir(), 'history'));
    const banner = await session.waitForPrompt();
    expect(banner).toContain(`database  postgres://postgres@127.0.0.1:${postgres.port}/tbase?schema=repl (0 keys)`);
    expect(await session.run('set k v')).toMatch(/^OK \(revision 1\)\n/);

    await postgres.restart();
    // The pooled connection died with the old server: the command is retried on a new one, or fails once (exit 3).
    const first = await session.run('get k');
    expect(first).toMatch(/^(v\n\(\d+(\.\d)? ms · cache \w+\)|tbase: error: PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/tbase: .+)$/);
    expect(await session.run('set k v2')).toMatch(/^OK \(revision 2\)\n/);
    expect(await session.run('get k')).toMatch(/^v2\n/);
    expect(session.screen()).not.toContain('hunter2');
    session.press('C-d');
    expect(await session.exitStatus()).toBe(0);
  }, 60000);
});
