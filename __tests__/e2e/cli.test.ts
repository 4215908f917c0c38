/** The built bin, as scripts and people run it: every command, output mode and exit code, cache up and down. */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentServer } from '../helpers/fake-servers.js';
import { startMemcached } from '../helpers/memcached.js';
import { runInTerminal, stripAnsi } from '../helpers/pty.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { runTbase, type RunOptions } from '../helpers/tbase.js';

afterAll(removeTempDirs);

function cli(db = tempDbPath(), servers = testServers()) {
  const env = { TBASE_DB: db, TBASE_SERVERS: servers };
  return {
    db,
    run: (args: string[], options: RunOptions = {}) => runTbase(args, { ...options, env: { ...env, ...options.env } }),
  };
}

describe('one-shot commands, piped', () => {
  test('set, get, delete with exact exit codes and nothing extra on stdout', async () => {
    const { run } = cli();
    expect(await run(['set', 'greeting', 'hello world'])).toMatchObject({ code: 0, out: '', stderr: '' });
    expect(await run(['get', 'greeting'])).toMatchObject({ code: 0, out: 'hello world\n', stderr: '' });
    expect(await run(['get', '-n', 'greeting'])).toMatchObject({ code: 0, out: 'hello world' });
    expect(await run(['get', 'greeting', '--no-newline'])).toMatchObject({ code: 0, out: 'hello world' });
    expect(await run(['del', 'greeting'])).toMatchObject({ code: 0, out: '' });
    const missing = await run(['get', 'greeting']);
    expect(missing).toMatchObject({ code: 1, out: '' });
    expect(missing.stderr).toBe('tbase: key not found: "greeting"\n');
    expect(await run(['rm', 'greeting'])).toMatchObject({ code: 1, out: '' });
    expect(await run(['delete', 'greeting'])).toMatchObject({ code: 1, out: '' });
  });

  test('values read from stdin byte for byte, including 5 MB of random binary', async () => {
    const { run } = cli();
    const binary = randomBytes(5 * 1024 * 1024);
    expect(await run(['set', 'blob', '-'], { stdin: binary })).toMatchObject({ code: 0 });
    const got = await run(['get', '-n', 'blob']);
    expect(got.code).toBe(0);
    expect(got.stdout.equals(binary)).toBe(true);
    expect(await run(['set', 'empty', '-'], { stdin: '' })).toMatchObject({ code: 0 });
    expect((await run(['get', '-n', 'empty'])).stdout.length).toBe(0);
    expect((await run(['get', 'empty'])).out).toBe('\n');
  });

  test('keys with spaces, unicode and 1024 bytes; values that look like flags', async () => {
    const { run } = cli();
    const long = 'k'.repeat(1024);
    for (const key of ['with space', 'ключ 🔑', long, "quote'\"key"]) {
      expect((await run(['set', key, `v:${key}`])).code).toBe(0);
      expect((await run(['get', key])).out).toBe(`v:${key}\n`);
    }
    expect(await run(['set', 'neg', '-5'])).toMatchObject({ code: 0 });
    expect((await run(['get', 'neg'])).out).toBe('-5\n');
    expect(await run(['set', 'dash', '--', '--not-a-flag'])).toMatchObject({ code: 0 });
    expect((await run(['get', 'dash'])).out).toBe('--not-a-flag\n');
  });

  test('usage errors exit 2 with one line on stderr and touch nothing', async () => {
    const { run, db } = cli();
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['get'], /missing required argument 'key'/],
      [['set', 'k'], /missing required argument 'value'/],
      [['set', '', 'v'], /key is empty/],
      [['set', 'k'.repeat(1025), 'v'], /key is 1025 bytes; the limit is 1024/],
      [['set', 'k', 'v', '--ttl', '0'], /bad TTL "0"/],
      [['set', 'k', 'v', '--ttl', '-5m'], /bad TTL "-5m"/],
      [['set', 'k', 'v', '--ttl', 'soon'], /bad TTL "soon"/],
      [['get', 'k', '--bogus'], /unknown option '--bogus'/],
      [['list', '--limit', 'x'], /bad --limit "x"/],
      [['ttl', 'a', 'b'], /too many arguments/],
      [['delete', 'a', '--prefix', 'b'], /give a key or --prefix\/--all, not both/],
      [['set', 'k', 'v', '--if-absent', '--if-value', 'x'], /at most one of --if-absent, --if-revision and --if-value/],
      [['incr', 'k', '1.5'], /bad step "1.5"/],
      [['--servers', 'nonsense', 'get', 'k'], /bad memcached server "nonsense"/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect({ args, code: result.code, out: result.out }).toEqual({ args, code: 2, out: '' });
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(existsSync(db)).toBe(false); // nothing opened the database
  });

  test('list streams entries in key order with prefix, limit and keys-only; plain output escapes', async () => {
    const { run } = cli();
    for (const [k, v] of [['b:2', 'two'], ['a', 'alpha'], ['b:1', 'line1\nline2\ttab\\'], ['c', 'x']]) await run(['set', k!, v!]);
    expect((await run(['list'])).out).toBe('a\talpha\nb:1\tline1\\nline2\\ttab\\\\\nb:2\ttwo\nc\tx\n');
    expect((await run(['ls', 'b:'])).out).toBe('b:1\tline1\\nline2\\ttab\\\\\nb:2\ttwo\n');
    expect((await run(['list', '--keys-only', '--limit', '2'])).out).toBe('a\nb:1\n');
    expect((await run(['list', 'zzz'])).out).toBe('');
  });

  test('--json everywhere: one JSON value per command, base64 for binary, errors as objects', async () => {
    const { run } = cli();
    expect(JSON.parse((await run(['set', 'k', 'v', '--ttl', '1h', '--json'])).out)).toEqual({ ok: true, command: 'set', key: 'k', ttl: 3600, revision: 1, createRevision: 1, version: 1 });
    expect(JSON.parse((await run(['--json', 'get', 'k'])).out)).toMatchObject({ ok: true, command: 'get', key: 'k', value: 'v' });
    await run(['set', 'bin', '-'], { stdin: Buffer.from([0xff, 0x00, 0xfe]) });
    expect(JSON.parse((await run(['get', 'bin', '--json'])).out)).toMatchObject({ value: '/wD+', encoding: 'base64', ttl: null });
    expect(JSON.parse((await run(['list', '--json'])).out)).toEqual({
      ok: true,
      command: 'list',
      entries: [
        { key: 'bin', value: '/wD+', encoding: 'base64', ttl: null, revision: 2, createRevision: 2, version: 1 },
        { key: 'k', value: 'v', ttl: expect.any(Number), revision: 1, createRevision: 1, version: 1 },
      ],
    });
    expect(JSON.parse((await run(['list', '--json', '--keys-only'])).out).entries).toEqual(['bin', 'k']);
    const missing = await run(['get', 'nope', '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.out)).toMatchObject({ ok: false, command: 'get', key: 'nope', error: 'not_found' });
    const bad = await run(['set', '', 'x', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.out)).toMatchObject({ ok: false, error: 'usage', message: 'key is empty' });
    expect(JSON.parse((await run(['delete', 'k', '--json'])).out)).toEqual({ ok: true, command: 'delete', key: 'k', revision: 3 });
    const stats = JSON.parse((await run(['stats', '--json'])).out);
    expect(stats).toMatchObject({ ok: true, command: 'stats', keys: 1, cache: 'up', pendingInvalidations: 0 });
  });

  test('stats reports keys, size, cache state and shared hit/miss counts', async () => {
    const { run } = cli();
    await run(['set', 'k', 'v']);
    await run(['get', 'k']); // miss + fill
    await run(['get', 'k']); // hit
    const lines = Object.fromEntries((await run(['stats'])).out.trim().split('\n').map((l) => l.split('\t')));
    expect(lines).toMatchObject({ keys: '1', cache: 'up', hits: '1', misses: '1', pending_invalidations: '0' });
    expect(Number(lines.db_bytes)).toBeGreaterThan(0);
  });

  test('--help, --version, and help per command with examples', async () => {
    const { run } = cli();
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: tbase/);
    expect(help.out).toMatch(/Exit status: 0 ok, 1 key not found, 2 usage error, 3 storage error/);
    expect((await run(['--version'])).out).toMatch(/^\d+\.\d+\.\d+\n$/);
    const setHelp = await run(['set', '--help']);
    expect(setHelp.out).toMatch(/Examples:\n {2}tbase set greeting "hello world"/);
  });
});

describe('configuration', () => {
  test('flag beats environment; --no-cache and TBASE_NO_CACHE bypass memcached', async () => {
    const envDb = tempDbPath();
    const flagDb = tempDbPath();
    await runTbase(['set', 'k', 'env'], { env: { TBASE_DB: envDb, TBASE_SERVERS: testServers() } });
    await runTbase(['--db', flagDb, 'set', 'k', 'flag'], { env: { TBASE_DB: envDb, TBASE_SERVERS: testServers() } });
    expect((await runTbase(['get', 'k'], { env: { TBASE_DB: envDb, TBASE_SERVERS: testServers() } })).out).toBe('env\n');
    expect((await runTbase(['get', 'k', '--db', flagDb], { env: { TBASE_DB: envDb, TBASE_SERVERS: testServers() } })).out).toBe('flag\n');
    const off = await runTbase(['--no-cache', 'get', 'k', '--json'], { env: { TBASE_DB: envDb, TBASE_SERVERS: '127.0.0.1:1' } });
    expect(JSON.parse(off.out)).toMatchObject({ value: 'env', source: 'store' });
    expect(off.stderr).toBe(''); // no cache, no notice
    const envOff = await runTbase(['stats', '--json'], { env: { TBASE_DB: envDb, TBASE_NO_CACHE: '1' } });
    expect(JSON.parse(envOff.out)).toMatchObject({ cache: 'off' });
  });

  test('the default database lives under XDG_DATA_HOME, created owner-only', async () => {
    const home = tempDir();
    const result = await runTbase(['set', 'k', 'v'], { env: { XDG_DATA_HOME: home, TBASE_DB: undefined, TBASE_SERVERS: testServers() } });
    expect(result.code).toBe(0);
    const db = join(home, 'tenantbase', 'tbase.db');
    expect(statSync(db).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, 'tenantbase')).mode & 0o777).toBe(0o700);
  });

  test('MEMCACHE_SERVERS is used when TBASE_SERVERS is unset', async () => {
    const db = tempDbPath();
    await runTbase(['set', 'k', 'v'], { env: { TBASE_DB: db, TBASE_SERVERS: undefined, MEMCACHE_SERVERS: testServers() } });
    await runTbase(['get', 'k'], { env: { TBASE_DB: db, TBASE_SERVERS: undefined, MEMCACHE_SERVERS: testServers() } });
    const hit = await runTbase(['get', 'k', '--json'], { env: { TBASE_DB: db, TBASE_SERVERS: undefined, MEMCACHE_SERVERS: testServers() } });
    expect(JSON.parse(hit.out)).toMatchObject({ source: 'cache' });
  });
});

describe('storage errors exit 3 with a clear message', () => {
  test('directory, not a database, parent is a file', async () => {
    const dir = tempDir();
    const asDir = await runTbase(['get', 'k'], { env: { TBASE_DB: dir } });
    expect(asDir).toMatchObject({ code: 3, out: '' });
    expect(asDir.stderr).toMatch(/it is a directory/);
    const notDb = join(dir, 'notes.txt');
    writeFileSync(notDb, 'hello, I am not a database '.repeat(100));
    const junk = await runTbase(['list'], { env: { TBASE_DB: notDb } });
    expect(junk).toMatchObject({ code: 3, out: '' });
    expect(junk.stderr).toMatch(/is not a tbase database/);
    const under = await runTbase(['set', 'k', 'v'], { env: { TBASE_DB: join(notDb, 'x.db') } });
    expect(under.code).toBe(3);
    expect(under.stderr).toMatch(/a parent of it is not a folder/);
    for (const r of [asDir, junk, under]) expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('memcached down, hanging or coming back', () => {
  test('down: every command answered from SQLite, the same one-line notice, same exit codes', async () => {
    const { run } = cli(tempDbPath(), '127.0.0.1:1');
    const notice =
      'tbase: notice: cache unavailable, answering from SQLite (memcached 127.0.0.1:1 cannot be reached: connect ECONNREFUSED 127.0.0.1:1); ' +
      'silence with --no-cache or TBASE_NO_CACHE=1\n';
    // A fresh insert owes memcached nothing and asks it nothing: it still says memcached cannot be reached.
    expect(await run(['set', 'k', 'v0'])).toMatchObject({ code: 0, out: '', stderr: notice });
    expect(await run(['set', 'k', 'v'])).toMatchObject({ code: 0, out: '', stderr: notice });
    expect(await run(['get', 'k'])).toMatchObject({ code: 0, out: 'v\n', stderr: notice });
    expect(await run(['get', 'missing'])).toMatchObject({ code: 1, out: '', stderr: `${notice}tbase: key not found: "missing"\n` });
    expect(await run(['list'])).toMatchObject({ code: 0, out: 'k\tv\n', stderr: notice });
    expect(await run(['incr', 'n'])).toMatchObject({ code: 0, out: '1\n', stderr: notice });
    expect(await run(['ttl', 'k'])).toMatchObject({ code: 0, out: '-1\n', stderr: notice });
    const exported = await run(['export']);
    expect(exported).toMatchObject({ code: 0, stderr: notice });
    expect(await run(['import', '-'], { stdin: exported.out })).toMatchObject({ code: 0, out: '', stderr: notice });
    expect(await run(['cache', 'pool'])).toMatchObject({ code: 0, stderr: notice });
    expect(await run(['lock', 'nightly', '--', process.execPath, '-e', ''])).toMatchObject({ code: 0, out: '', stderr: notice });
    const conflict = await run(['set', 'k', 'v', '--if-absent']);
    expect(conflict).toMatchObject({ code: 4, out: '' });
    expect(conflict.stderr.slice(notice.length)).toMatch(/^tbase: condition not met: "k" is at revision \d+; nothing changed\n$/);
    expect(conflict.stderr.startsWith(notice)).toBe(true);
    const stats = await run(['stats', '--json']);
    expect(stats.stderr).toBe(notice);
    expect(JSON.parse(stats.out)).toMatchObject({ cache: 'down', keys: 2 });
    expect(await run(['--no-cache', 'get', 'k'])).toMatchObject({ code: 0, out: 'v\n', stderr: '' });
    expect(await run(['get', 'k'], { env: { TBASE_NO_CACHE: '1' } })).toMatchObject({ code: 0, out: 'v\n', stderr: '' });
  });

  test('a server that never answers: each command ends within the timeout and still answers', async () => {
    const silent = await silentServer();
    const { run } = cli(tempDbPath(), silent.address);
    const env = { TBASE_CACHE_TIMEOUT_MS: '300' };
    const set = await run(['set', 'k', 'v'], { env });
    expect(set.code).toBe(0);
    expect(set.ms).toBeLessThan(5000);
    const get = await run(['get', 'k'], { env });
    expect(get).toMatchObject({ code: 0, out: 'v\n' });
    expect(get.stderr).toMatch(/did not answer/);
    await silent.close();
  });

  test('writes made while memcached was unreachable are never shadowed by stale copies once it is back', async () => {
    const memcached = await startMemcached();
    const db = tempDbPath();
    const up = cli(db, memcached.address);
    await up.run(['set', 'k', 'v1']);
    await up.run(['get', 'k']); // cached copy v1
    expect(JSON.parse((await up.run(['get', 'k', '--json'])).out)).toMatchObject({ source: 'cache', value: 'v1' });
    // A writer that cannot reach this memcached (a partition): its tombstone goes nowhere; the outbox keeps it.
    const partitioned = cli(db, '127.0.0.1:1');
    expect((await partitioned.run(['set', 'k', 'v2'])).code).toBe(0);
    expect((await partitioned.run(['delete', 'other'])).code).toBe(1);
    // Back on the shared memcached, which still holds v1:
    const read = JSON.parse((await up.run(['get', 'k', '--json'])).out);
    expect(read).toMatchObject({ value: 'v2' });
    expect(JSON.parse((await up.run(['stats', '--json'])).out)).toMatchObject({ pendingInvalidations: 0 });
    await memcached.stop();
  });
});

describe('human output on a terminal', () => {
  test('colour and friendly wording; NO_COLOR turns colour off', async () => {
    const db = tempDbPath();
    const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
    const set = runInTerminal(['set', 'k', 'v', '--ttl', '5m'], env);
    expect(set.code).toBe(0);
    expect(set.screen).toMatch(/\x1b\[32mOK/);
    expect(stripAnsi(set.screen)).toBe('OK (revision 1, expires in 5m)\n');
    runInTerminal(['set', 'bin', 'x'], env);
    expect(stripAnsi(runInTerminal(['list'], env).screen)).toMatch(/^bin {2}x\nk {2}v {2}\(ttl (5m|4m\d+s)\)\n\(2 entries\)\n$/);
    expect(stripAnsi(runInTerminal(['delete', 'bin'], env).screen)).toBe('Deleted "bin" (revision 3)\n');
    const plain = runInTerminal(['stats'], { ...env, NO_COLOR: '1' });
    expect(plain.screen).not.toMatch(/\x1b\[/);
    expect(plain.screen).toMatch(/^database +.*\nrevision +3\nkeys +1\n/m);
  });
});

