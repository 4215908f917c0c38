/**
 * Generated batch input by the ten thousand lines, fed to ONE long-lived `tbase --json` batch process of the
 * built bin: invalid UTF-8, NUL, unbalanced quotes, bad escapes, CR/LF mixes, very long lines, unknown commands
 * mixed with good commands. Every command line gets exactly one answer naming its line number, in order; a
 * failure's message (stderr) names its line and shows no stack trace; the process never dies or stalls; it
 * exits with the highest failure code (CONTRACT.md, "Exit status"), and the database passes integrity_check.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchSession } from '../helpers/batch-session.js';
import { DatabaseProbe, hasStackTrace, messageLines, runInProcess } from '../helpers/bad-input.js';
import { checkProperty, fc, recordCount } from '../helpers/pbt.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';

const db = tempDbPath();
const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
const files = tempDir();
const validExport = join(files, 'export.json');

afterAll(removeTempDirs);

// ---- words and lines -------------------------------------------------------------------------------------------

const keys = fc.constantFrom('k', 'n', 'counter', 'a key', 'ключ', '🔑', 'nul\0key', 'cr\rkey', 'k'.repeat(1024), 'k'.repeat(1025), '');
const values = fc.oneof(
  { weight: 10, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 5, arbitrary: fc.constantFrom('1', '-5', '9223372036854775807', 'v', '') },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 20_000 }).map((n) => 'v'.repeat(n)) },
);
const flags = fc.constantFrom(
  '--ttl 5m', '--ttl 0', '--ttl x', '--ttl', '--keep-ttl', '--if-absent', '--if-revision 0', '--if-revision 3', '--if-revision x', '--if-value v',
  '-n', '--prefix k', '--prefix ""', '--all', '--limit 2', '--limit 0', '--keys-only', '--bogus', '--', '-', '--json', '--from-revision 1',
);

/** A word as a line would carry it: bare, double-quoted (escaped), single-quoted, or broken on purpose. */
const quoted = (word: fc.Arbitrary<string>) =>
  fc.tuple(word, fc.constantFrom('bare', 'double', 'single', 'open', 'bad-escape')).map(([w, how]) => {
    switch (how) {
      case 'bare':
        return w;
      case 'double':
        return `"${w.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
      case 'single':
        return `'${w.replace(/'/g, '')}'`;
      case 'open':
        return `"${w}`;
      default:
        return `"${w}\\q\\x\\u12\\"`;
    }
  });

const command = fc.constantFrom('set', 'get', 'delete', 'del', 'rm', 'incr', 'decr', 'ttl', 'list', 'ls', 'stats', 'cache', 'import', 'export', 'watch', 'lock', 'exit', 'GET', 'Set', 'frobnicate', 'batch', 'serve', 'help');

/** A plausible command line with implausible parts. */
const commandLine = fc
  .tuple(command, fc.array(fc.oneof(quoted(keys), quoted(values), flags, fc.constantFrom(validExport, 'pool', 'set', '127.0.0.1:1', 'x', '-- true')), { maxLength: 5 }))
  .map(([name, words]) => {
    // `export` prints the whole database into one answer: keep it to the first (small) part of a run.
    if (name === 'export' || name === 'list') words = words.filter((w) => w.length < 100);
    return Buffer.from([name, ...words].join(' '));
  });

/** Any bytes but LF: invalid UTF-8, NUL, CR, quotes. */
const rawBytes = fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes.map((b) => (b === 0x0a ? 0x20 : b))));
const specialLines = fc.constantFrom(
  '', '   ', '\t', '#', '# comment', '   # indented comment', '\r', '\r\r', 'get k\r', 'get\rk', 'set "a\r" b\r', '"', "'", '""', "''", '\\',
  'set "unterminated', "get 'open", 'set k "v\\"', 'set k "\\\\"', 'set "" v', '\u00a0get k', '\uFEFFget k', 'set k v\u2028x',
).map((text) => Buffer.from(text));
/** Long lines, mostly ones that do not grow the database (every later `list` and `export` would carry them). */
const veryLong = fc
  .tuple(fc.constantFrom('get ', 'frobnicate ', 'set k "', 'set "', 'incr ', '# ', 'set k '), fc.integer({ min: 100_000, max: 1_000_000 }))
  .map(([head, n]) => Buffer.from(`${head}${'x'.repeat(n)}`));

const line = fc.oneof(
  { weight: 6, arbitrary: commandLine },
  { weight: 3, arbitrary: rawBytes },
  { weight: 2, arbitrary: specialLines },
  { weight: 1, arbitrary: fc.constantFrom(Buffer.from([0xff, 0xfe, 0x20, 0x67]), Buffer.from('set k \xff\xfe', 'latin1'), Buffer.from('get \0')) },
);
/** A chunk of input: some lines, each ended by LF or CR LF; now and then one very long line. */
const chunk = fc.tuple(fc.array(line, { minLength: 8, maxLength: 30 }), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }), fc.oneof({ weight: 30, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: veryLong }));

// ---- what the answers must be -----------------------------------------------------------------------------------

/** The grammar's rule: after a trailing CR, a blank line or one starting with # has no answer. */
function isCommand(bytes: Buffer): boolean {
  const text = bytes.toString('utf8').replace(/\r$/, '').trimStart();
  return text !== '' && !text.startsWith('#');
}

const EXIT_OF_ERROR: Record<string, number> = { usage: 2, storage: 3 };

test('any batch input: one answer per command line, in order, and the process lives on', async () => {
  expect((await runInProcess(['set', 'seed', 'v'], env)).code).toBe(0);
  writeFileSync(validExport, '{"format":"tenantbase-export","version":2,"entries":[\n{"key":"imported","value":"v","expiresAt":null}\n],"count":1}\n');
  const session = new BatchSession(['--json'], env);
  let lineNumber = 0;
  let expectedAnswers = 0;
  let worstExit = 0;
  let stderrSeen = 0;
  try {
    await checkProperty(
      'bad batch lines (one process)',
      fc.asyncProperty(chunk, async ([lines, crlf, long]) => {
        const all = long === null ? lines : [...lines, long];
        const first = lineNumber + 1;
        const expected: number[] = [];
        const input = Buffer.concat(
          all.flatMap((bytes, i) => {
            lineNumber++;
            if (isCommand(bytes)) expected.push(lineNumber);
            return [bytes, Buffer.from(crlf[i % crlf.length] ? '\r\n' : '\n')];
          }),
        );
        session.sendBytes(input);
        const answers = (await session.waitForLines(expectedAnswers + expected.length, 60_000)).slice(expectedAnswers);
        expectedAnswers += expected.length;
        const parsed = answers.map((text) => JSON.parse(text) as { ok: boolean; line: number; error?: string; message?: string });
        expect(parsed.map((a) => a.line)).toEqual(expected);
        const failed = new Set<number>();
        for (const answer of parsed) {
          if (answer.ok) continue;
          expect(['usage', 'storage', 'not_found', 'conflict']).toContain(answer.error);
          if (answer.error === 'usage' || answer.error === 'storage') {
            failed.add(answer.line);
            worstExit = Math.max(worstExit, EXIT_OF_ERROR[answer.error]!);
          }
        }
        // stderr: one line per failed command, naming it, and nothing else (notices aside).
        if (failed.size > 0) await session.waitForStderr(new RegExp(`tbase: line ${Math.max(...failed)}: [^\\n]*\\n`));
        const complete = session.err.lastIndexOf('\n') + 1;
        const stderr = session.err.slice(stderrSeen, complete);
        stderrSeen = complete;
        expect(hasStackTrace(stderr)).toBe(false);
        const named = messageLines(stderr).map((message) => Number(/^tbase: line (\d+): \S/.exec(message)?.[1] ?? NaN));
        expect(named).toEqual([...failed]);
        expect(named.every((n) => n >= first && n <= lineNumber)).toBe(true);
      }),
      { runs: 4_000 },
    );
  } finally {
    const code = await session.end();
    expect(code).toBe(worstExit);
  }
  recordCount('bad batch lines (one process): input lines', lineNumber);
  const probe = await DatabaseProbe.open(db);
  try {
    expect(await probe.integrity()).toBe('ok');
  } finally {
    await probe.close();
  }
}, 600_000);
