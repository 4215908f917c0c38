/**
 * How bin/tbase loads the build (docs/architecture.md, "Start-up"): the bundle already wrapped in CommonJS's module
 * function, compiled with the code cache the build recorded for it. A cache V8 rejects costs nothing visible but
 * the start-up it was made to save, so it is checked here; and bin/tbase read as ESM still runs, through tbase.cjs.
 * The code one-shot commands do not run is in a second file, which takes every module it shares with the first
 * from it: a second copy of a class would break `instanceof` (the exit status of an error) without a word.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bundle = join(root, 'dist', 'bundle');

afterAll(removeTempDirs);

test.each(['tbase', 'tbase-extras'])('the wrapped %s.fn.js is %s.cjs in the module function, and V8 accepts its recorded code cache', (name) => {
  const wrapped = readFileSync(join(bundle, `${name}.fn.js`), 'utf8');
  expect(wrapped).toBe(Module.wrap(readFileSync(join(bundle, `${name}.cjs`), 'utf8')));
  // In a child: V8 checks a cache against its own flags, and jest runs this process with flags of its own.
  const check = `
    const { Script } = require('node:vm');
    const { readFileSync } = require('node:fs');
    const file = ${JSON.stringify(join(bundle, `${name}.fn.js`))};
    const script = new Script(readFileSync(file, 'utf8'), { filename: file, cachedData: readFileSync(file + '.cache') });
    process.stdout.write(String(script.cachedDataRejected));`;
  const run = spawnSync(process.execPath, ['-e', check], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  expect(run.stdout).toBe('false');
});

test('bin/tbase read as ESM (no bin/package.json beside it) still runs, through tbase.cjs (and tbase-extras.cjs)', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(root, 'bin', 'tbase'), join(dir, 'bin', 'tbase.mjs'));
  symlinkSync(join(root, 'dist'), join(dir, 'dist'));
  const db = tempDbPath();
  const run = (args: string[], input?: string) =>
    spawnSync(process.execPath, [join(dir, 'bin', 'tbase.mjs'), '--db', db, '--no-cache', ...args], { encoding: 'utf8', input });
  expect(run(['set', 'k', 'esm'])).toMatchObject({ status: 0, stderr: '' });
  expect(run(['get', 'k'])).toMatchObject({ status: 0, stdout: 'esm\n', stderr: '' });
  // batch is in the extras file, which tbase.cjs then require()s (no runCompiled without bin/tbase as CommonJS).
  expect(run(['batch'], 'get k\n')).toMatchObject({ status: 0, stdout: 'esm\n', stderr: '' });
});

test("the sqlite3 addon is found where the installed package is when it is not where the build found it", () => {
  // An installed tbase whose dependencies were hoisted one level up: nothing at ../../node_modules from the bundle.
  const dir = tempDir();
  const pkg = join(dir, 'pkg');
  for (const folder of ['bin', 'dist/bundle']) mkdirSync(join(pkg, folder), { recursive: true });
  for (const name of ['tbase', 'package.json']) copyFileSync(join(root, 'bin', name), join(pkg, 'bin', name));
  for (const name of readdirSync(bundle)) copyFileSync(join(bundle, name), join(pkg, 'dist', 'bundle', name));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  expect(existsSync(join(pkg, 'node_modules'))).toBe(false);
  const db = tempDbPath();
  const run = (args: string[]) => spawnSync(process.execPath, [join(pkg, 'bin', 'tbase'), '--db', db, '--no-cache', ...args], { encoding: 'utf8' });
  expect(run(['set', 'k', 'hoisted'])).toMatchObject({ status: 0, stderr: '' });
  expect(run(['get', 'k'])).toMatchObject({ status: 0, stdout: 'hoisted\n', stderr: '' });
});

describe('the extras file', () => {
  const extras = () => readFileSync(join(bundle, 'tbase-extras.cjs'), 'utf8');

  test('holds what one-shot commands do not run, and no module of the first file', () => {
    const first = readFileSync(join(bundle, 'tbase.cjs'), 'utf8');
    const text = extras();
    // Definitions as esbuild writes them (names are kept: whitespace and syntax minification only). Compared as
    // booleans so that a failure does not print 200 KB of bundle.
    const where = (definition: string) => ({ definition, first: first.includes(definition), extras: text.includes(definition) });
    for (const definition of ['function runRepl(', 'function runServe(', 'function runBatch(', 'PostgresStore=class', 'function runLocked(']) {
      expect(where(definition)).toEqual({ definition, first: false, extras: true });
    }
    // Defined once, in the first file; the extras file asks the first file's registry for them.
    for (const definition of ['SqliteStore=class', 'UsageError=class extends TbaseError', 'function parseCommandLine(']) {
      expect(where(definition)).toEqual({ definition, first: true, extras: false });
    }
    expect(text.includes('"src/errors.ts"')).toBe(true);
  });

  test("errors thrown in the extras file's code keep their exit status (one UsageError class)", () => {
    const db = tempDbPath();
    const tbase = (args: string[], input?: string) =>
      spawnSync(process.execPath, [join(root, 'bin', 'tbase'), '--db', db, '--no-cache', ...args], { encoding: 'utf8', input });
    // run-locked.ts (extras) cannot start the command: a UsageError, exit 2 (CONTRACT.md), not 3 (any other error).
    expect(tbase(['lock', 'name', '--', '/nonexistent/tbase-test-command'])).toMatchObject({ status: 2, stdout: '' });
    // batch/plan.ts (extras) refuses a command batch cannot run: a UsageError, which batch.ts reports by its status.
    expect(tbase(['batch'], 'watch k\n')).toMatchObject({ status: 2 });
    expect(tbase(['--version'])).toMatchObject({ status: 0, stderr: '' });
  });
});

describe('one-shot commands reach memcached without node:net (store/lean-socket.ts)', () => {
  /** Runs bin/tbase with a preload that records, at exit, the modules of Node's own that the process loaded. */
  function runProbed(args: string[], env: Record<string, string> = {}) {
    const dir = tempDir();
    const probe = join(dir, 'probe.cjs');
    const list = join(dir, 'modules.txt');
    writeFileSync(probe, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));`);
    const run = spawnSync(process.execPath, ['-r', probe, join(root, 'bin', 'tbase'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
    return { ...run, modules: readFileSync(list, 'utf8').split('\n') };
  }

  test('a set and a cache hit: answered through memcached, with neither node:net nor node:tty loaded', () => {
    const db = tempDbPath();
    const args = ['--db', db, '--servers', testServers()];
    // The first write makes the database (its namespace id comes from node:crypto, which loads the stream classes).
    expect(runProbed([...args, 'set', 'w', 'first'])).toMatchObject({ status: 0, stderr: '' });
    const set = runProbed([...args, 'set', 'k', 'lean']);
    expect(set).toMatchObject({ status: 0, stderr: '' });
    expect(runProbed([...args, 'get', 'k'])).toMatchObject({ status: 0, stdout: 'lean\n', stderr: '' }); // fills
    const hit = runProbed([...args, '--json', 'get', 'k']);
    expect(hit).toMatchObject({ status: 0, stderr: '' });
    expect(JSON.parse(hit.stdout)).toMatchObject({ value: 'lean', source: 'cache' });
    for (const run of [set, hit]) {
      expect(run.modules).toContain('Internal Binding tcp_wrap');
      for (const module of ['net', 'tty', 'stream']) expect(run.modules).not.toContain(`NativeModule ${module}`);
    }
  });

  test('with --pending-deprecation (process.binding would warn) and with a server given by name: node:net, and no warning', () => {
    const port = testServers().slice(testServers().lastIndexOf(':') + 1);
    for (const [servers, env] of [
      [testServers(), { NODE_OPTIONS: '--pending-deprecation' }],
      [`localhost:${port}`, {}],
    ] as const) {
      const args = ['--db', tempDbPath(), '--servers', servers];
      expect(runProbed([...args, 'set', 'k', 'net'], env)).toMatchObject({ status: 0, stderr: '' });
      const got = runProbed([...args, 'get', 'k'], env);
      expect(got).toMatchObject({ status: 0, stdout: 'net\n', stderr: '' });
      expect(got.modules).toContain('NativeModule net');
    }
  });

  test('memcached refusing: the same notice as through node:net, and the answer from SQLite', () => {
    const db = tempDbPath();
    const refused = ['--db', db, '--servers', '127.0.0.1:1'];
    expect(runProbed([...refused, 'set', 'k', 'v']).status).toBe(0);
    const lean = runProbed([...refused, 'get', 'k']);
    const net = runProbed([...refused, 'get', 'k'], { NODE_OPTIONS: '--pending-deprecation' });
    expect(lean).toMatchObject({ status: 0, stdout: 'v\n' });
    expect(lean.stderr).toMatch(/ECONNREFUSED 127\.0\.0\.1:1/);
    expect(lean.stderr).toBe(net.stderr);
  });
});
