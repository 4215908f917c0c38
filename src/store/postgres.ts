/**
 * The source of truth for many hosts: a PostgreSQL database (tables in postgres-schema.ts). The same contract as
 * sqlite.ts (store.ts says what every store promises), by the same means: every write transaction starts by
 * locking the one revision row, so writers are serialised across hosts, conditions and counters are decided
 * against rows read under that lock (writes.ts, write-plan.ts), revisions are gap-free and commit in order, and
 * the outbox and change log are written in the same transaction. Multi-row statements take arrays
 * (`unnest`, `= ANY`), so a batch group or an import is a few round trips, not one per key.
 * No printing here; every failure is a StorageError.
 */
import { HISTORY_REVISIONS, CHANGE_TYPE_CODE, CHANGE_TYPES, removalChange, trimFloor, type Change, type KeySelector } from './changes.js';
import type { Acquired, Lease } from './locks.js';
import { PgConnection, type PgClient, type PgParam } from './postgres-connection.js';
import { PostgresNotifier } from './postgres-notifier.js';
import { existingNamespace, initialiseSchema } from './postgres-schema.js';
import type { ChangePage, CommitOptions, PendingInvalidation, PrefixDeleteOutcome, Store, StoreStats, StreamOutcome, WriteOutcome } from './store.js';
import { slices } from './slices.js';
import { applyImport, keyStates, planChunk } from './write-plan.js';
import { isLive, needsValues, type Entry, type Write } from './writes.js';

/** Expired rows removed per write transaction, as in sqlite.ts. */
const PURGE_BATCH = 100;
/** Keys per `= ANY($1)` read; rows per `unnest` statement, and the value bytes one statement carries at most. */
const KEYS_PER_READ = 10_000;
const ROWS_PER_WRITE = 5_000;
const BYTES_PER_WRITE = 16 * 1024 * 1024;
/** Values from this size are written one statement each, as raw bytes (see applyChunk). */
const LARGE_VALUE_BYTES = 256 * 1024;
/** An import of at least this many entries refreshes the table's statistics before it commits. */
const ANALYZE_AFTER_WRITES = 10_000;
/** How often a long-running process measures PostgreSQL's clock again. */
const CLOCK_REFRESH_MS = 5 * 60_000;

const ENTRY_COLUMNS = 'key, value, expires_at, revision, create_revision, version';
const KEY_ONLY_COLUMNS = "key, ''::bytea AS value, expires_at, revision, create_revision, version";
const CHANGE_COLUMNS = 'revision, key, type, value, expires_at, create_revision, version';

export interface PostgresOptions {
  historyRevisions?: number;
  /** How long to wait to connect, and for another writer's lock, before failing (TBASE_BUSY_TIMEOUT_MS). */
  connectTimeoutMs?: number;
}

export class PostgresStore implements Store {
  private changeNotifier: PostgresNotifier | undefined;
  private clockTimer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly db: PgConnection,
    /** The schema holding the tables (a validated identifier, so it is written into SQL as is). */
    private readonly s: string,
    readonly namespaceId: string,
    private readonly historyRevisions: number,
    public clockOffsetMs: number,
  ) {}

  static async open(url: string, schema: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    const timeout = options.connectTimeoutMs ?? 5000;
    const db = PgConnection.create(url, { connectTimeoutMs: timeout, lockTimeoutMs: timeout });
    try {
      // One after the other: together they would open two connections, and a connection costs more than a query.
      const namespaceId = await initialiseSchema(db, schema);
      const offset = await db.clockOffset();
      const store = new PostgresStore(db, schema, namespaceId, options.historyRevisions ?? HISTORY_REVISIONS, offset);
      store.clockTimer = setInterval(() => void db.clockOffset().then((next) => (store.clockOffsetMs = next), () => undefined), CLOCK_REFRESH_MS);
      store.clockTimer.unref();
      return store;
    } catch (error) {
      await db.close().catch(() => undefined);
      throw db.storageError(error);
    }
  }

  /**
   * The store of a schema that exists, for reading only: nothing is created, migrated or started (no clock
   * refresh; the local clock judges expiry, which is close enough for what reads it — shell completion).
   */
  static async openExisting(url: string, schema: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    const timeout = options.connectTimeoutMs ?? 5000;
    const db = PgConnection.create(url, { connectTimeoutMs: timeout, lockTimeoutMs: timeout, max: 1 });
    try {
      return new PostgresStore(db, schema, await existingNamespace(db, schema), options.historyRevisions ?? HISTORY_REVISIONS, 0);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw db.storageError(error);
    }
  }

  get location(): string {
    return this.s === 'tbase' ? this.db.shown : `${this.db.shown} (schema ${this.s})`;
  }

  get notifier(): PostgresNotifier {
    return (this.changeNotifier ??= new PostgresNotifier(this.db, this.channel));
  }

  private get channel(): string {
    return `tbase_${this.namespaceId}`;
  }

  async read(key: string, now: number): Promise<Entry | undefined> {
    const rows = await this.db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM ${this.s}.entries WHERE key = $1 AND ${live(2)}`, [bytes(key), now]);
    return rows[0] && toEntry(rows[0]);
  }

  async readMany(keys: string[], now: number): Promise<Map<string, Entry>> {
    const found = new Map<string, Entry>();
    for (const part of slices([...new Set(keys)], KEYS_PER_READ)) {
      const rows = await this.db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM ${this.s}.entries WHERE key = ANY($1::bytea[]) AND ${live(2)}`, [part.map(bytes), now]);
      for (const row of rows) found.set(row.key.toString('utf8'), toEntry(row));
    }
    return found;
  }

  async scan(prefix: string, afterKey: string, limit: number, now: number, withValues = true): Promise<{ entries: Entry[]; done: boolean }> {
    // ONE lower bound and the first key past the prefix ends the range, as in sqlite.ts: with an upper bound too,
    // PostgreSQL estimates the range from its statistics, which after a bulk load say "a few hundred rows", and
    // then reads the whole rest of the range and sorts it for every page (measured: 22-40 ms a 256-key page,
    // 15 s to list 150 000 keys). A later page's bound is the last key seen, which starts with the prefix.
    const [bound, from] = afterKey === '' ? ['>=', prefix] : ['>', afterKey];
    const rows = await this.db.query<EntryRow>(
      `SELECT ${withValues ? ENTRY_COLUMNS : KEY_ONLY_COLUMNS} FROM ${this.s}.entries WHERE key ${bound} $1 AND ${live(2)} ORDER BY key LIMIT $3`,
      [bytes(from), now, limit],
    );
    const entries: Entry[] = [];
    for (const row of rows) {
      const entry = toEntry(row);
      if (!entry.key.startsWith(prefix)) return { entries, done: true };
      entries.push(entry);
    }
    return { entries, done: rows.length < limit };
  }

  async countLive(prefix: string, now: number): Promise<number> {
    const [range, params] = keyRange(prefix, 1);
    const [row] = await this.db.query<{ n: number }>(`SELECT count(*) AS n FROM ${this.s}.entries WHERE ${range} AND ${live(params.length + 1)}`, [...params, now]);
    return row?.n ?? 0;
  }

  async stats(now: number): Promise<StoreStats> {
    const [row] = await this.db.query<{ revision: number; live: number; expired: number; pending: number; bytes: number }>(
      `SELECT (SELECT value FROM ${this.s}.revision WHERE id = 1) AS revision,
              (SELECT count(*) FROM ${this.s}.entries WHERE ${live(1)}) AS live,
              (SELECT count(*) FROM ${this.s}.entries WHERE NOT ${live(1)}) AS expired,
              (SELECT count(*) FROM ${this.s}.outbox) AS pending,
              (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $2 AND c.relkind = 'r') AS bytes`,
      [now, this.s],
    );
    return { revision: row?.revision ?? 0, keys: row?.live ?? 0, expiredKeys: row?.expired ?? 0, pendingInvalidations: row?.pending ?? 0, dbBytes: row?.bytes ?? 0 };
  }

  async revision(): Promise<number> {
    const [row] = await this.db.query<{ value: number }>(`SELECT value FROM ${this.s}.revision WHERE id = 1`);
    return row?.value ?? 0;
  }

  applyWrites(writes: Write[], now: number, { onCommitting }: CommitOptions = {}): Promise<WriteOutcome> {
    return this.transaction(async (client, base) => {
      const outcome = await this.applyChunk(client, writes, now, null, base.revision);
      return { outcome, revision: await this.purgeExpired(client, now, outcome.revision) };
    }, { onCommitting });
  }

  applyWriteStream(chunks: AsyncIterable<Write[]>, now: number, floor: () => number = () => 0): Promise<StreamOutcome> {
    return this.transaction(async (client, base) => {
      const total = await applyImport(
        chunks,
        base.revision,
        floor,
        (writes, revision) => this.applyChunk(client, writes, now, revision, base.revision),
        async (from, to) => {
          for (const table of ['entries', 'changes']) {
            await client.query(
              `UPDATE ${this.s}.${table} SET revision = $1, create_revision = CASE WHEN create_revision = $2 THEN $1 ELSE create_revision END WHERE revision = $2`,
              [to, from],
            );
          }
        },
      );
      // A big load leaves the table's statistics far behind until autovacuum's next analyze; plans for key
      // ranges (counts, prefix deletes) read them. Fresh ones cost ~0.1 s here, against seconds of the import.
      if (total.writes >= ANALYZE_AFTER_WRITES) await client.query(`ANALYZE ${this.s}.entries`);
      return { outcome: total, revision: await this.purgeExpired(client, now, total.revision) };
    }, { replayable: false }); // the source is read as the import goes: a second run would find it spent
  }

  deletePrefix(prefix: string, now: number): Promise<PrefixDeleteOutcome> {
    return this.transaction(async (client, base) => {
      const [range, params] = keyRange(prefix, 1);
      const n = params.length;
      const { rows } = await client.query<{ pool: string | null; live: number; expired: number }>(
        `SELECT (SELECT value FROM ${this.s}.meta WHERE name = 'pool') AS pool,
           (SELECT count(*) FROM ${this.s}.entries WHERE ${range} AND ${live(n + 1)}) AS live,
           (SELECT count(*) FROM ${this.s}.entries WHERE ${range} AND NOT ${live(n + 1)}) AS expired`,
        [...params, now],
      );
      const count = rows[0]?.live ?? 0;
      // Expired rows not purged yet go too, as the expiries they are (a watcher of such a key sees its EXPIRE).
      const expired = rows[0]?.expired ?? 0;
      const revision = count + expired > 0 ? base.revision + 1 : base.revision;
      if (count + expired > 0) {
        await client.query(
          `INSERT INTO ${this.s}.changes (revision, key, type)
           SELECT $${n + 2}, key, CASE WHEN ${live(n + 1)} THEN ${CHANGE_TYPE_CODE.delete} ELSE ${CHANGE_TYPE_CODE.expire} END FROM ${this.s}.entries WHERE ${range}`,
          [...params, now, revision],
        );
      }
      // Every key that had a row owes an invalidation, recorded without passing through this process; writers are
      // serialised, so this statement's ids are the range [first, last] and nobody else's are in it.
      const owedRows = await client.query<{ first: number | null; last: number | null }>(
        `WITH owed AS (INSERT INTO ${this.s}.outbox (key) SELECT key FROM ${this.s}.entries WHERE ${range} RETURNING id) SELECT min(id) AS first, max(id) AS last FROM owed`,
        params,
      );
      await client.query(`DELETE FROM ${this.s}.entries WHERE ${range}`, params);
      const { first, last } = owedRows.rows[0] ?? { first: null, last: null };
      const owed = first !== null && last !== null ? { firstId: first, lastId: last } : null;
      return { outcome: { count, revision, pool: rows[0]?.pool ?? null, owed }, revision };
    });
  }

  expireDue(now: number): Promise<number> {
    return this.transaction(async (client, base) => {
      const revision = await this.purgeExpired(client, now, base.revision);
      return { outcome: revision - base.revision, revision };
    });
  }

  async pendingInvalidations(limit: number): Promise<{ pool: string | null; pending: PendingInvalidation[] }> {
    const rows = await this.db.query<{ id: number | null; key: Buffer | null; pool: string | null }>(
      `SELECT NULL::bigint AS id, NULL::bytea AS key, value AS pool FROM ${this.s}.meta WHERE name = 'pool'
       UNION ALL (SELECT id, key, NULL FROM ${this.s}.outbox ORDER BY id LIMIT $1)`,
      [limit],
    );
    const pool = rows[0]?.id === null ? rows.shift()!.pool : null;
    return { pool, pending: rows.map((row) => ({ id: row.id!, key: row.key!.toString('utf8') })) };
  }

  async owedPage(afterId: number, lastId: number, limit: number): Promise<PendingInvalidation[]> {
    const rows = await this.db.query<{ id: number; key: Buffer }>(`SELECT id, key FROM ${this.s}.outbox WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3`, [
      afterId,
      lastId,
      limit,
    ]);
    return rows.map((row) => ({ id: row.id, key: row.key.toString('utf8') }));
  }

  async clearInvalidations(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query(`DELETE FROM ${this.s}.outbox WHERE id = ANY($1::bigint[])`, [ids]);
  }

  async pool(): Promise<string | null> {
    const [row] = await this.db.query<{ value: string }>(`SELECT value FROM ${this.s}.meta WHERE name = 'pool'`);
    return row?.value ?? null;
  }

  async recordPool(record: string): Promise<string> {
    const [row] = await this.db.query<{ value: string }>(
      `WITH added AS (INSERT INTO ${this.s}.meta (name, value) VALUES ('pool', $1) ON CONFLICT (name) DO NOTHING RETURNING value)
       SELECT value FROM added UNION ALL SELECT value FROM ${this.s}.meta WHERE name = 'pool'`,
      [record],
    );
    if (row) return row.value;
    // Another host's record committed while this statement waited on it: newer than the statement's snapshot, so
    // neither half saw it. A new statement does.
    return (await this.pool())!;
  }

  /**
   * Replaces the pool record under the revision row's lock (without taking a revision): every write transaction
   * takes that lock and reads the record, so no write commits on the old pool after this has.
   */
  changePool(next: (current: string | null) => string | null): Promise<{ before: string | null; after: string | null }> {
    return this.transaction(async (client, base) => {
      const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${this.s}.meta WHERE name = 'pool'`);
      const before = rows[0]?.value ?? null;
      const after = next(before);
      if (after !== null) {
        await client.query(`INSERT INTO ${this.s}.meta (name, value) VALUES ('pool', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, [after]);
      }
      return { outcome: { before, after: after ?? before }, revision: base.revision };
    });
  }

  /**
   * The revision is read before the changes (each statement sees what had committed when it began): every change
   * up to that revision is in the page, or after it in the log, as the feed assumes.
   */
  async changesAfter(after: { revision: number; key: string }, selector: KeySelector, limit: number): Promise<ChangePage> {
    const [state] = await this.db.query<{ value: number; compacted: number }>(`SELECT value, compacted FROM ${this.s}.revision WHERE id = 1`);
    const [range, params] = rangeOf(selector, 3);
    const n = params.length + 2;
    const rows = await this.db.query<ChangeRow>(
      `SELECT ${CHANGE_COLUMNS} FROM ${this.s}.changes WHERE (revision, key) > ($1, $2) AND ${range} ORDER BY revision, key LIMIT $${n + 1}`,
      [after.revision, bytes(after.key), ...params, limit],
    );
    return { changes: rows.map(toChange), revision: state?.value ?? 0, compacted: state?.compacted ?? 0 };
  }

  async nextExpiry(selector: KeySelector, now: number): Promise<number | null> {
    const [range, params] = rangeOf(selector, 1);
    const [row] = await this.db.query<{ at: number | null }>(
      `SELECT min(expires_at) AS at FROM ${this.s}.entries WHERE ${range} AND expires_at > $${params.length + 1}`,
      [...params, now],
    );
    return row?.at ?? null;
  }

  acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<Acquired> {
    return this.transaction<Acquired>(async (client, base) => {
      const { rows } = await client.query<{ owner: string; revision: number; expires_at: number }>(`SELECT owner, revision, expires_at FROM ${this.s}.locks WHERE name = $1`, [bytes(name)]);
      const held = rows[0];
      const holder = held && held.expires_at > now ? { name, owner: held.owner, revision: held.revision, expiresAt: held.expires_at } : null;
      // Ours already: an acquisition whose COMMIT was never confirmed, asked again (locks.ts, takeLease).
      if (holder?.owner === owner) return { outcome: { taken: true, lease: holder }, revision: base.revision };
      if (holder) return { outcome: { taken: false, holder }, revision: base.revision };
      const lease: Lease = { name, owner, revision: base.revision + 1, expiresAt: now + ttlMs };
      await client.query(
        `INSERT INTO ${this.s}.locks (name, owner, revision, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, revision = excluded.revision, expires_at = excluded.expires_at`,
        [bytes(name), owner, lease.revision, lease.expiresAt],
      );
      return { outcome: { taken: true, lease }, revision: lease.revision };
    });
  }

  async renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE ${this.s}.locks SET expires_at = $1 WHERE name = $2 AND owner = $3 AND revision = $4 AND expires_at > $5 RETURNING 1`,
      [now + ttlMs, bytes(lease.name), lease.owner, lease.revision, now],
    );
    return rows.length === 1;
  }

  async releaseLease(lease: Lease): Promise<boolean> {
    const rows = await this.db.query(`DELETE FROM ${this.s}.locks WHERE name = $1 AND owner = $2 AND revision = $3 RETURNING 1`, [bytes(lease.name), lease.owner, lease.revision]);
    return rows.length === 1;
  }

  async close(): Promise<void> {
    if (this.clockTimer) clearInterval(this.clockTimer);
    await this.db.close();
  }

  /**
   * A write transaction: locks the revision row first (serialising every writer of the database, on any host),
   * runs `work`, stores the revision it ends at with the change log's retention, and tells watchers (NOTIFY is
   * delivered at commit, to every host's LISTEN connection, this process's included).
   */
  private transaction<T>(
    work: (client: PgClient, base: { revision: number; compacted: number }) => Promise<{ outcome: T; revision: number }>,
    options: { replayable?: boolean } & CommitOptions = {},
  ): Promise<T> {
    return this.db.transaction(async (client) => {
      const { rows } = await client.query<{ revision: number; compacted: number }>(`SELECT value AS revision, compacted FROM ${this.s}.revision WHERE id = 1 FOR UPDATE`);
      const base = rows[0]!;
      const { outcome, revision } = await work(client, base);
      if (revision !== base.revision) {
        const floor = trimFloor(revision, base.revision, base.compacted, this.historyRevisions);
        if (floor !== null) await client.query(`DELETE FROM ${this.s}.changes WHERE revision <= $1`, [floor]);
        await client.query(`UPDATE ${this.s}.revision SET value = $1, compacted = $2 WHERE id = 1`, [revision, floor ?? base.compacted]);
        await client.query('SELECT pg_notify($1, $2)', [this.channel, String(revision)]);
      }
      return outcome;
    }, options);
  }

  /** One chunk of writes inside the caller's transaction (sqlite.ts's applyChunk, in PostgreSQL's terms). */
  private async applyChunk(client: PgClient, writes: Write[], now: number, shared: number | null, base: number): Promise<WriteOutcome> {
    const byKey = keyStates(writes);
    const keys = Array.from(byKey.keys(), bytes);
    // The outbox cannot gain rows while this transaction holds the revision lock (only writers add them): when it
    // is empty, no key of the chunk has an invalidation pending. The pool record comes along (cache-aside.ts).
    const state = (await client.query<{ any: boolean; pool: string | null }>(`SELECT EXISTS (SELECT 1 FROM ${this.s}.outbox) AS any, (SELECT value FROM ${this.s}.meta WHERE name = 'pool') AS pool`)).rows[0]!;
    const columns = needsValues(writes) ? ENTRY_COLUMNS : KEY_ONLY_COLUMNS;
    for (const part of slices(keys, KEYS_PER_READ)) {
      const { rows } = await client.query<EntryRow>(`SELECT ${columns} FROM ${this.s}.entries WHERE key = ANY($1::bytea[])`, [part]);
      for (const row of rows) {
        const keyState = byKey.get(row.key.toString('utf8'))!;
        keyState.hadRow = true;
        const entry = toEntry(row);
        if (isLive(entry, now)) keyState.current = entry;
      }
      if (!state.any) continue;
      const queued = await client.query<{ key: Buffer }>(`SELECT DISTINCT key FROM ${this.s}.outbox WHERE key = ANY($1::bytea[])`, [part]);
      for (const row of queued.rows) byKey.get(row.key.toString('utf8'))!.pending = true;
    }
    const plan = planChunk(writes, byKey, now, shared, base);
    const upsert = `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
      revision = excluded.revision, create_revision = excluded.create_revision, version = excluded.version`;
    const [large, small] = partition(plan.upserts, (entry) => entry.value.length >= LARGE_VALUE_BYTES);
    for (const part of slicesByBytes(small)) {
      await client.query(
        `INSERT INTO ${this.s}.entries (${ENTRY_COLUMNS})
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[]) ${upsert}`,
        [part.map((e) => bytes(e.key)), part.map((e) => e.value), part.map((e) => e.expiresAt), part.map((e) => e.revision), part.map((e) => e.createRevision), part.map((e) => e.version)],
      );
    }
    // A large value goes alone, as a parameter of its own: pg sends a Buffer parameter as raw bytes, where inside
    // an array it is hex text of twice its size (a 64 MiB value took 3.4 s and 450 MiB that way).
    for (const e of large) {
      await client.query(`INSERT INTO ${this.s}.entries (${ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ${upsert}`, [
        bytes(e.key),
        e.value,
        e.expiresAt,
        e.revision,
        e.createRevision,
        e.version,
      ]);
    }
    for (const part of slices(plan.deletes, KEYS_PER_READ)) {
      await client.query(`DELETE FROM ${this.s}.entries WHERE key = ANY($1::bytea[])`, [part.map(bytes)]);
    }
    const owed: PendingInvalidation[] = [];
    for (const part of slices(plan.owedKeys, KEYS_PER_READ)) {
      const { rows } = await client.query<{ id: number; key: Buffer }>(
        `INSERT INTO ${this.s}.outbox (key) SELECT * FROM unnest($1::bytea[]) RETURNING id, key`,
        [part.map(bytes)],
      );
      for (const row of rows) owed.push({ id: row.id, key: row.key.toString('utf8') });
    }
    await this.recordChanges(client, plan.changes, plan.copied);
    return { results: plan.results, owed, pool: state.pool, revision: plan.revision };
  }

  /**
   * Change log rows: the explicit ones, then each key's last put copied from its row (so a bulk load sends its
   * values once). A later change for the same revision and key replaces an earlier one (an import writes every
   * key at one revision, some twice); one statement may not touch a row twice, so the explicit ones are deduplicated first.
   */
  private async recordChanges(client: PgClient, explicit: Change[], copied: string[]): Promise<void> {
    const unique = [...new Map(explicit.map((c) => [`${c.revision} ${c.key}`, c])).values()];
    for (const part of slicesByBytes(unique)) {
      await client.query(
        `INSERT INTO ${this.s}.changes (${CHANGE_COLUMNS})
         SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::smallint[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bigint[])
         ON CONFLICT (revision, key) DO UPDATE SET type = excluded.type, value = excluded.value, expires_at = excluded.expires_at,
           create_revision = excluded.create_revision, version = excluded.version`,
        [part.map((c) => c.revision), part.map((c) => bytes(c.key)), part.map((c) => CHANGE_TYPE_CODE[c.type]), part.map((c) => c.value), part.map((c) => c.expiresAt), part.map((c) => c.createRevision), part.map((c) => c.version)],
      );
    }
    for (const part of slices(copied, KEYS_PER_READ)) {
      await client.query(
        `INSERT INTO ${this.s}.changes (${CHANGE_COLUMNS}) SELECT revision, key, 0, value, expires_at, create_revision, version
         FROM ${this.s}.entries WHERE key = ANY($1::bytea[])
         ON CONFLICT (revision, key) DO UPDATE SET type = 0, value = excluded.value, expires_at = excluded.expires_at,
           create_revision = excluded.create_revision, version = excluded.version`,
        [part.map(bytes)],
      );
    }
  }

  /** Removes a bounded number of expired rows as one `expire` change at the revision after `revision`. */
  private async purgeExpired(client: PgClient, now: number, revision: number): Promise<number> {
    const { rows } = await client.query<{ key: Buffer }>(`SELECT key FROM ${this.s}.entries WHERE expires_at <= $1 LIMIT ${PURGE_BATCH}`, [now]);
    if (rows.length === 0) return revision;
    const keys = rows.map((row) => row.key);
    await this.recordChanges(client, keys.map((key) => removalChange(revision + 1, key.toString('utf8'), 'expire')), []);
    await client.query(`DELETE FROM ${this.s}.entries WHERE key = ANY($1::bytea[])`, [keys]);
    return revision + 1;
  }
}

interface EntryRow {
  key: Buffer;
  value: Buffer;
  expires_at: number | null;
  revision: number;
  create_revision: number;
  version: number;
}

interface ChangeRow {
  revision: number;
  key: Buffer;
  type: number;
  value: Buffer | null;
  expires_at: number | null;
  create_revision: number | null;
  version: number | null;
}

function toEntry(row: EntryRow): Entry {
  return { key: row.key.toString('utf8'), value: row.value, expiresAt: row.expires_at, revision: row.revision, createRevision: row.create_revision, version: row.version };
}

function toChange(row: ChangeRow): Change {
  return {
    revision: row.revision,
    key: row.key.toString('utf8'),
    type: CHANGE_TYPES[row.type]!,
    value: row.value,
    expiresAt: row.expires_at,
    createRevision: row.create_revision,
    version: row.version,
  };
}

/** Keys are bytea: their UTF-8 bytes. */
function bytes(key: string): Buffer {
  return Buffer.from(key, 'utf8');
}

/** "Live at $n": no expiry, or one after the time in parameter n. */
function live(n: number): string {
  return `(expires_at IS NULL OR expires_at > $${n})`;
}

function rangeOf(selector: KeySelector, first: number): [string, PgParam[]] {
  return 'key' in selector ? [`key = $${first}`, [bytes(selector.key)]] : keyRange(selector.prefix, first);
}

/**
 * "key starts with prefix" as one index range over bytes, parameters numbered from `first`: key >= prefix, and
 * below the prefix with its last byte raised by one (trailing 0xff bytes dropped first).
 */
function keyRange(prefix: string, first: number): [string, PgParam[]] {
  if (prefix === '') return ['TRUE', []];
  const [upper, params] = upperBound(prefix, first + 1);
  return [`key >= $${first}${upper}`, [bytes(prefix), ...params]];
}

/** " AND key < $n" for the end of the prefix's range, or nothing when no key sorts above it. */
function upperBound(prefix: string, n: number): [string, PgParam[]] {
  const end = bytes(prefix);
  let length = end.length;
  while (length > 0 && end[length - 1] === 0xff) length--;
  if (prefix === '' || length === 0) return ['', []];
  const next = Buffer.from(end.subarray(0, length));
  next[length - 1]!++;
  return [` AND key < $${n}`, [next]];
}

/** Rows per statement, bounded in count and in value bytes (arrays travel as hex text: twice their size). */
function slicesByBytes<T extends { value: Buffer | null }>(items: T[]): T[][] {
  const out: T[][] = [];
  let part: T[] = [];
  let size = 0;
  for (const item of items) {
    const length = item.value?.length ?? 0;
    if (part.length > 0 && (part.length === ROWS_PER_WRITE || size + length > BYTES_PER_WRITE)) {
      out.push(part);
      part = [];
      size = 0;
    }
    part.push(item);
    size += length;
  }
  if (part.length > 0) out.push(part);
  return out;
}

/** The items that pass `test`, and the others. */
function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}
