/**
 * One-shot start-up must not pay for Inquirer: nothing reachable from the entry point through static imports
 * may import it; only the REPL, loaded with a dynamic import(), does.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function reachable(entry: string): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (modules.has(file)) return;
    modules.add(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^\s*(import|export)(\s+type)?\s[^;]*?from\s+'([^']+)'/gms)) {
      if (match[2]) continue; // type-only imports vanish at compile time
      const specifier = match[3]!;
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return { modules, packages };
}

test('the one-shot path imports no Inquirer package; the REPL loop does, and is loaded dynamically', () => {
  const { modules, packages } = reachable(resolve(SRC, 'index.ts'));
  expect([...packages].filter((p) => p.startsWith('@inquirer'))).toEqual([]);
  expect([...modules].filter((m) => m.startsWith(resolve(SRC, 'repl')))).toEqual([]); // not any path with "repl" in it (a checkout named so)
  expect(readFileSync(resolve(SRC, 'cli.ts'), 'utf8')).toMatch(/await import\('\.\/repl\/loop\.js'\)/);
  // The stores load when a command opens one (store/open.ts), SQLite's or PostgreSQL's, never both.
  expect(packages.has('sqlite3') || packages.has('pg')).toBe(false);
  const opener = readFileSync(resolve(SRC, 'store/open.ts'), 'utf8');
  expect(opener).toMatch(/await import\('\.\/sqlite\.js'\)/);
  expect(opener).toMatch(/await import\('\.\/postgres\.js'\)/);
  expect(reachable(resolve(SRC, 'store/sqlite.ts')).packages.has('sqlite3')).toBe(true); // the walk sees real imports
  expect(reachable(resolve(SRC, 'store/sqlite.ts')).packages.has('pg')).toBe(false);
  // memjs (and node:net) load while SQLite opens, not at start (docs/architecture.md, "Start-up").
  expect(packages.has('memjs')).toBe(false);
  expect(readFileSync(resolve(SRC, 'context.ts'), 'utf8')).toMatch(/await import\('\.\/store\/memcache\.js'\)/);
  // commander too loads only when needed: the common one-shot line is parsed without it (src/argv.ts).
  expect(packages.has('commander')).toBe(false);
  expect(readFileSync(resolve(SRC, 'cli.ts'), 'utf8')).toMatch(/await import\('\.\/program\.js'\)/);
  expect(reachable(resolve(SRC, 'program.ts')).packages.has('commander')).toBe(true);
  // Built-ins only some commands need load with them: lock's lease runner (node:crypto, node:child_process);
  // node:os and node:module only when asked for (process.getBuiltinModule; node:module loads the ESM loader).
  for (const name of ['node:crypto', 'node:child_process', 'node:os', 'node:module']) expect(packages.has(name)).toBe(false);
  // chalk runs only when something will be coloured (src/colour.ts).
  expect(packages.has('chalk')).toBe(false);
  expect(readFileSync(resolve(SRC, 'colour.ts'), 'utf8')).toMatch(/await import\('chalk'\)/);
  expect(readFileSync(resolve(SRC, 'commands/lock.ts'), 'utf8')).toMatch(/await import\('\.\.\/lock\/run-locked\.js'\)/);
  const repl = reachable(resolve(SRC, 'repl/loop.ts')).packages;
  expect(repl.has('@inquirer/core') && repl.has('@inquirer/prompts')).toBe(true);
});

test('shell completion (`tbase __complete`, at every Tab) loads no more than one-shot start-up does', () => {
  expect(readFileSync(resolve(SRC, 'cli.ts'), 'utf8')).toMatch(/await import\('\.\/completion\/run\.js'\)/);
  const oneShot = reachable(resolve(SRC, 'index.ts'));
  const { modules, packages } = reachable(resolve(SRC, 'completion/run.ts'));
  expect([...packages].filter((p) => !oneShot.packages.has(p))).toEqual([]);
  // Not Inquirer, commander or memjs (completion never asks memcached); the store loads as for any command.
  for (const name of ['@inquirer/core', '@inquirer/prompts', 'commander', 'memjs', 'sqlite3', 'pg']) expect(packages.has(name)).toBe(false);
  expect([...modules].filter((m) => m.startsWith(resolve(SRC, 'repl')))).toEqual([]);
});
