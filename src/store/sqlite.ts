/**
 * The source of truth: one SQLite file holding the entries, the database's cache namespace, the memcached pool
 * recorded for its copies (pool.ts), and the outbox of cache invalidations that have not reached memcached yet
 * (see cache-aside.ts for why it exists).
 * No printing here; every failure is a StorageError.
 */
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StorageError } from '../errors.js';
import { SqliteConnection, type SqlParam } from './sqlite-driver.js';

export interface Entry {
  key: string;
  value: Buffer;
  /** Milliseconds since the epoch; null when the key never expires. */
  expiresAt: number | null;
}

export type Write =
  | { op: 'set'; key: string; value: Buffer; expiresAt: number | null }
  | { op: 'delete'; key: string };


export interface PendingInvalidation {
  id: number;
  key: string;
}

export interface StoreStats {
  keys: number;
  expiredKeys: number;
  pendingInvalidations: number;
  dbBytes: number;
}

/**
 * 2: the pool record (meta 'pool') and epoch-scoped cache keys. A release before it would neither honour the
 * record nor invalidate the keys this one reads, so the bump makes it refuse the file instead.
 */
const SCHEMA_VERSION = 2;
/** Expired rows removed per write transaction: purging stays cheap and bounded however many have piled up. */
const PURGE_BATCH = 100;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER
  );
  CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
  -- AUTOINCREMENT: ids are never reused, so a process that deletes "its" outbox row by id can never delete a
  -- newer row that another writer added for the same key.
  CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS outbox_by_key ON outbox (key);
`;

const LIVE = '(expires_at IS NULL OR expires_at > ?)';

export class SqliteStore {
  private constructor(
    private readonly db: SqliteConnection,
    /** Random id made with the database: prefixes every cache key so databases never see each other's copies. */
    readonly namespaceId: string,
  ) {}

  get path(): string {
    return this.db.path;
  }

  static async open(path: string, busyTimeoutMs: number): Promise<SqliteStore> {
    prepareFile(path);
    const db = await SqliteConnection.open(path, busyTimeoutMs);
    try {
      return new SqliteStore(db, await initialise(db));
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  async read(key: string, now: number): Promise<Entry | undefined> {
    const row = await this.db.exclusive(() =>
      this.db.get<EntryRow>(`SELECT key, value, expires_at FROM entries WHERE key = ? AND ${LIVE}`, [key, now]),
    );
    return row && toEntry(row);
  }

  /**
   * The oldest pending invalidations, and the pool record in the same query: every cache read asks for the first,
   * so a long-running process notices a pool change (cache-aside.ts) without a round trip of its own.
   */
  async pendingInvalidations(limit: number): Promise<{ pool: string | null; pending: PendingInvalidation[] }> {
    const rows = await this.db.exclusive(() =>
      this.db.all<{ id: number | null; key: string }>(
        `SELECT NULL AS id, value AS key FROM meta WHERE name = 'pool'
         UNION ALL SELECT * FROM (SELECT id, key FROM outbox ORDER BY id LIMIT ?)`,
        [limit],
      ),
    );
    const pool = rows[0]?.id === null ? rows.shift()!.key : null;
    return { pool, pending: rows as PendingInvalidation[] };
  }

  /** The pool record's text, read now. */
  async pool(): Promise<string | null> {
    const row = await this.db.exclusive(() => this.db.get<{ value: string }>(POOL_QUERY));
    return row?.value ?? null;
  }

  /** Records `record` unless a pool is recorded already (another process won); resolves to the one recorded. */
  async recordPool(record: string): Promise<string> {
    return this.db.transaction(async () => {
      await this.db.run("INSERT OR IGNORE INTO meta (name, value) VALUES ('pool', ?)", [record]);
      return (await this.db.get<{ value: string }>(POOL_QUERY))!.value;
    });
  }

  /**
   * Replaces the pool record in one write transaction: `next` gets the text recorded so far (null: none) and
   * returns the new text, or null to leave it as it is. Every write transaction reads the record (applyChunk), so
   * no write can commit on the old pool after this has.
   */
  async changePool(next: (current: string | null) => string | null): Promise<{ before: string | null; after: string | null }> {
    return this.db.transaction(async () => {
      const before = (await this.db.get<{ value: string }>(POOL_QUERY))?.value ?? null;
      const after = next(before);
      if (after === null) return { before, after: before };
      await this.db.run("INSERT INTO meta (name, value) VALUES ('pool', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [after]);
      return { before, after };
    });
  }

  /** Forget invalidations that memcached has acknowledged. */
  async clearInvalidations(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction(() =>
      this.db.run(`DELETE FROM outbox WHERE id IN (${ids.map(() => '?').join(',')})`, ids),
    );
  }

  /**
   * One page of live entries in key order: keys starting with `prefix` and greater than `afterKey`, at most
   * `limit`. Callers page on with the last key they saw, so a listing of any size holds one page in memory.
   * `done` says the range is exhausted. Keys sharing a prefix are contiguous in SQLite's byte order, so the
   * first key past the prefix ends the range without scanning the rest of the table. Without `withValues` the
   * entries carry empty values and SQLite never reads the value column (key listings, Tab completion).
   */
  async scan(
    prefix: string,
    afterKey: string,
    limit: number,
    now: number,
    withValues = true,
  ): Promise<{ entries: Entry[]; done: boolean }> {
    // ONE lower bound, so SQLite seeks the key index to it: with two (`key >= prefix AND key > afterKey`) it seeks
    // to the first and filters by the second, re-reading every earlier row on every page (quadratic: a 1M-key list
    // took minutes). A later page's bound is the last key seen, which starts with the prefix, so it is >= prefix.
    const [bound, from] = afterKey === '' ? ['>=', prefix] : ['>', afterKey];
    const rows = await this.db.exclusive(() =>
      this.db.all<EntryRow>(
        `SELECT key, ${withValues ? 'value' : "x'' AS value"}, expires_at FROM entries
         WHERE key ${bound} ? AND ${LIVE}
         ORDER BY key LIMIT ?`,
        [from, now, limit],
      ),
    );
    const entries: Entry[] = [];
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) return { entries, done: true };
      entries.push(toEntry(row));
    }
    return { entries, done: rows.length < limit };
  }

  async stats(now: number): Promise<StoreStats> {
    return this.db.exclusive(async () => {
      const counts = await this.db.get<{ live: number; expired: number; pending: number }>(
        `SELECT
           (SELECT count(*) FROM entries WHERE ${LIVE}) AS live,
           (SELECT count(*) FROM entries WHERE NOT ${LIVE}) AS expired,
           (SELECT count(*) FROM outbox) AS pending`,
        [now, now],
      );
      const size = await this.db.get<{ bytes: number }>(
        'SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()',
      );
      return {
        keys: counts?.live ?? 0,
        expiredKeys: counts?.expired ?? 0,
        pendingInvalidations: counts?.pending ?? 0,
        dbBytes: size?.bytes ?? 0,
      };
    });
  }

  /**
   * Applies the writes in one transaction, in order, with multi-row statements. Every key that had a row (live
   * or expired) before the transaction, or still has an invalidation pending, gets one outbox row in the same
   * transaction, so the invalidation it owes survives a crash or a memcached outage. A key with no row at all
   * cannot have a live cached copy (every copy was of a row, and removing that row owed an invalidation, done or
   * still pending), so a fresh insert owes nothing. Rows the transaction writes and overwrites itself were never
   * visible to anyone, so one outbox row per key is enough. Expired rows are purged, a bounded number at a time.
   */
  applyWrites(writes: Write[], now: number): Promise<WriteOutcome> {
    return this.db.transaction(async () => {
      const outcome = await this.applyChunk(writes, now);
      await this.purgeExpired(now);
      return outcome;
    });
  }

  /**
   * Applies every chunk of an async source in ONE transaction (import): all or nothing. If the source throws
   * (a malformed file), everything is rolled back. Chunks are applied as they arrive, so memory holds one chunk.
   */
  applyWriteStream(chunks: AsyncIterable<Write[]>, now: number): Promise<StreamOutcome> {
    return this.db.transaction(async () => {
      const total: StreamOutcome = { writes: 0, existed: 0, owed: [], pool: null };
      for await (const writes of chunks) {
        const { existed, owed, pool } = await this.applyChunk(writes, now);
        total.pool = pool;
        total.writes += writes.length;
        total.existed += existed.filter(Boolean).length;
        for (const item of owed) total.owed.push(item);
      }
      await this.purgeExpired(now);
      return total;
    });
  }

  /** Live entries for many keys (absent keys are simply missing from the map). */
  readMany(keys: string[], now: number): Promise<Map<string, Entry>> {
    return this.db.exclusive(async () => {
      const found = new Map<string, Entry>();
      for (const part of slices([...new Set(keys)], IN_LIST_MAX)) {
        const rows = await this.bulk('all', `SELECT key, value, expires_at FROM entries WHERE key IN (${marks(part.length)}) AND ${LIVE}`, part.length, IN_LIST_MAX, [...part, now]);
        for (const row of rows as EntryRow[]) found.set(row.key, toEntry(row));
      }
      return found;
    });
  }

  /** How many live keys start with `prefix` (for progress bars). */
  async countLive(prefix: string, now: number): Promise<number> {
    const row = await this.db.exclusive(() =>
      this.db.get<{ n: number }>(
        `SELECT count(*) AS n FROM entries WHERE key >= ? AND substr(key, 1, ?) = ? AND ${LIVE}`,
        [prefix, prefix.length, prefix, now],
      ),
    );
    return row?.n ?? 0;
  }

  private async applyChunk(writes: Write[], now: number): Promise<WriteOutcome> {
    // One record per key, in order of first appearance. (One map, not a set and three maps: a batch group holds a
    // thousand keys, and hash tables that size are most of what a group allocates — README, "Memory".)
    const byKey = new Map<string, KeyState>();
    for (const write of writes) {
      if (!byKey.has(write.key)) byKey.set(write.key, { hadRow: false, live: false, pending: false, last: write });
    }
    const keys = Array.from(byKey.keys());
    // The outbox is almost always empty (rows live only until memcached acknowledges), and it cannot change while
    // this transaction holds the write lock: when it is empty, no key of the chunk has an invalidation pending.
    // The pool record comes along: the invalidations must go to the pool that holds copies at commit (cache-aside.ts).
    const state = await this.db.get<{ any: number; pool: string | null }>(
      `SELECT EXISTS (SELECT 1 FROM outbox) AS any, (${POOL_QUERY}) AS pool`,
    );
    const outboxEmpty = state?.any === 0;
    for (const part of slices(keys, IN_LIST_MAX)) {
      const rows = await this.bulk('all', `SELECT key, ${LIVE} AS live FROM entries WHERE key IN (${marks(part.length)})`, part.length, IN_LIST_MAX, [now, ...part]);
      for (const row of rows as { key: string; live: number }[]) {
        const state = byKey.get(row.key)!;
        state.hadRow = true;
        state.live = row.live === 1;
      }
      if (outboxEmpty) continue;
      const queued = await this.bulk('all', `SELECT DISTINCT key FROM outbox WHERE key IN (${marks(part.length)})`, part.length, IN_LIST_MAX, part);
      for (const row of queued as { key: string }[]) byKey.get(row.key)!.pending = true;
    }
    // Replay the writes in order in memory: what each saw, and the one row each key ends with.
    const existed: boolean[] = [];
    for (const write of writes) {
      const state = byKey.get(write.key)!;
      existed.push(state.live);
      state.live = write.op === 'set' && (write.expiresAt === null || write.expiresAt > now);
      state.last = write;
    }
    // Rows without an expiry (the common case) go in statements of their own with NULL written into the SQL:
    // binding a parameter costs more than anything else SQLite does for a row here, and this saves a third of them.
    // Keys are unique among the final writes, so the groups may go in any order.
    const lasting: SetWrite[] = [];
    const expiring: SetWrite[] = [];
    const deletes: string[] = [];
    const owedKeys: string[] = [];
    byKey.forEach((state, key) => {
      const { last } = state;
      if (last.op === 'delete') deletes.push(key);
      else if (last.expiresAt === null) lasting.push(last);
      else expiring.push(last);
      if (state.hadRow || state.pending) owedKeys.push(key);
    });
    for (const [rows, row, perRow] of [
      [lasting, '(?, ?, NULL)', 2],
      [expiring, '(?, ?, ?)', 3],
    ] as const) {
      for (const part of slices(rows, UPSERT_ROWS_MAX)) {
        const params: SqlParam[] = [];
        for (const write of part) {
          params.push(write.key, write.value);
          if (perRow === 3) params.push(write.expiresAt);
        }
        await this.bulk(
          'run',
          `INSERT INTO entries (key, value, expires_at) VALUES ${new Array<string>(part.length).fill(row).join(', ')}
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
          part.length,
          UPSERT_ROWS_MAX,
          params,
        );
      }
    }
    for (const part of slices(deletes, IN_LIST_MAX)) {
      await this.db.run(`DELETE FROM entries WHERE key IN (${marks(part.length)})`, part);
    }
    const owed: PendingInvalidation[] = [];
    for (const part of slices(owedKeys, IN_LIST_MAX)) {
      const { lastID } = await this.db.run(`INSERT INTO outbox (key) VALUES ${part.map(() => '(?)').join(', ')}`, part);
      // One statement under the write lock: AUTOINCREMENT ids of its rows are consecutive, ending at lastID.
      part.forEach((key, i) => owed.push({ id: lastID - part.length + 1 + i, key }));
    }
    return { existed, owed, pool: state?.pool ?? null };
  }

  /**
   * A bulk statement: full-size slices (the same SQL text over and over in a big write) go through a statement
   * prepared once per connection; the odd-sized last slice is prepared, run and dropped as usual.
   */
  private bulk(kind: 'run' | 'all', sql: string, size: number, fullSize: number, params: SqlParam[]): Promise<unknown> {
    if (size === fullSize) return kind === 'run' ? this.db.runPrepared(sql, params) : this.db.allPrepared(sql, params);
    return kind === 'run' ? this.db.run(sql, params) : this.db.all(sql, params);
  }

  private async purgeExpired(now: number): Promise<void> {
    await this.db.run(
      `DELETE FROM entries WHERE rowid IN
         (SELECT rowid FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ${PURGE_BATCH})`,
      [now],
    );
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

type SetWrite = Extract<Write, { op: 'set' }>;

/** What applyChunk knows of one key of its chunk. */
interface KeyState {
  /** A row (live or expired) was there before the chunk: its cached copy, if any, must go. */
  hadRow: boolean;
  /** Live now, as the writes are replayed in order (before the first: live before the chunk). */
  live: boolean;
  /** An invalidation of the key is still in the outbox (COHERENCE.md, "Fresh inserts"). */
  pending: boolean;
  /** The key's last write in the chunk: the row it ends with. */
  last: Write;
}

export interface WriteOutcome {
  /** Per write, in order: whether a live row was there just before it. */
  existed: boolean[];
  /** Invalidations the cache is owed after commit (one per key). */
  owed: PendingInvalidation[];
  /** The pool record's text as the write transaction saw it. */
  pool: string | null;
}

export interface StreamOutcome {
  writes: number;
  /** Writes that found a live row (overwrites and deletes of present keys). */
  existed: number;
  owed: PendingInvalidation[];
  /** The pool record's text as the transaction saw it (null also for an import of nothing). */
  pool: string | null;
}

/** Bound parameters per statement stay under SQLite's historical limit of 999 on every build. */
const IN_LIST_MAX = 900;
const UPSERT_ROWS_MAX = 300;

function marks(n: number): string {
  return new Array<string>(n).fill('?').join(',');
}

function slices<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

interface EntryRow {
  key: string;
  value: Buffer | string;
  expires_at: number | null;
}

function toEntry(row: EntryRow): Entry {
  const value = typeof row.value === 'string' ? Buffer.from(row.value) : row.value;
  return { key: row.key, value, expiresAt: row.expires_at };
}

/**
 * Creates the parent folder and an empty database file, both owner-only, before SQLite sees the path: SQLite
 * would create the file with the umask's permissions, and its -wal and -shm files copy the database's mode.
 */
function prepareFile(path: string): void {
  const existing = statOrUndefined(path);
  if (existing?.isDirectory()) throw new StorageError(`cannot open database ${JSON.stringify(path)}: it is a directory`);
  if (existing) return;
  try {
    makeFolders(dirname(path));
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return; // another process created it first
    const why: Record<string, string> = {
      EACCES: 'permission denied',
      EPERM: 'permission denied',
      ENOTDIR: 'a parent of it is not a folder',
      EROFS: 'the file system is read-only',
      ENOSPC: 'the disk is full',
    };
    throw new StorageError(
      `cannot create database ${JSON.stringify(path)}: ${why[code ?? ''] ?? (error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * mkdir -p, owner-only, one level at a time: a recursive mkdirSync reports ENOENT for every failure, hiding the
 * real reason (read-only file system, permission denied).
 */
function makeFolders(folder: string): void {
  if (statOrUndefined(folder)) return;
  makeFolders(dirname(folder));
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ENOTDIR') throw new StorageError(`cannot open database ${JSON.stringify(path)}: a parent of it is not a folder`);
    throw new StorageError(`cannot open database ${JSON.stringify(path)}: ${(error as Error).message}`, { cause: error });
  }
}

/** A random namespace id; node:crypto loads only here (new databases), not on every start (README, "Start-up"). */
function newNamespaceId(): string {
  return (createRequire(import.meta.url)('node:crypto') as typeof Crypto).randomBytes(12).toString('hex');
}

/**
 * Creates the schema on first use (once, even with several processes racing), brings an older file up to this
 * schema, and returns the namespace id. (The pool record is read by the first cache read or write, in a query it
 * makes anyway.)
 */
async function initialise(db: SqliteConnection): Promise<string> {
  // An existing database, the common case, costs one round trip to SQLite's thread: the version, the namespace id and
  // this connection's synchronous=FULL go together. The meta read fails on a new file (no meta table yet); it is
  // simply read again below.
  const [version, , known] = await Promise.all([
    db.get<{ user_version: number }>('PRAGMA user_version'),
    db.exec('PRAGMA synchronous = FULL'),
    db.get<{ value: string }>(NAMESPACE_QUERY).catch(() => undefined),
  ]);
  const found = version?.user_version ?? 0;
  if (found > SCHEMA_VERSION) {
    throw new StorageError(`database ${JSON.stringify(db.path)} was made by a newer tbase (schema ${found})`);
  }
  if (found === SCHEMA_VERSION && known) return known.value;
  // WAL lets readers run beside a writer; it is a property of the file and must be set outside a transaction.
  if (found === 0) await db.exec('PRAGMA journal_mode = WAL');
  await db.transaction(async () => {
    const again = (await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version ?? 0;
    if (again === SCHEMA_VERSION) return; // another process got here first
    if (again === 0) {
      await db.exec(SCHEMA);
      await db.run("INSERT INTO meta (name, value) VALUES ('namespace_id', ?)", [newNamespaceId()]);
    }
    // 1 → 2 changes no table: the pool is recorded by the first process that uses memcached on the file.
    await db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
  const meta = await db.get<{ value: string }>(NAMESPACE_QUERY);
  if (!meta) throw new StorageError(`${JSON.stringify(db.path)} is not a tbase database (no namespace id)`);
  return meta.value;
}

const NAMESPACE_QUERY = "SELECT value FROM meta WHERE name = 'namespace_id'";
const POOL_QUERY = "SELECT value FROM meta WHERE name = 'pool'";
