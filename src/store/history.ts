/**
 * The change log in SQLite (the model, retention included, is changes.ts): a `changes` table written inside
 * SqliteStore's write transactions.
 */
import { Script, type SqlParam, type SqliteConnection } from './sqlite-driver.js';
import { CHANGE_TYPE_CODE, CHANGE_TYPES, trimFloor, type Change } from './changes.js';
import { bindsAlone, IN_JSON_KEYS, keysJson, partition, ROWS_OF_JSON, writeRowStatements, type JsonRowsStatement } from './sqlite-json.js';

export const HISTORY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS changes (
    revision INTEGER NOT NULL,
    key TEXT NOT NULL,
    type INTEGER NOT NULL, -- 0 put, 1 delete, 2 expire
    value BLOB,
    expires_at INTEGER,
    create_revision INTEGER,
    version INTEGER,
    PRIMARY KEY (revision, key)
  );`;

const CHANGE_COLUMNS = 'revision, key, type, value, expires_at, create_revision, version';

/**
 * Records changes inside the caller's transaction (a later row for the same revision and key replaces an earlier
 * one: an import writes every key at one revision, some twice). `copied.keys` are keys whose last change is the put
 * their row now holds: those are copied inside SQLite (INSERT … SELECT), so a bulk load never binds its values twice
 * (`copied.json`: those keys as keysJson already wrote them, when the caller has that at hand). Many rows
 * a statement, as JSON (sqlite-json.ts), added to `script` when one is given (the caller runs it, after its
 * upserts), else run now; a change with a large value is bound as itself, at once (before the copies: an
 * explicit row may be replaced by a copied one, never the other way round).
 */
export async function recordChanges(
  db: SqliteConnection,
  explicit: Change[],
  copied: { keys: string[]; json?: string[] },
  script?: Script,
): Promise<void> {
  const statements = script ?? new Script();
  const insert = `INSERT OR REPLACE INTO changes (${CHANGE_COLUMNS})`;
  const [alone, together] = partition(explicit, (change) => bindsAlone(change.value));
  for (const c of alone) {
    await db.run(`${insert} VALUES (?, ?, ?, ?, ?, ?, ?)`, [c.revision, c.key, CHANGE_TYPE_CODE[c.type], c.value, c.expiresAt, c.createRevision, c.version]);
  }
  const rowsSql = `${insert} SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, unhex(j.value ->> 3), j.value ->> 4, j.value ->> 5, j.value ->> 6 FROM ${ROWS_OF_JSON}`;
  writeRowStatements(rowsSql, together, writeChangeRow, (statement) => statements.addWritten(statement));
  for (const json of copied.json ?? keysJson(copied.keys)) {
    statements.add(`${insert} SELECT revision, key, 0, value, expires_at, create_revision, version FROM entries WHERE key ${IN_JSON_KEYS}`, { json });
  }
  if (!script) await statements.run(db);
}

/** A change as a JSON row: [revision, key, type, value as hex or null, expiresAt, createRevision, version]. */
function writeChangeRow(rows: JsonRowsStatement, c: Change): void {
  rows.beginRow();
  rows.int(c.revision);
  rows.string(c.key);
  rows.int(CHANGE_TYPE_CODE[c.type]);
  rows.hex(c.value);
  rows.int(c.expiresAt);
  rows.int(c.createRevision);
  rows.int(c.version);
  rows.endRow();
}

/** Every key in `range` (SQL over `key`, with its parameters) removed at `revision`, recorded in one statement. */
export async function recordRemovals(db: SqliteConnection, revision: number, type: 'delete' | 'expire', where: string, params: SqlParam[]): Promise<void> {
  await db.run(`INSERT INTO changes (revision, key, type) SELECT ?, key, ? FROM entries WHERE ${where}`, [revision, CHANGE_TYPE_CODE[type], ...params]);
}

/**
 * Stores the database revision a transaction ends at, and drops the changes that fell out of retention. Runs
 * with the transaction's COMMIT, in the same trip to SQLite (whole numbers only); `compacted` is the highest
 * revision dropped so far.
 */
export function commitRevision(db: SqliteConnection, revision: number, base: number, compacted: number, keep: number): void {
  const floor = trimFloor(revision, base, compacted, keep);
  if (floor !== null) {
    db.runAtCommit('DELETE FROM changes WHERE revision <= ?', [floor]);
    db.runAtCommit('UPDATE revision SET value = ?, compacted = ? WHERE id = 1', [revision, floor]);
    return;
  }
  db.runAtCommit('UPDATE revision SET value = ? WHERE id = 1', [revision]);
}

/**
 * Changes after the position (revision, key) — a revision can hold many keys (a prefix delete, an import) —
 * in order, at most `limit`, for the keys selected. `range` is the SQL condition on `key` with its parameters.
 */
export async function readChanges(
  db: SqliteConnection,
  after: { revision: number; key: string },
  range: [string, SqlParam[]],
  limit: number,
): Promise<Change[]> {
  const rows = await db.all<ChangeRow>(
    `SELECT ${CHANGE_COLUMNS} FROM changes WHERE (revision, key) > (?, ?) AND ${range[0]} ORDER BY revision, key LIMIT ?`,
    [after.revision, after.key, ...range[1], limit],
  );
  return rows.map(toChange);
}

interface ChangeRow {
  revision: number;
  key: string;
  type: number;
  value: Buffer | string | null;
  expires_at: number | null;
  create_revision: number | null;
  version: number | null;
}

function toChange(row: ChangeRow): Change {
  const value = row.value === null ? null : typeof row.value === 'string' ? Buffer.from(row.value) : row.value;
  return {
    revision: row.revision,
    key: row.key,
    type: CHANGE_TYPES[row.type]!,
    value,
    expiresAt: row.expires_at,
    createRevision: row.create_revision,
    version: row.version,
  };
}
