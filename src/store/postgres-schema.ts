/**
 * The PostgreSQL store's tables, under one schema (default `tbase`, `?schema=` in the URL), created on first use
 * and versioned in `meta` like the SQLite file's user_version. They mirror sqlite.ts's, with two differences:
 * keys are bytea, so they compare as UTF-8 bytes (SQLite's order, whatever the database's collation) and may hold
 * any character, NUL included; and the outbox ids come from a bigserial (never reused, like AUTOINCREMENT).
 */
import { StorageError } from '../errors.js';
import { newNamespaceId } from './cache.js';
import type { PgConnection } from './postgres-connection.js';

/** 1: entries, outbox, meta (namespace id, pool record), revision, changes, locks. */
export const PG_SCHEMA_VERSION = 1;

export function schemaSql(s: string): string {
  return `
    CREATE SCHEMA IF NOT EXISTS ${s};
    CREATE TABLE IF NOT EXISTS ${s}.meta (name text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE IF NOT EXISTS ${s}.entries (
      key bytea PRIMARY KEY,
      value bytea NOT NULL,
      expires_at bigint,
      revision bigint NOT NULL,
      create_revision bigint NOT NULL,
      version bigint NOT NULL
    );
    CREATE INDEX IF NOT EXISTS entries_by_expiry ON ${s}.entries (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS ${s}.outbox (id bigserial PRIMARY KEY, key bytea NOT NULL);
    CREATE INDEX IF NOT EXISTS outbox_by_key ON ${s}.outbox (key);
    -- One row: the database revision, counted up inside every write transaction, which locks it first. So
    -- writers are serialised, revisions are gap-free and commit in order (a sequence is neither).
    CREATE TABLE IF NOT EXISTS ${s}.revision (id int PRIMARY KEY CHECK (id = 1), value bigint NOT NULL, compacted bigint NOT NULL DEFAULT 0);
    INSERT INTO ${s}.revision (id, value) VALUES (1, 0) ON CONFLICT DO NOTHING;
    CREATE TABLE IF NOT EXISTS ${s}.changes (
      revision bigint NOT NULL,
      key bytea NOT NULL,
      type smallint NOT NULL, -- 0 put, 1 delete, 2 expire
      value bytea,
      expires_at bigint,
      create_revision bigint,
      version bigint,
      PRIMARY KEY (revision, key)
    );
    CREATE TABLE IF NOT EXISTS ${s}.locks (name bytea PRIMARY KEY, owner text NOT NULL, revision bigint NOT NULL, expires_at bigint NOT NULL);`;
}

/**
 * Creates the schema on first use (once, even with several hosts racing: under a transaction-scoped advisory lock)
 * and returns the namespace id. An existing database costs one query.
 */
export async function initialiseSchema(db: PgConnection, s: string): Promise<string> {
  const known = await readMeta(db, s).catch((error: unknown) => {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === '42P01' || code === '3F000') return null; // no table / no schema yet
    throw error;
  });
  if (known) return checked(db, s, known);
  await db.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tbase schema ${s}`]);
    await client.query(schemaSql(s));
    await client.query(`INSERT INTO ${s}.meta (name, value) VALUES ('schema_version', $1), ('namespace_id', $2) ON CONFLICT DO NOTHING`, [
      String(PG_SCHEMA_VERSION),
      newNamespaceId(),
    ]);
  });
  const made = await readMeta(db, s);
  if (!made) throw new StorageError(`${db.shown}: schema ${s} is not a tbase schema (no namespace id)`);
  return checked(db, s, made);
}

/**
 * The namespace id of a schema that exists and this release can read; never creates or changes anything (shell
 * completion reads keys this way). Fails when the schema is missing or made by a newer tbase.
 */
export async function existingNamespace(db: PgConnection, s: string): Promise<string> {
  const known = await readMeta(db, s);
  if (!known) throw new StorageError(`${db.shown}: schema ${s} is not a tbase schema (no namespace id)`);
  return checked(db, s, known);
}

async function readMeta(db: PgConnection, s: string): Promise<{ version: number; namespaceId: string } | null> {
  const rows = await db.query<{ name: string; value: string }>(`SELECT name, value FROM ${s}.meta WHERE name IN ('schema_version', 'namespace_id')`);
  const meta = new Map(rows.map((row) => [row.name, row.value]));
  const namespaceId = meta.get('namespace_id');
  return namespaceId ? { version: Number(meta.get('schema_version') ?? 0), namespaceId } : null;
}

function checked(db: PgConnection, s: string, meta: { version: number; namespaceId: string }): string {
  if (meta.version > PG_SCHEMA_VERSION) throw new StorageError(`${db.shown}: schema ${s} was made by a newer tbase (version ${meta.version})`);
  return meta.namespaceId;
}
