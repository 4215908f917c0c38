/**
 * Generated command lines by the ten thousand, run through main() in this process (closed stdin, piped output):
 * whatever the words, the exit status is documented (0–4), a failure prints one `tbase:` line and no stack
 * trace, nothing hangs, and the database is unchanged unless the command succeeded; PRAGMA integrity_check is ok
 * at the end. A sample also runs through the built bin, to show that the in-process answers are the process's.
 *
 * Left out: commands that wait by design (watch, lock, serve) — and `lock` would run a generated command line.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkProperty, fc } from '../helpers/pbt.js';
import { DatabaseProbe, DOCUMENTED_EXIT_CODES, isBatchReport, messageProblem, runInProcess } from '../helpers/bad-input.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

const BLOCKING = new Set(['watch', 'lock', 'serve']);

const db = tempDbPath();
const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
const files = tempDir();
const validExport = join(files, 'export.json');
const batchFile = join(files, 'lines.tbase');
let probe: DatabaseProbe;

beforeAll(async () => {
  expect((await runInProcess(['set', 'seed', 'v'], env)).code).toBe(0);
  writeFileSync(validExport, '{"format":"tenantbase-export","version":2,"entries":[\n{"key":"imported","value":"v","expiresAt":null}\n],"count":1}\n');
  writeFileSync(batchFile, 'set b 1\nget b\nfrobnicate\nset "open\nincr b\n');
  mkdirSync(join(files, 'a-directory'));
  probe = await DatabaseProbe.open(db);
});

afterAll(async () => {
  await probe?.close();
  removeTempDirs();
});

const COMMANDS = ['set', 'get', 'delete', 'del', 'rm', 'incr', 'decr', 'list', 'ls', 'stats', 'ttl', 'export', 'import', 'cache', 'batch', 'help', 'completion', 'exit', 'quit'];
const FLAGS = [
  '--ttl', '--keep-ttl', '--if-absent', '--if-revision', '--if-value', '-n', '--no-newline', '--prefix', '--all', '--limit', '--keys-only',
  '--json', '--no-cache', '--bail', '--help', '-h', '-V', '--version', '--from-revision', '--host', '--port', '--wait', '--', '-', '--bogus', '-x',
  '--ttl=5m', '--limit=2', '--json=1', '---', '-nn',
];
// `--db` and `--servers` come only with values of their own (globalFlags): `--db WORD` would create a database
// named WORD in the working folder.

/** Places a command may read or write: the test database, bad ones, and scratch files (never the working folder). */
const dbValues = fc.constantFrom(db, db, db, '', files, join(files, 'a-directory'), '/proc/nope/x.db', 'postgres://tbase@127.0.0.1:1/x', 'postgres://%zz', `${files}/fresh-${'x'}.db`);
const serverValues = fc.constantFrom(testServers(), testServers(), '', 'localhost', 'user:secret@127.0.0.1:11211', '127.0.0.1:1', '[::1]:99999', 'a,b', ',,');
const fileValues = fc.constantFrom(validExport, batchFile, files, join(files, 'missing.json'), '-', '');

const numbers = fc.oneof(
  fc.integer().map(String),
  fc.constantFrom('0', '-1', '1.5', '1e309', 'NaN', 'Infinity', '9223372036854775807', '9223372036854775808', '-9223372036854775809', '0x10', ' 5', '5 ', '٣'),
  fc.bigInt().map(String),
);
const durations = fc.constantFrom('90', '90s', '5m', '2h', '1d', '0', '-1', '1.5', '5x', '', '99999999999d', '3153600000', '3153600001', '1D', ' 5m');
const keys = fc.constantFrom('k', 'n', 'seed', 'imported', 'b', 'a key', 'ключ', '🔑', 'tb:0000:~hits');
/** Words that are not flags' values: junk of every kind argv can hold (no NUL). */
const junk = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('', ' ', '\n', '\t', '\r\n', '"', "'", '\\', '#', '-', '--', '--=', '=', '%s', '$(id)', '`id`', '../..', '\u202e', '\uFEFF', '\uD800', 'é'.repeat(513)),
  fc.integer({ min: 1025, max: 70_000 }).map((n) => 'w'.repeat(n)),
).map((word) => word.replace(/\0/g, ''));

const word = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMANDS) },
  { weight: 1, arbitrary: fc.constantFrom(...COMMANDS).map((c) => c.toUpperCase()) },
  { weight: 4, arbitrary: fc.constantFrom(...FLAGS) },
  { weight: 3, arbitrary: keys },
  { weight: 2, arbitrary: numbers },
  { weight: 2, arbitrary: durations },
  { weight: 4, arbitrary: junk },
);

/** `--db`, `--servers` and friends with a value of theirs (or none), before the command. */
const globalFlags = fc.array(
  fc.oneof(
    dbValues.map((value) => ['--db', value]),
    serverValues.map((value) => ['--servers', value]),
    fc.constantFrom(['--json'], ['--no-cache'], ['--bail'], ['--db=' + db]),
  ),
  { maxLength: 2 },
).map((pairs) => pairs.flat());

/** Mostly a command with plausible and implausible words after it; sometimes words in any order. */
const argvs = fc
  .oneof(
    { weight: 6, arbitrary: fc.tuple(globalFlags, fc.constantFrom(...COMMANDS), fc.array(fc.oneof(word, fileValues), { maxLength: 5 })).map(([g, c, rest]) => [...g, c, ...rest]) },
    { weight: 2, arbitrary: fc.tuple(globalFlags, fc.array(word, { maxLength: 6 })).map(([g, rest]) => [...g, ...rest]) },
    { weight: 1, arbitrary: fc.tuple(globalFlags, fc.array(junk, { maxLength: 3 })).map(([g, rest]) => [...g, ...rest]) },
  )
  .filter((argv) => !argv.some((w) => BLOCKING.has(w)));

test('any command line: a documented exit, one message line, no stack trace, no change unless it succeeded', async () => {
  const workingFolder = readdirSync(process.cwd()).sort();
  await checkProperty(
    'bad argv (in process)',
    fc.asyncProperty(argvs, async (argv) => {
      const now = Date.now();
      const before = await probe.snapshot(now);
      const run = await runInProcess(argv, env);
      expect(DOCUMENTED_EXIT_CODES).toContain(run.code);
      expect(messageProblem(run.code, run.stderr)).toBeNull();
      // A batch runs its good lines even when others fail.
      if (run.code !== 0 && !isBatchReport(run.stderr)) expect(await probe.snapshot(now)).toBe(before);
    }),
    { runs: 20_000 },
  );
  expect(await probe.integrity()).toBe('ok');
  // No generated word became a file here (a database named after it).
  expect(readdirSync(process.cwd()).sort()).toEqual(workingFolder);
}, 600_000);

/** The same words as a process receives them: argv is UTF-8, so a lone surrogate arrives as U+FFFD. */
const asProcessArgv = (argv: string[]) => argv.map((w) => Buffer.from(w, 'utf8').toString('utf8'));
/** Counters (cache hits, sizes, revisions of a fresh namespace) may differ between two runs; the shape may not. */
const shape = (stdout: Buffer) => stdout.toString('utf8').replace(/\d+/g, '#');

test('a sample through the built bin answers exactly as in process', async () => {
  const sample = fc.sample(argvs.map(asProcessArgv), { numRuns: 30, seed: 42 });
  const sampleEnv = { ...env, TBASE_DB: tempDbPath() };
  // Each run starts from the same fresh database: `incr` or `set --if-absent` answer differently the second time.
  const fresh = async () => {
    removeDatabase(sampleEnv.TBASE_DB);
    expect((await runInProcess(['set', 'seed', 'v'], sampleEnv)).code).toBe(0);
  };
  for (const argv of sample) {
    await fresh();
    const spawned = await runTbase(argv, { env: sampleEnv });
    await fresh();
    const inProcess = await runInProcess(argv, sampleEnv);
    expect({ argv, code: spawned.code, stderr: spawned.stderr, stdout: shape(spawned.stdout) }).toEqual({
      argv,
      code: inProcess.code,
      stderr: inProcess.stderr,
      stdout: shape(inProcess.stdout),
    });
  }
}, 300_000);

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}
