/**
 * Bad and awkward input, table-driven, through the built bin: each case has its documented exit code, a one-line
 * message naming the problem, no stack trace, and leaves the database unchanged unless the command succeeded.
 */
import { SqliteStore } from '../../src/store/sqlite.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

const MiB = 1024 * 1024;
const INVALID_UTF8 = Buffer.from([0x66, 0x6f, 0xff, 0xfe, 0x80]);

interface Case {
  name: string;
  args: string[];
  stdin?: Buffer | string;
  code: 0 | 1 | 2 | 3;
  /** What the one-line message must say (usage and storage errors). */
  message?: RegExp;
  /** For successful sets: the key to read back with `get -n`, and the bytes expected. */
  readBack?: { key: string; value: Buffer };
}

const ok = (name: string, key: string, value: Buffer, viaStdin = false): Case => ({
  name,
  args: ['set', key, viaStdin ? '-' : value.toString('utf8')],
  stdin: viaStdin ? value : undefined,
  code: 0,
  readBack: { key, value },
});
const usage = (name: string, args: string[], message: RegExp, stdin?: Buffer): Case => ({ name, args, code: 2, message, stdin });

const cases: Case[] = [
  // keys
  usage('empty key', ['set', '', 'v'], /key is empty/),
  ok('key of exactly 1024 bytes', 'k'.repeat(1024), Buffer.from('v')),
  usage('key of 1025 bytes', ['set', 'k'.repeat(1025), 'v'], /key is 1025 bytes; the limit is 1024/),
  usage('get with a 1025-byte key', ['get', 'é'.repeat(513)], /key is 1026 bytes/),
  ok('key with spaces', 'a key with spaces', Buffer.from('v')),
  ok('key with a tab', 'tab\tkey', Buffer.from('v')),
  ok('key with a newline', 'new\nline', Buffer.from('v')),
  ok('key with control characters', 'ctl\x01\x07\x1b', Buffer.from('v')),
  ok('emoji key', '🔑🗝️', Buffer.from('v')),
  ok('right-to-left key', 'مفتاح עברית', Buffer.from('v')),
  ok('SQL injection as key', "k'); DROP TABLE entries; --", Buffer.from('v')),
  ok('SQL injection as value', 'sql-value', Buffer.from("'); DELETE FROM entries; --")),
  ok('key that looks like a cache namespace', 'tb:0000:~hits', Buffer.from('v')),
  // values
  ok('empty value as a word', 'empty-word', Buffer.alloc(0)),
  ok('empty value from stdin (0 bytes)', 'empty-stdin', Buffer.alloc(0), true),
  ok('NUL bytes', 'nul', Buffer.from([0, 1, 0, 2, 0]), true),
  ok('invalid UTF-8', 'invalid-utf8', INVALID_UTF8, true),
  ok('1 MiB - 1', 'mib-minus', Buffer.alloc(MiB - 1, 1), true),
  ok('1 MiB', 'mib', Buffer.alloc(MiB, 2), true),
  ok('1 MiB + 1', 'mib-plus', Buffer.alloc(MiB + 1, 3), true),
  ok('64 MiB exactly', 'max', Buffer.alloc(64 * MiB, 4), true),
  usage('64 MiB + 1 from stdin', ['set', 'too-big', '-'], /larger than 67108864 bytes/, Buffer.alloc(64 * MiB + 1, 5)),
  ok('value that starts with a dash', 'dash', Buffer.from('-5')),
  // commands and arguments
  usage('unknown command', ['frobnicate'], /unknown command "frobnicate"/),
  usage('unknown command in capitals', ['GETT', 'k'], /unknown command "GETT"/),
  usage('get without key', ['get'], /missing required argument 'key'/),
  usage('ttl with two keys', ['ttl', 'a', 'b'], /too many arguments/),
  usage('get -n with two keys', ['get', '-n', 'a', 'b'], /-n prints one value byte for byte/),
  usage('incr of a word step', ['incr', 'a', 'ten'], /bad step "ten"/),
  usage('set with two conditions', ['set', 'a', 'b', '--if-absent', '--if-revision', '0'], /at most one of/),
  usage('delete --prefix with no prefix', ['delete', '--prefix', ''], /an empty prefix removes every key: say --all/),
  usage('set without value', ['set', 'k'], /missing required argument 'value'/),
  usage('set with three words', ['set', 'k', 'v', 'w'], /too many arguments/),
  usage('delete without key', ['delete'], /missing <key>; usage: delete <key>/),
  usage('delete with two keys', ['rm', 'a', 'b'], /too many arguments/),
  usage('list with two prefixes', ['list', 'a', 'b'], /too many arguments/),
  usage('stats with an argument', ['stats', 'x'], /too many arguments/),
  // flags
  usage('TTL zero', ['set', 'k', 'v', '--ttl', '0'], /bad TTL "0"/),
  usage('TTL negative', ['set', 'k', 'v', '--ttl', '-1'], /bad TTL "-1"/),
  usage('TTL fractional', ['set', 'k', 'v', '--ttl', '1.5'], /bad TTL "1.5"/),
  usage('TTL unknown unit', ['set', 'k', 'v', '--ttl', '5x'], /bad TTL "5x"/),
  usage('TTL empty', ['set', 'k', 'v', '--ttl', ''], /bad TTL ""/),
  usage('TTL absurdly long', ['set', 'k', 'v', '--ttl', '99999999999d'], /bad TTL "99999999999d"/),
  usage('TTL without a value', ['set', 'k', 'v', '--ttl'], /option '--ttl <duration>' argument missing/),
  usage('unknown command flag', ['get', 'k', '--bogus'], /unknown option '--bogus'/),
  usage('unknown global flag', ['--nope', 'stats'], /unknown option '--nope'/),
  usage('limit zero', ['list', '--limit', '0'], /bad --limit "0"/),
  usage('limit junk', ['list', '--limit', 'ten'], /bad --limit "ten"/),
  usage('empty --db', ['--db', '', 'stats'], /--db needs a path/),
  usage('empty --servers', ['--servers', '', 'stats'], /--servers needs at least one host:port/),
  usage('server without port', ['--servers', 'localhost', 'stats'], /bad memcached server "localhost"/),
  usage('credentials in --servers are refused and never echoed', ['--servers', 'user:s3cret@127.0.0.1:11211', 'stats'], /^tbase: --servers takes host:port only; give SASL credentials in MEMCACHE_USERNAME and MEMCACHE_PASSWORD$/),
  // answers that are not failures of input
  { name: 'get of a missing key', args: ['get', 'never-set'], code: 1, message: /key not found: "never-set"/ },
  { name: 'delete of a missing key', args: ['delete', 'never-set'], code: 1, message: /key not found: "never-set"/ },
];

const db = tempDbPath();
const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };

async function snapshot(): Promise<string> {
  const store = await SqliteStore.open(db, 5000);
  try {
    const { entries } = await store.scan('', '', 10_000, Date.now());
    return JSON.stringify(entries.map((e) => [e.key, e.value.length, e.value.subarray(0, 64).toString('hex')]));
  } finally {
    await store.close();
  }
}

afterAll(removeTempDirs);

test(`the table has at least 40 cases (${cases.length})`, () => {
  expect(cases.length).toBeGreaterThanOrEqual(40);
});

describe.each(cases)('$name', (c) => {
  test(`exits ${c.code}`, async () => {
    const before = await snapshot();
    const result = await runTbase(c.args, { stdin: c.stdin, env });
    expect(result.code).toBe(c.code);
    expect(result.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
    const lines = result.stderr.split('\n').filter((l) => l !== '' && !l.includes('notice:'));
    if (c.code === 0) {
      expect(lines).toEqual([]);
    } else {
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(c.message!);
      expect(result.stdout.length).toBe(0);
      expect(await snapshot()).toBe(before);
    }
    // Values never appear in messages.
    if (c.stdin && c.stdin.length > 3) expect(result.stderr).not.toContain(Buffer.from(c.stdin).subarray(0, 16).toString('utf8'));
    if (c.readBack) {
      const back = await runTbase(['get', '-n', c.readBack.key], { env });
      expect(back.code).toBe(0);
      expect(back.stdout.equals(c.readBack.value)).toBe(true);
    }
  }, 60_000);
});
