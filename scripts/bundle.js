// Bundles the CLI into one CommonJS file, dist/bundle/tbase.cjs, that bin/tbase loads with require(). Start-up is
// what a one-shot command costs (docs/architecture.md, "Start-up"), so:
//  - one file: resolving, reading and linking ~40 ESM files (and Node's ESM loader for each) costs more than
//    running a command. The REPL, batch and serve code sits in the same file behind lazy initialisers (esbuild
//    turns `await import()` into one), so it is parsed but never run by a one-shot command.
//  - CommonJS, not ESM: a require()d file skips the ESM loader's resolve/link/evaluate steps.
//  - sqlite3's JavaScript is bundled too, and its native addon is loaded by path: the package's own loader (the
//    `bindings` module) probes a dozen candidate paths, each failed probe a thrown MODULE_NOT_FOUND, ~20 ms.
//  - a V8 code cache of the bundle, recorded by running one command (a `get` answered by memcached), saves
//    parsing the file and compiling what a command runs; bin/tbase hands it to V8.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

/** sqlite3's lib/sqlite3-binding.js, replaced: the addon from build/Release, else the package's own lookup. */
const sqliteBinding = {
  name: 'sqlite3-binding',
  setup(b) {
    b.onResolve({ filter: /[\\/]sqlite3-binding\.js$/ }, (args) => ({ path: args.path, namespace: 'sqlite3-binding' }));
    b.onLoad({ filter: /.*/, namespace: 'sqlite3-binding' }, () => ({
      loader: 'js',
      contents: `
        const { dirname, join } = require('node:path');
        const root = dirname(require.resolve('sqlite3/package.json'));
        try {
          module.exports = require(join(root, 'build', 'Release', 'node_sqlite3.node'));
        } catch (error) {
          if (error.code !== 'MODULE_NOT_FOUND') throw error;
          module.exports = require(join(root, 'lib', 'sqlite3-binding.js')); // built somewhere else: let bindings find it
        }`,
    }));
  },
};

rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: ['src/index.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  outfile: 'dist/bundle/tbase.cjs',
  // Resolved at run time from the installed package (the addon lives beside it).
  // Resolved at run time too: pg loads only for a postgres:// database (store/open.ts), so it is not parsed at
  // every start; pg-native is an optional peer it tries, never installed (it corrupts bytea parameters).
  external: ['sqlite3/package.json', 'pg', 'pg-native', 'pg-connection-string', 'pgpass'],
  plugins: [sqliteBinding],
  // The sources are ESM; in CommonJS import.meta.url is this file's URL.
  define: { 'import.meta.url': '__tbase_import_meta_url' },
  banner: { js: "const __tbase_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable. The file is ~40%
  // smaller, which V8 reads and checks against the code cache at every start.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
});

// The bundle as the function CommonJS wraps a module in, which bin/tbase compiles: written once here, so that
// bin/tbase does not join the 394 KB source into that wrapper at every start (a copy that cost a cache-hot `get` one
// of its two young-generation collections). tbase.cjs stays as it is, for bin/tbase read as ESM (it import()s it).
writeFileSync('dist/bundle/tbase.fn.js', Module.wrap(readFileSync('dist/bundle/tbase.cjs', 'utf8')));

// Record the code cache: a set, a get that fills the cache, then a recorded get that hits it, so the code of the
// common path (memcached's answer included) is compiled into the cache. memcached is started for this when it is
// installed; without it, port 1 refuses at once and the client's connect/failure path is recorded instead (the
// notice that run prints is expected).
const scratch = mkdtempSync(join(tmpdir(), 'tbase-build-'));
let memcached = null;
try {
  const { startMemcached } = await import('../__tests__/helpers/memcached.mjs');
  memcached = await startMemcached();
} catch {
  // not installed: record without it
}
try {
  const run = (args, env = {}) =>
    spawnSync(process.execPath, ['bin/tbase', '--db', join(scratch, 'x.db'), '--servers', memcached?.address ?? '127.0.0.1:1', ...args], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
  run(['set', 'k', 'v']);
  run(['get', 'k']);
  const recorded = run(['get', 'k'], { TBASE_RECORD_CODE_CACHE: 'dist/bundle/tbase.fn.js.cache' });
  if (recorded.status !== 0 || !existsSync('dist/bundle/tbase.fn.js.cache')) {
    console.warn(`bundle: no code cache recorded (exit ${recorded.status}): ${recorded.stderr}`);
  }
} finally {
  await memcached?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
