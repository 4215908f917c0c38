/**
 * The source of truth: one SQLite file holding the entries, the database's cache namespace, the memcached pool
 * recorded for its copies (pool.ts), and the outbox of cache invalidations that have not reached memcached yet
 * (see cache-aside.ts for why it exists).
 * No printing here; every failure is a StorageError.
 */
import { closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { StorageError } from '../errors.js';
import { newNamespaceId } from './cache.js';
import { decodePoolRecord, encodePoolRecord } from './pool.js';
import { DeliveredInvalidations } from './delivered.js';
import { literalSql, Script, SqliteConnection, type SqlParam } from './sqlite-driver.js';
import { isLive, needsValues, type Entry, type Write } from './writes.js';
import { commitRevision, HISTORY_SCHEMA, readChanges, recordChanges, recordRemovals } from './history.js';
import { HISTORY_REVISIONS, removalChange, type KeySelector } from './changes.js';
import { SqliteNotifier } from './notifier.js';
import { LOCKS_SCHEMA, releaseLease, renewLease, takeLease, type Acquired, type Lease } from './locks.js';
import { bindsAlone, ENTRY_ROWS_JSON, IN_JSON_KEYS, jsonArrays, keysJson, partition, writeEntryRow, writeRowStatements } from './sqlite-json.js';
import { applyImport, keyStates, planChunk, type KeyState } from './write-plan.js';
import type { ChangePage, CommitOptions, PendingInvalidation, PrefixDeleteOutcome, Store, StoreStats, StreamOutcome, WriteOutcome } from './store.js';

/**
 * 2: the pool record (meta 'pool') and epoch-scoped cache keys. A release before it would neither honour the
 * record nor invalidate the keys this one reads, so the bump makes it refuse the file instead.
 * 3: revisions (the `revision` table, and per entry revision, create_revision, version); cached copies carry
 * them in a new format, and the migration moves the pool to its next epoch so no copy of the old format is read.
 * 4: the change log (history.ts) and its `compacted` mark, and the lock table (locks.ts).
 */
const SCHEMA_VERSION = 4;
/** Expired rows removed per write transaction: purging stays cheap and bounded however many have piled up. */
const PURGE_BATCH = 100;

/** One row: the database revision, counted up inside every write transaction (so gap-free, in commit order). */
const REVISION_TABLE = `
  CREATE TABLE IF NOT EXISTS revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL, compacted INTEGER NOT NULL DEFAULT 0);
  INSERT OR IGNORE INTO revision (id, value) VALUES (1, 0);`;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER,
    revision INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
  -- AUTOINCREMENT: ids are never reused, so a process that deletes "its" outbox row by id can never delete a
  -- newer row that another writer added for the same key.
  CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS outbox_by_key ON outbox (key);
  ${REVISION_TABLE}
  ${HISTORY_SCHEMA}
  ${LOCKS_SCHEMA}
`;

const LIVE = '(expires_at IS NULL OR expires_at > ?)';
const ENTRY_COLUMNS = 'key, value, expires_at, revision, create_revision, version';
const REVISION_QUERY = 'SELECT value FROM revision WHERE id = 1';
const REVISION_STATE = 'SELECT value AS revision, compacted FROM revision WHERE id = 1';
/**
 * What a write transaction needs to know before it writes, read in ONE query right after BEGIN: the revision it
 * starts from, whether any invalidation is pending, the pool record, and the earliest expiry (so the purge of
 * expired rows is asked for only when one is due).
 */
const STATE_COLUMNS = `value AS revision, compacted, EXISTS (SELECT 1 FROM outbox) AS outbox,
  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0) AS outboxSeq,
  (SELECT value FROM meta WHERE name = 'pool') AS pool,
  (SELECT min(expires_at) FROM entries WHERE expires_at IS NOT NULL) AS nextExpiry`;
const TRANSACTION_STATE = `SELECT ${STATE_COLUMNS} FROM revision WHERE id = 1`;
/**
 * The same, plus what a chunk of writes reads of its own keys (?1, a JSON array): their rows, without values, and
 * which of them still have an invalidation pending (only looked for when the outbox holds anything), each as a JSON
 * array. Each trip to SQLite's thread is a few hundred microseconds of hand-over under load, so a write round
 * reads all this in one trip instead of three (docs/architecture.md, "SQLite").
 */
const TRANSACTION_STATE_WITH_KEYS = `SELECT ${STATE_COLUMNS},
  (SELECT json_group_array(json_array(key, expires_at, revision, create_revision, version)) FROM entries
     WHERE key IN (SELECT value FROM json_each(?1))) AS keyRows,
  CASE WHEN EXISTS (SELECT 1 FROM outbox) THEN
    (SELECT json_group_array(DISTINCT key) FROM outbox WHERE key IN (SELECT value FROM json_each(?1))) END AS queuedKeys
  FROM revision WHERE id = 1`;

/** What TRANSACTION_STATE_WITH_KEYS read of a chunk's keys. */
interface KeysRead {
  /** [key, expires_at, revision, create_revision, version] of each key that has a row. */
  rows: [string, number | null, number, number, number][];
  /** Keys with an invalidation still in the outbox. */
  queued: string[];
}

/** The state of a write transaction, kept up to date by the writes it makes. */
interface TransactionState {
  revision: number;
  compacted: number;
  /** Whether the outbox may hold rows (false: certainly empty, so no key has an invalidation pending). */
  outbox: boolean;
  /** The highest outbox id ever given: the next row gets the one after it (AUTOINCREMENT). */
  outboxSeq: number;
  pool: string | null;
  /** The earliest expiry of any row (null: none expires). */
  nextExpiry: number | null;
  /** The keys of the transaction's first chunk, read with the state (transaction's `keys`), until applyChunk uses them. */
  keysRead: KeysRead | null;
}

export class SqliteStore implements Store {
  /** Outbox rows memcached acknowledged, deleted with the next write transaction (delivered.ts). */
  private readonly delivered = new DeliveredInvalidations((ids) =>
    this.db.transaction(async () => undefined, { durable: false, afterBegin: deleteOutboxRows(ids) }),
  );
  /** One file on one host: every process reads the same clock. */
  readonly clockOffsetMs = 0;

  private constructor(
    private readonly db: SqliteConnection,
    /** Random id made with the database: prefixes every cache key so databases never see each other's copies. */
    readonly namespaceId: string,
    /** Revisions whose changes the change log keeps (history.ts). */
    private readonly historyRevisions: number,
  ) {}

  get path(): string {
    return this.db.path;
  }

  get location(): string {
    return this.db.path;
  }

  static async open(path: string, busyTimeoutMs: number, options: { historyRevisions?: number } = {}): Promise<SqliteStore> {
    const db = await openOrCreate(path, busyTimeoutMs);
    try {
      return new SqliteStore(db, await initialise(db), options.historyRevisions ?? HISTORY_REVISIONS);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  /**
   * The store of a database file that exists and has this schema, for reading only: no file or folder is created
   * and nothing is migrated (shell completion reads keys this way, and must leave no database behind).
   */
  static async openExisting(path: string, busyTimeoutMs: number, options: { historyRevisions?: number } = {}): Promise<SqliteStore> {
    const db = await SqliteConnection.open(path, busyTimeoutMs);
    try {
      const [version, meta] = await Promise.all([db.get<{ user_version: number }>('PRAGMA user_version'), db.get<{ value: string }>(NAMESPACE_QUERY)]);
      if (version?.user_version !== SCHEMA_VERSION || !meta) throw new StorageError(`${JSON.stringify(path)} is not a tbase database of schema ${SCHEMA_VERSION}`);
      return new SqliteStore(db, meta.value, options.historyRevisions ?? HISTORY_REVISIONS);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  async read(key: string, now: number): Promise<Entry | undefined> {
    const row = await this.db.exclusive(() =>
      this.db.get<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE key = ? AND ${LIVE}`, [key, now]),
    );
    return row && toEntry(row);
  }

  /**
   * The oldest pending invalidations, and the pool record in the same query: every cache read asks for the first,
   * so a long-running process notices a pool change (cache-aside.ts) without a round trip of its own.
   */
  async pendingInvalidations(limit: number): Promise<{ pool: string | null; pending: PendingInvalidation[] }> {
    await this.delivered.flush(); // rows this process delivered are not pending: not sent again
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

  /**
   * Forget invalidations that memcached has acknowledged: the next write transaction deletes them with its BEGIN,
   * or, if none comes within a few milliseconds, a transaction of their own without its fsync (delivered.ts).
   * Losing that commit at a power cut only brings back rows already delivered, which the next reader replays (a
   * tombstone more, never a stale copy).
   */
  async clearInvalidations(ids: number[]): Promise<void> {
    this.delivered.add(ids);
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
        `SELECT key, ${withValues ? 'value' : "x'' AS value"}, expires_at, revision, create_revision, version FROM entries
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
    await this.delivered.flush();
    return this.db.exclusive(async () => {
      const counts = await this.db.get<{ live: number; expired: number; pending: number; revision: number }>(
        `SELECT
           (${REVISION_QUERY}) AS revision,
           (SELECT count(*) FROM entries WHERE ${LIVE}) AS live,
           (SELECT count(*) FROM entries WHERE NOT ${LIVE}) AS expired,
           (SELECT count(*) FROM outbox) AS pending`,
        [now, now],
      );
      const size = await this.db.get<{ bytes: number }>(
        'SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()',
      );
      return {
        revision: counts?.revision ?? 0,
        keys: counts?.live ?? 0,
        expiredKeys: counts?.expired ?? 0,
        pendingInvalidations: counts?.pending ?? 0,
        dbBytes: size?.bytes ?? 0,
      };
    });
  }

  /**
   * Applies the writes in one transaction, in order, with multi-row statements; each write that changes
   * something takes the next database revision (writes.ts decides conditions and counters against the rows read
   * here, under the write lock). Every key that is changed and had a row (live or expired) before the
   * transaction, or still has an invalidation pending, gets one outbox row in the same transaction, so the
   * invalidation it owes survives a crash or a memcached outage. A key with no row at all cannot have a live
   * cached copy (every copy was of a row, and removing that row owed an invalidation, done or still pending), so
   * a fresh insert owes nothing. Rows the transaction writes and overwrites itself were never visible to anyone,
   * so one outbox row per key is enough. Expired rows are purged, a bounded number at a time.
   */
  applyWrites(writes: Write[], now: number, { onCommitting }: CommitOptions = {}): Promise<WriteOutcome> {
    // A chunk that needs no values, with keys that fit one JSON parameter, is read with the state (one trip).
    const chunk = chunkKeys(writes);
    const readWithState = !needsValues(writes) && chunk.parts.length === 1;
    return this.transaction(async (state) => {
      const { outcome, script } = await this.applyChunk(writes, now, null, state, chunk);
      if (!purgeDue(state, now)) {
        // Nothing else runs before COMMIT: the writes go with it, in the same trip.
        script.runAtCommit(this.db);
        return { outcome, revision: outcome.revision };
      }
      await script.run(this.db);
      return { outcome, revision: await this.purgeExpired(now, outcome.revision, state) };
    }, { keys: readWithState ? chunk.parts[0] : undefined, onCommitting });
  }

  /**
   * A write transaction that knows the database revision it starts from and stores the one it ends at (with the
   * change log's retention, history.ts); `work` returns its result and that revision. Committed changes wake
   * this process's watchers (other processes see the database change). `keys` (a JSON array of the first chunk's
   * keys) are read with the state (TRANSACTION_STATE_WITH_KEYS).
   */
  private async transaction<T>(
    work: (state: TransactionState) => Promise<{ outcome: T; revision: number }>,
    { keys, onCommitting }: { keys?: string } & CommitOptions = {},
  ): Promise<T> {
    // Outbox rows already delivered go first, with BEGIN: before the state query sees the outbox (delivered.ts).
    const delivered = this.delivered.take();
    const afterBegin = delivered.length > 0 ? deleteOutboxRows(delivered) : '';
    const outcome = await this.db.transaction(async () => {
      const state = await this.readState(keys);
      const base = state.revision;
      const { outcome, revision } = await work(state);
      if (revision !== base) commitRevision(this.db, revision, base, state.compacted, this.historyRevisions);
      return { outcome, changed: revision !== base };
    }, { afterBegin, onCommitting }).catch((error: unknown) => {
      this.delivered.giveBack(delivered);
      throw error;
    });
    if (outcome.changed) this.onCommit?.();
    return outcome.outcome;
  }

  private async readState(keys: string | undefined): Promise<TransactionState> {
    type StateRow = Omit<TransactionState, 'outbox' | 'keysRead'> & { outbox: number; keyRows?: string; queuedKeys?: string | null };
    const { revision, compacted, outbox, outboxSeq, pool, nextExpiry, keyRows, queuedKeys } =
      keys === undefined ? (await this.db.get<StateRow>(TRANSACTION_STATE))! : (await this.db.get<StateRow>(TRANSACTION_STATE_WITH_KEYS, [keys]))!;
    const keysRead =
      keys === undefined ? null : { rows: JSON.parse(keyRows!) as KeysRead['rows'], queued: queuedKeys ? (JSON.parse(queuedKeys) as string[]) : [] };
    return { revision, compacted, outbox: outbox !== 0, outboxSeq, pool, nextExpiry, keysRead };
  }

  /** Called after every transaction that changed the revision (the notifier wakes this process's watchers). */
  onCommit: (() => void) | undefined;

  private changeNotifier: SqliteNotifier | undefined;

  /** Tells this process's watchers that the database may have changed (notifier.ts); made on first use. */
  get notifier(): SqliteNotifier {
    return (this.changeNotifier ??= new SqliteNotifier(this));
  }

  /**
   * Applies every chunk of an async source in ONE transaction (import): all or nothing, and ONE revision for the
   * whole. If the source throws (a malformed file), everything is rolled back. Chunks are applied as they arrive,
   * so memory holds one chunk. `floor()`, asked once the source is read, is a revision the import must end above
   * (the exported database's): revisions never go backwards across export and import.
   */
  applyWriteStream(chunks: AsyncIterable<Write[]>, now: number, floor: () => number = () => 0): Promise<StreamOutcome> {
    return this.transaction(async (base) => {
      const total = await applyImport(
        chunks,
        base.revision,
        floor,
        async (writes, revision) => {
          // The next chunk reads what this one wrote: its statements run now.
          const { outcome, script } = await this.applyChunk(writes, now, revision, base);
          await script.run(this.db);
          return outcome;
        },
        async (from, to) => {
          for (const table of ['entries', 'changes']) {
            await this.db.run(`UPDATE ${table} SET revision = ?, create_revision = CASE WHEN create_revision = ? THEN ? ELSE create_revision END WHERE revision = ?`, [to, from, to, from]);
          }
        },
      );
      return { outcome: total, revision: await this.purgeExpired(now, total.revision, base) };
    });
  }

  /**
   * Deletes every key starting with `prefix` (every key for '') in one transaction, as one write command: one
   * revision when any live key went. Every key that had a row owes an invalidation; they are recorded in the
   * outbox by one INSERT … SELECT (consecutive ids), so a million keys never pass through this process's memory:
   * the caller delivers them page by page from the outbox (`owedPage`).
   */
  deletePrefix(prefix: string, now: number): Promise<PrefixDeleteOutcome> {
    return this.transaction(async (base) => {
      const [range, params] = keyRange(prefix);
      const state = await this.db.get<{ pool: string | null; live: number; expired: number }>(
        `SELECT (${POOL_QUERY}) AS pool, (SELECT count(*) FROM entries WHERE ${range} AND ${LIVE}) AS live,
           (SELECT count(*) FROM entries WHERE ${range} AND NOT ${LIVE}) AS expired`,
        [...params, now, ...params, now],
      );
      const count = state?.live ?? 0;
      // Expired rows not purged yet go too, as the expiries they are (a watcher of such a key sees its EXPIRE).
      const expired = state?.expired ?? 0;
      const revision = count + expired > 0 ? base.revision + 1 : base.revision;
      if (count > 0) await recordRemovals(this.db, revision, 'delete', `${range} AND ${LIVE}`, [...params, now]);
      if (expired > 0) await recordRemovals(this.db, revision, 'expire', `${range} AND NOT ${LIVE}`, [...params, now]);
      const { lastID, changes } = await this.db.run(`INSERT INTO outbox (key) SELECT key FROM entries WHERE ${range}`, params);
      await this.db.run(`DELETE FROM entries WHERE ${range}`, params);
      const owed = changes > 0 ? { firstId: lastID - changes + 1, lastId: lastID } : null;
      return { outcome: { count, revision, pool: state?.pool ?? null, owed }, revision };
    });
  }

  /**
   * Removes keys whose expiry has passed (a bounded number), recording each as an `expire` change at one new
   * revision: a watcher that follows an expiring key calls this when the expiry is due (watch.ts). Resolves to
   * how many went.
   */
  expireDue(now: number): Promise<number> {
    return this.transaction(async (base) => {
      const revision = await this.purgeExpired(now, base.revision, base);
      return { outcome: revision - base.revision, revision };
    });
  }

  /** Outbox rows with ids in [afterId + 1, lastId], oldest first, at most `limit` (a prefix delete's pages). */
  owedPage(afterId: number, lastId: number, limit: number): Promise<PendingInvalidation[]> {
    return this.db.exclusive(() =>
      this.db.all<PendingInvalidation>('SELECT id, key FROM outbox WHERE id > ? AND id <= ? ORDER BY id LIMIT ?', [afterId, lastId, limit]),
    );
  }

  /** The database revision, read now. */
  async revision(): Promise<number> {
    const row = await this.db.exclusive(() => this.db.get<{ value: number }>(REVISION_QUERY));
    return Number(row?.value ?? 0);
  }

  /**
   * Changes of the selected keys after the position (revision, key), in order, at most `limit`; with the
   * database revision and the highest revision whose changes were dropped (history.ts), read together.
   */
  changesAfter(after: { revision: number; key: string }, selector: KeySelector, limit: number): Promise<ChangePage> {
    return this.db.exclusive(async () => {
      const state = (await this.db.get<{ revision: number; compacted: number }>(REVISION_STATE))!;
      const changes = await readChanges(this.db, after, rangeOf(selector), limit);
      return { changes, revision: state.revision, compacted: state.compacted };
    });
  }

  /** The earliest expiry among the selected keys still live at `now`, or null (watch.ts wakes for it). */
  async nextExpiry(selector: KeySelector, now: number): Promise<number | null> {
    const [range, params] = rangeOf(selector);
    const row = await this.db.exclusive(() =>
      this.db.get<{ at: number | null }>(`SELECT min(expires_at) AS at FROM entries WHERE ${range} AND expires_at > ?`, [...params, now]),
    );
    return row?.at ?? null;
  }

  /**
   * SQLite's count of commits by other connections to this file: a cheap way (no disk read) to see that another
   * process wrote. This process's own commits show through onCommit instead.
   */
  async dataVersion(): Promise<number> {
    const row = await this.db.exclusive(() => this.db.get<{ data_version: number }>('PRAGMA data_version'));
    return row?.data_version ?? 0;
  }

  /** Takes the named lease when it is free (one write, at a new revision: the fencing token). */
  acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<Acquired> {
    return this.transaction(async (base) => {
      const outcome = await takeLease(this.db, name, owner, ttlMs, now, base.revision + 1);
      // A new lease takes the next revision; one the owner held already (asked again) takes none.
      return { outcome, revision: outcome.taken && outcome.lease.revision > base.revision ? outcome.lease.revision : base.revision };
    });
  }

  renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    return this.db.transaction(() => renewLease(this.db, lease, ttlMs, now));
  }

  releaseLease(lease: Lease): Promise<boolean> {
    return this.db.transaction(() => releaseLease(this.db, lease));
  }

  /** Live entries for many keys (absent keys are simply missing from the map). */
  readMany(keys: string[], now: number): Promise<Map<string, Entry>> {
    return this.db.exclusive(async () => {
      const found = new Map<string, Entry>();
      for (const part of keysJson([...new Set(keys)])) {
        const rows = await this.db.all<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE key ${IN_JSON_KEYS} AND ${LIVE}`, [part, now]);
        for (const row of rows) found.set(row.key, toEntry(row));
      }
      return found;
    });
  }

  /** How many live keys start with `prefix` (progress bars, and the REPL's confirmation of a prefix delete). */
  async countLive(prefix: string, now: number): Promise<number> {
    const [range, params] = keyRange(prefix);
    const row = await this.db.exclusive(() =>
      this.db.get<{ n: number }>(`SELECT count(*) AS n FROM entries WHERE ${range} AND ${LIVE}`, [...params, now]),
    );
    return row?.n ?? 0;
  }

  /**
   * One chunk of writes, inside the caller's transaction. `shared` is the one revision every change takes (an
   * import), or null: each change takes the next one.
   */
  private async applyChunk(
    writes: Write[],
    now: number,
    shared: number | null,
    state: TransactionState,
    { byKey, parts }: ChunkKeys = chunkKeys(writes),
  ): Promise<{ outcome: WriteOutcome; script: Script }> {
    // The outbox is almost always empty (rows live only until memcached acknowledges), and only this transaction
    // can change it while it holds the write lock: when it is empty, no key of the chunk has an invalidation
    // pending. The pool record comes along: the invalidations must go to the pool that holds copies at commit
    // (cache-aside.ts).
    const outboxEmpty = !state.outbox;
    // Values are read only when a condition compares them or a counter adds to them: a bulk load never needs them.
    const columns = needsValues(writes) ? ENTRY_COLUMNS : "key, x'' AS value, expires_at, revision, create_revision, version";
    const noValue = Buffer.alloc(0);
    for (const part of parts) {
      // Read with the state only for a chunk of one part, the transaction's first (applyWrites): this one.
      const read = state.keysRead;
      state.keysRead = null;
      const rows: EntryRow[] = read
        ? read.rows.map(([key, expires_at, revision, create_revision, version]) => ({ key, value: noValue, expires_at, revision, create_revision, version }))
        : await this.db.all<EntryRow>(`SELECT ${columns} FROM entries WHERE key ${IN_JSON_KEYS}`, [part]);
      for (const row of rows) {
        const keyState = byKey.get(row.key)!;
        keyState.hadRow = true;
        const entry = toEntry(row);
        if (isLive(entry, now)) keyState.current = entry;
      }
      if (outboxEmpty) continue;
      const queued = read ? read.queued : (await this.db.all<{ key: string }>(`SELECT DISTINCT key FROM outbox WHERE key ${IN_JSON_KEYS}`, [part])).map((row) => row.key);
      for (const key of queued) byKey.get(key)!.pending = true;
    }
    const plan = planChunk(writes, byKey, now, shared, state.revision);
    state.nextExpiry = earliestExpiry(plan.upserts, state.nextExpiry);
    // The chunk's writes go to SQLite in ONE trip (a script of statements whose rows are JSON written into the SQL,
    // sqlite-json.ts); only a large value goes as itself, one row a statement, before it. Keys are unique among the
    // end states, and none of them is among the deletes, so the order between those does not matter.
    const script = new Script();
    const [alone, together] = partition(plan.upserts, (entry) => bindsAlone(entry.value));
    for (const entry of alone) {
      const { key, value, expiresAt, revision, createRevision, version } = entry;
      await this.db.run(`${UPSERT} VALUES (?, ?, ?, ?, ?, ?) ${ON_KEY_CONFLICT}`, [key, value, expiresAt, revision, createRevision, version]);
    }
    let sentEarly = false;
    writeRowStatements(`${UPSERT} ${ENTRY_ROWS_JSON} WHERE true ${ON_KEY_CONFLICT}`, together, writeEntryRow, (statement, more) => {
      script.addWritten(statement);
      // The first slice goes to SQLite as soon as it is written, when more follow, and runs while this thread writes
      // the rest (Script.sendEarly). A round of one slice keeps its three trips.
      if (!more || sentEarly) return;
      script.sendEarly(this.db);
      sentEarly = true;
    });
    for (const json of keysJson(plan.deletes)) script.add(`DELETE FROM entries WHERE key ${IN_JSON_KEYS}`, { json });
    const owed: PendingInvalidation[] = [];
    for (const { json, items } of jsonArrays(plan.owedKeys, (key) => JSON.stringify(key))) {
      // In array order (j.key is the index), under the write lock: AUTOINCREMENT numbers the rows on from the
      // highest id ever given (sqlite_sequence), one by one.
      script.add('INSERT INTO outbox (key) SELECT j.value FROM json_each(?) AS j ORDER BY j.key', { json });
      items.forEach((key, i) => owed.push({ id: state.outboxSeq + 1 + i, key }));
      state.outboxSeq += items.length;
      state.outbox = true;
    }
    // When every key of the chunk is copied into the log, the chunk's keys JSON already names them.
    const copied = plan.copied.length === byKey.size ? { keys: plan.copied, json: parts } : { keys: plan.copied };
    await recordChanges(this.db, plan.changes, copied, script);
    return { outcome: { results: plan.results, owed, pool: state.pool, revision: plan.revision }, script };
  }

  /**
   * Removes a bounded number of expired rows inside the caller's transaction, as one change at the revision after
   * `revision` (an `expire` change per key, for watchers); resolves to the revision the transaction is at after it.
   */
  private async purgeExpired(now: number, revision: number, state: TransactionState): Promise<number> {
    if (!purgeDue(state, now)) return revision; // nothing is due: no query
    const expired = await this.db.all<{ key: string }>(
      `SELECT key FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ${PURGE_BATCH}`,
      [now],
    );
    if (expired.length === 0) return revision;
    const keys = expired.map((row) => row.key);
    await recordChanges(this.db, keys.map((key) => removalChange(revision + 1, key, 'expire')), { keys: [] });
    for (const part of keysJson(keys)) await this.db.run(`DELETE FROM entries WHERE key ${IN_JSON_KEYS}`, [part]);
    return revision + 1;
  }

  async close(): Promise<void> {
    await this.delivered.flush();
    return this.db.close();
  }
}

function rangeOf(selector: KeySelector): [string, SqlParam[]] {
  return 'key' in selector ? ['key = ?', [selector.key]] : keyRange(selector.prefix);
}

/**
 * The SQL condition for "key starts with prefix" as one index range, and its parameters: `key >= prefix AND
 * key < next`, where next is the prefix with its last character raised by one. Keys compare as UTF-8 bytes, which
 * order like code points, so exactly the keys with the prefix fall in the range and the scan stops at its end.
 */
function keyRange(prefix: string): [string, SqlParam[]] {
  if (prefix === '') return ['1', []];
  const chars = Array.from(prefix);
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!;
    let next = last + 1;
    if (next === 0xd800) next = 0xe000; // surrogates are not characters
    if (next <= 0x10ffff) return ['key >= ? AND key < ?', [prefix, chars.join('') + String.fromCodePoint(next)]];
  }
  return ['key >= ?', [prefix]]; // every character was the highest one: nothing sorts above the prefix's keys
}

const UPSERT = `INSERT INTO entries (${ENTRY_COLUMNS})`;
const ON_KEY_CONFLICT = `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
  revision = excluded.revision, create_revision = excluded.create_revision, version = excluded.version`;

/** The SQL that deletes the outbox rows with these ids (whole numbers, written into the text). */
function deleteOutboxRows(ids: number[]): string {
  return literalSql(`DELETE FROM outbox WHERE id IN (${marks(ids.length)})`, ids);
}

function marks(n: number): string {
  return new Array<string>(n).fill('?').join(',');
}

/** A chunk's keys: a record per key, in order of first appearance (write-plan.ts), and those keys as JSON parameters. */
interface ChunkKeys {
  byKey: Map<string, KeyState>;
  parts: string[];
}

function chunkKeys(writes: Write[]): ChunkKeys {
  const byKey = keyStates(writes);
  return { byKey, parts: [...keysJson(Array.from(byKey.keys()))] };
}

/**
 * The earliest of `earliest` and the entries' expiries. A loop over a chunk's rows sits in a small function of its
 * own, not in the async applyChunk: V8 optimizes the function whose loop runs hot, and optimizing applyChunk (with
 * all it inlines) took a helper thread ~30 ms, twice a batch (docs/architecture.md, "Hot loops").
 */
function earliestExpiry(entries: readonly Entry[], earliest: number | null): number | null {
  for (let i = 0; i < entries.length; i++) {
    const { expiresAt } = entries[i]!;
    if (expiresAt !== null && (earliest === null || expiresAt < earliest)) earliest = expiresAt;
  }
  return earliest;
}

/** Whether some row has expired by `now` (the transaction's earliest expiry): the purge has work to do. */
function purgeDue(state: TransactionState, now: number): boolean {
  return state.nextExpiry !== null && state.nextExpiry <= now;
}

interface EntryRow {
  key: string;
  value: Buffer | string;
  expires_at: number | null;
  revision: number;
  create_revision: number;
  version: number;
}

function toEntry(row: EntryRow): Entry {
  const value = typeof row.value === 'string' ? Buffer.from(row.value) : row.value;
  return { key: row.key, value, expiresAt: row.expires_at, revision: row.revision, createRevision: row.create_revision, version: row.version };
}

/**
 * The connection to the database at `path`, made first if there is none. The common case, a file that exists,
 * is simply opened (a stat beforehand cost every command ~0.3 ms); only a path SQLite cannot open is looked at:
 * created when missing, or refused with the reason (a folder, a parent that is not a folder, no permission).
 */
async function openOrCreate(path: string, busyTimeoutMs: number): Promise<SqliteConnection> {
  try {
    return await SqliteConnection.open(path, busyTimeoutMs);
  } catch (error) {
    if (((error as StorageError).cause as { code?: string } | undefined)?.code !== 'SQLITE_CANTOPEN') throw error;
    prepareFile(path);
    return SqliteConnection.open(path, busyTimeoutMs);
  }
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
    if (again === 1 || again === 2) await addRevisions(db);
    if (again === 3) await db.exec('ALTER TABLE revision ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0');
    if (again >= 1 && again <= 3) {
      // No history before the change log: a watch from before this revision is told so (exit 4).
      await db.exec(`UPDATE revision SET compacted = value; ${HISTORY_SCHEMA} ${LOCKS_SCHEMA}`);
    }
    await db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  });
  const meta = await db.get<{ value: string }>(NAMESPACE_QUERY);
  if (!meta) throw new StorageError(`${JSON.stringify(db.path)} is not a tbase database (no namespace id)`);
  return meta.value;
}

/**
 * 2 → 3: the entries already there count as written by one write command, revision 1 (version 1 each), so the
 * database starts at revision 1 (0 when empty). The pool moves to its next epoch: copies cached before carry no
 * revisions, and under the old epoch's keys they could neither be read as new copies nor be replaced by a fill
 * (`add` refuses while they are there), so the cache starts cold instead.
 */
async function addRevisions(db: SqliteConnection): Promise<void> {
  for (const column of ['revision', 'create_revision', 'version']) {
    await db.exec(`ALTER TABLE entries ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 1`);
  }
  await db.exec(REVISION_TABLE);
  await db.run('UPDATE revision SET value = (SELECT count(*) > 0 FROM entries) WHERE id = 1');
  const pool = decodePoolRecord((await db.get<{ value: string }>(POOL_QUERY))?.value ?? null);
  if (pool) await db.run("UPDATE meta SET value = ? WHERE name = 'pool'", [encodePoolRecord({ ...pool, epoch: pool.epoch + 1 })]);
}

const NAMESPACE_QUERY = "SELECT value FROM meta WHERE name = 'namespace_id'";
const POOL_QUERY = "SELECT value FROM meta WHERE name = 'pool'";
