// Bundles the CLI into dist/bundle/ with esbuild: one file for the one-shot path, separate chunks for the REPL,
// batch and serve (loaded by dynamic import only when used). Resolving and reading ~40 ESM files costs more
// than running a command, so bin/tbase starts from this bundle. sqlite3 stays external: it is a native addon.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist/bundle', { recursive: true, force: true }); // chunk names carry hashes: drop the old ones

await build({
  entryPoints: ['src/index.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  external: ['sqlite3'],
  // memjs and other CommonJS dependencies call require() for Node built-ins; ESM output needs one provided.
  banner: { js: "import { createRequire as __tbaseCreateRequire } from 'node:module'; const require = __tbaseCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
