// Bundles the CLI into two CommonJS files that bin/tbase loads: dist/bundle/tbase.cjs, what a one-shot command
// runs (commander included: a command line with options goes through it), and dist/bundle/tbase-extras.cjs, the
// rest (the REPL and Inquirer, batch, serve, completion, PostgreSQL, lock). Start-up is what a one-shot command
// costs (docs/architecture.md, "Start-up"), so:
//  - few files: resolving, reading and linking ~40 ESM files (and Node's ESM loader for each) costs more than
//    running a command.
//  - two, not one: every start reads the first file and V8 loads its code cache, so what a one-shot command never
//    runs is not in it (one file was 394 KB, with its cache 250 KB; now 231 KB and 224 KB).
//    The second file loads on the first `await import()` of one of its entry modules (EXTRAS below).
//  - each module in exactly one file: the extras file takes what it shares with the first (errors' classes,
//    stores, config…) from it, through a registry the first file hands over when it loads the second, so there is
//    one UsageError class and one module state, whichever file a caller is in.
//  - CommonJS, not ESM: a require()d file skips the ESM loader's resolve/link/evaluate steps.
//  - sqlite3's JavaScript is bundled too, and its native addon is loaded by path: the package's own loader (the
//    `bindings` module) probes a dozen candidate paths, each failed probe a thrown MODULE_NOT_FOUND, ~20 ms.
//  - a V8 code cache of the first file, recorded by running one command (a `get` answered by memcached), saves
//    parsing the file and compiling what a command runs; bin/tbase hands it to V8.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

/**
 * sqlite3's lib/sqlite3-binding.js, replaced: the addon from build/Release, first where it was at build time (the
 * path from dist/bundle, loaded with process.dlopen: require() would resolve it, realpath it and look for a
 * package.json above the bundle first, ~0.5 ms), then wherever the installed package is, else the package's own
 * lookup (whose errors are the ones reported).
 */
const addonFromBundle = relative('dist/bundle', 'node_modules/sqlite3/build/Release/node_sqlite3.node');
const sqliteBinding = {
  name: 'sqlite3-binding',
  setup(b) {
    b.onResolve({ filter: /[\\/]sqlite3-binding\.js$/ }, (args) => ({ path: args.path, namespace: 'sqlite3-binding' }));
    b.onLoad({ filter: /.*/, namespace: 'sqlite3-binding' }, () => ({
      loader: 'js',
      contents: `
        const { dirname, join } = require('node:path');
        try {
          const addon = { exports: {} };
          process.dlopen(addon, join(__dirname, ${JSON.stringify(addonFromBundle)}));
          module.exports = addon.exports;
        } catch {
          const root = dirname(require.resolve('sqlite3/package.json'));
          try {
            module.exports = require(join(root, 'build', 'Release', 'node_sqlite3.node'));
          } catch (error) {
            if (error.code !== 'MODULE_NOT_FOUND') throw error;
            module.exports = require(join(root, 'lib', 'sqlite3-binding.js')); // built somewhere else: let bindings find it
          }
        }`,
    }));
  },
};

/**
 * memjs's `require('net')`, replaced by src/store/memjs-net.ts: a one-shot command connects with a socket made on
 * Node's TCP handle and never loads node:net (src/store/lean-socket.ts). Only memjs's: everything else keeps node:net.
 */
const memjsNet = {
  name: 'memjs-net',
  setup(b) {
    b.onResolve({ filter: /^(node:)?net$/ }, (args) =>
      /[\\/]node_modules[\\/]memjs[\\/]/.test(args.importer) ? { path: join(root, 'src', 'store', 'memjs-net.ts') } : undefined,
    );
  },
};

rmSync('dist/bundle', { recursive: true, force: true });

/** The modules behind `await import()` that make the extras file, by the name the first file asks for them. */
const EXTRAS = {
  serve: 'src/serve/server.ts',
  repl: 'src/repl/loop.ts',
  batch: 'src/batch.ts',
  completion: 'src/completion/run.ts',
  postgres: 'src/store/postgres.ts',
  runLocked: 'src/lock/run-locked.ts',
};
/** Where the first file puts its registry for the extras file (a global: the two files share nothing else). */
const REGISTRY = "globalThis[Symbol.for('tbase.core')]";
const root = process.cwd();

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // Resolved at run time from the installed package (the addon lives beside it).
  // Resolved at run time too: pg loads only for a postgres:// database (store/open.ts), so it is not parsed at
  // every start; pg-native is an optional peer it tries, never installed (it corrupts bytea parameters).
  external: ['sqlite3/package.json', 'pg', 'pg-native', 'pg-connection-string', 'pgpass'],
  // The sources are ESM; in CommonJS import.meta.url is this file's URL, worked out when first asked for (a
  // one-shot command never asks, and pathToFileURL at every start cost ~0.4 ms).
  define: { 'import.meta.url': '__tbase_meta.url' },
  banner: { js: "const __tbase_meta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };" },
  logLevel: 'warning',
  // Whitespace and syntax only: identifiers keep their names, so stack traces stay readable. The files are ~40%
  // smaller, which V8 reads and checks against the code cache at every start.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
};

/**
 * The first file: src/index.ts and all it imports, except EXTRAS, each of which becomes a stub that loads the extras
 * file (once) and takes the module from it. `registry` lists the modules of this file the extras file imports: the
 * stub hands them over as functions that initialise and return each one.
 */
function coreBuild(registry, write) {
  const stubs = {
    name: 'extras-stubs',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.pluginData === 'resolving') return undefined;
        const found = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'resolving' });
        const name = Object.keys(EXTRAS).find((key) => join(root, EXTRAS[key]) === found.path);
        return name ? { path: name, namespace: 'extras' } : found;
      });
      b.onResolve({ filter: /^tbase:load-extras$/ }, () => ({ path: 'load-extras', namespace: 'load-extras' }));
      b.onLoad({ filter: /.*/, namespace: 'extras' }, (args) => ({
        loader: 'js',
        contents: `module.exports = require('tbase:load-extras')()[${JSON.stringify(args.path)}]();`,
      }));
      b.onLoad({ filter: /.*/, namespace: 'load-extras' }, () => ({
        loader: 'js',
        resolveDir: root,
        contents: `
          const modules = {${registry.map((path) => `\n${JSON.stringify(path)}: () => require(${JSON.stringify(`./${path}`)}),`).join('')}
          };
          let extras;
          module.exports = () => {
            if (!extras) {
              ${REGISTRY} = (path) => modules[path]();
              // Compiled with its code cache by bin/tbase's runCompiled; plainly required when bin/tbase was
              // read as ESM (no runCompiled).
              const { join } = require('node:path');
              const runCompiled = require.main?.exports?.runCompiled;
              extras = runCompiled ? runCompiled(join(__dirname, 'tbase-extras.fn.js')) : require(join(__dirname, 'tbase-extras.cjs'));
            }
            return extras;
          };`,
      }));
    },
  };
  return build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/bundle/tbase.cjs', plugins: [stubs, sqliteBinding, memjsNet], metafile: true, write });
}

/** The extras file: EXTRAS and what they import, except the modules the first file has (`core`), taken from it. */
async function extrasBuild(core) {
  const used = new Set();
  const fromCore = {
    name: 'from-core',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.pluginData === 'resolving' || args.namespace !== 'file') return undefined;
        const found = await b.resolve(args.path, { resolveDir: args.resolveDir, kind: args.kind, pluginData: 'resolving' });
        const path = found.external ? null : relative(root, found.path);
        if (!path || !core.has(path)) return found;
        used.add(path);
        return { path, namespace: 'core' };
      });
      b.onLoad({ filter: /.*/, namespace: 'core' }, (args) => ({ loader: 'js', contents: `module.exports = ${REGISTRY}(${JSON.stringify(args.path)});` }));
      b.onResolve({ filter: /^tbase:extras$/ }, () => ({ path: 'extras', namespace: 'extras-entry' }));
      b.onLoad({ filter: /.*/, namespace: 'extras-entry' }, () => ({
        loader: 'js',
        resolveDir: root,
        // Each entry behind a function: loading the file initialises none of them (the PostgreSQL driver and
        // Inquirer load only for what asks for them).
        contents: Object.entries(EXTRAS)
          .map(([name, path]) => `export const ${name} = () => require(${JSON.stringify(`./${path}`)});`)
          .join('\n'),
      }));
    },
  };
  await build({ ...common, entryPoints: ['tbase:extras'], outfile: 'dist/bundle/tbase-extras.cjs', plugins: [fromCore, sqliteBinding, memjsNet] });
  return [...used].sort();
}

// The first file's modules decide what the extras file takes from it; then the first file is built with the
// registry of those (which adds no module to it).
const first = await coreBuild([], false);
const core = new Set(Object.keys(first.metafile.inputs).filter((path) => !path.includes(':')));
const registry = await extrasBuild(core);
await coreBuild(registry, true);

// Each file also as the function CommonJS wraps a module in, which bin/tbase compiles (runCompiled): written once
// here, so that bin/tbase does not join the source into that wrapper at every start (a copy that cost a cache-hot
// `get` one of its two young-generation collections). The .cjs files stay as they are, for bin/tbase read as ESM
// (it import()s tbase.cjs, which then require()s tbase-extras.cjs).
for (const name of ['tbase', 'tbase-extras']) {
  writeFileSync(`dist/bundle/${name}.fn.js`, Module.wrap(readFileSync(`dist/bundle/${name}.cjs`, 'utf8')));
}

// Record the code caches. The first file's: a set, a get that fills the cache, then a recorded get that hits it,
// so the code of the common path (memcached's answer included) is compiled into the cache. The extras file's: a
// batch. memcached is started for this when it is installed; without it,
// port 1 refuses at once and the client's connect/failure path is recorded instead (the notice that run prints is
// expected).
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
  const batch = join(scratch, 'batch.txt');
  writeFileSync(batch, 'set a 1\nget a\nget k\nincr n\nlist\ndelete a\n');
  for (const [file, args] of [
    ['tbase.fn.js', ['get', 'k']],
    ['tbase-extras.fn.js', ['--json', 'batch', batch]],
  ]) {
    const recorded = run(args, { TBASE_RECORD_CODE_CACHE: file });
    if (recorded.status !== 0 || !existsSync(`dist/bundle/${file}.cache`)) {
      console.warn(`bundle: no code cache recorded for ${file} (exit ${recorded.status}): ${recorded.stderr}`);
    }
  }
} finally {
  await memcached?.stop();
  rmSync(scratch, { recursive: true, force: true });
}
