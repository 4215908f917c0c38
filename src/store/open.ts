/**
 * Opens the store the configuration names. The PostgreSQL store (and the `pg` driver) load only when a
 * postgres:// URL is given, so the SQLite path starts as fast as it did before there were two.
 */
import type { Config } from '../config.js';
import type { Store } from './store.js';

export async function openStore(config: Config): Promise<Store> {
  const options = { historyRevisions: config.historyRevisions };
  if (config.db.kind === 'postgres') {
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.open(config.db.url, config.db.schema, { ...options, connectTimeoutMs: config.busyTimeoutMs });
  }
  const { SqliteStore } = await import('./sqlite.js');
  return SqliteStore.open(config.db.path, config.busyTimeoutMs, options);
}

/**
 * The store of a database that exists already, opened for reading without creating, migrating or writing
 * anything (shell completion). Fails (StorageError) when there is none; `timeoutMs` bounds the wait for a lock
 * or a connection.
 */
export async function openExistingStore(config: Pick<Config, 'db'>, timeoutMs: number): Promise<Store> {
  if (config.db.kind === 'postgres') {
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.openExisting(config.db.url, config.db.schema, { connectTimeoutMs: timeoutMs });
  }
  const { SqliteStore } = await import('./sqlite.js');
  return SqliteStore.openExisting(config.db.path, timeoutMs);
}
