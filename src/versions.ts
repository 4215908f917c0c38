/**
 * What this tbase is built from: its own version (from package.json), and, for `--version --verbose` and `stats`,
 * the SQLite library it links and the Node it runs on.
 */
import { readFileSync } from 'node:fs';

export interface Versions {
  tbase: string;
  sqlite: string;
  node: string;
}

/** The package version, from package.json one or two folders up (dist/ from tsc, dist/bundle/ from esbuild). */
export function tbaseVersion(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'tenantbase') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

/**
 * All three. The sqlite3 module (and its native addon) is imported here rather than at start: `--version` alone
 * and every command that never opens a SQLite file must not pay for loading it.
 */
export async function versions(): Promise<Versions> {
  const { default: sqlite3 } = await import('sqlite3');
  return { tbase: tbaseVersion(), sqlite: sqlite3.VERSION, node: process.versions.node };
}
