/**
 * The one place that speaks sqlite3's callback API: a promise wrapper around a single connection, plus the
 * mapping from SQLite result codes to StorageError messages a user can act on.
 *
 * One connection serves one process, so statements from concurrent async callers are queued behind a lock:
 * a transaction owns the connection from BEGIN to COMMIT and nobody reads its uncommitted state.
 */
import sqlite3 from 'sqlite3';
import { StorageError } from '../errors.js';

export type SqlParam = string | number | bigint | Buffer | null;
export type Row = Record<string, unknown>;

export class SqliteConnection {
  private queue: Promise<unknown> = Promise.resolve();
  /** Prepared statements kept for reuse (bulk writes); see runPrepared. */
  private readonly prepared = new Map<string, Promise<sqlite3.Statement>>();

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
  ) {}

  static open(path: string, busyTimeoutMs: number): Promise<SqliteConnection> {
    return new Promise((resolve, reject) => {
      // OPEN_READWRITE without OPEN_CREATE: the caller creates the file first, with owner-only permissions.
      const db = new sqlite3.Database(path, sqlite3.OPEN_READWRITE, (err) => {
        if (err) return reject(storageError(err, path));
        db.configure('busyTimeout', busyTimeoutMs);
        resolve(new SqliteConnection(db, path));
      });
    });
  }

  /** Run `work` with the connection to itself; everything else waits until it settles. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * A write transaction. IMMEDIATE takes the write lock up front: a deferred BEGIN that reads and then writes
   * fails at once with SQLITE_BUSY under a concurrent writer in WAL mode, whatever the busy timeout.
   */
  transaction<T>(work: () => Promise<T>, { durable = true } = {}): Promise<T> {
    return this.exclusive(async () => {
      // A transaction whose loss at a power cut would do no harm commits without its fsync (WAL keeps commit
      // order, so a later durable commit still carries it to disk); the connection's FULL comes back after it.
      if (!durable) await this.exec('PRAGMA synchronous = NORMAL');
      try {
        await this.exec('BEGIN IMMEDIATE');
        try {
          const result = await work();
          await this.exec('COMMIT');
          return result;
        } catch (error) {
          await this.exec('ROLLBACK').catch(() => undefined);
          throw error;
        }
      } finally {
        if (!durable) await this.exec('PRAGMA synchronous = FULL');
      }
    });
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (err) => (err ? reject(storageError(err, this.path)) : resolve()));
    });
  }

  run(sql: string, params: SqlParam[] = []): Promise<{ changes: number; lastID: number }> {
    return new Promise((resolve, reject) => {
      const path = this.path;
      this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) return reject(storageError(err, path));
        resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  get<T = Row>(sql: string, params: SqlParam[] = []): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      this.db.get(sql, params, (err: Error | null, row: T | undefined) =>
        err ? reject(storageError(err, this.path)) : resolve(row),
      );
    });
  }

  all<T = Row>(sql: string, params: SqlParam[] = []): Promise<T[]> {
    return new Promise((resolve, reject) => {
      this.db.all(sql, params, (err: Error | null, rows: T[]) =>
        err ? reject(storageError(err, this.path)) : resolve(rows),
      );
    });
  }

  /**
   * run() and all() through a statement prepared once and reused: the bulk paths send the same multi-row
   * statement (hundreds of placeholders) many times, and SQLite would parse and plan it anew for each call.
   * Only for statements that run to completion (writes, and reads whose rows are all fetched): a reused statement
   * that stopped early would keep its read transaction, and with it an old snapshot, open.
   */
  async runPrepared(sql: string, params: SqlParam[]): Promise<{ changes: number; lastID: number }> {
    const statement = await this.statement(sql);
    return new Promise((resolve, reject) => {
      const path = this.path;
      statement.run(params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) return reject(storageError(err, path));
        resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  async allPrepared<T = Row>(sql: string, params: SqlParam[]): Promise<T[]> {
    const statement = await this.statement(sql);
    return new Promise((resolve, reject) => {
      statement.all(params, (err: Error | null, rows: T[]) => (err ? reject(storageError(err, this.path)) : resolve(rows)));
    });
  }

  close(): Promise<void> {
    return this.queue.then(async () => {
      const statements = await Promise.all([...this.prepared.values()].map((statement) => statement.catch(() => null)));
      await Promise.all(statements.map((statement) => new Promise<void>((resolve) => (statement ? statement.finalize(() => resolve()) : resolve()))));
      this.prepared.clear();
      await new Promise<void>((resolve) => {
        this.db.close(() => resolve());
      });
    });
  }

  private statement(sql: string): Promise<sqlite3.Statement> {
    let statement = this.prepared.get(sql);
    if (!statement) {
      statement = new Promise((resolve, reject) => {
        const prepared = this.db.prepare(sql, (err) => {
          if (!err) return resolve(prepared);
          this.prepared.delete(sql);
          reject(storageError(err, this.path));
        });
      });
      this.prepared.set(sql, statement);
    }
    return statement;
  }
}

/** What SQLite said, in words that tell the user what is wrong with which file. */
export function storageError(err: unknown, path: string): StorageError {
  const code = (err as { code?: string }).code ?? '';
  const detail = err instanceof Error ? err.message.replace(/^SQLITE_\w+: /, '') : String(err);
  const where = JSON.stringify(path);
  const reasons: Record<string, string> = {
    SQLITE_NOTADB: `${where} is not a tbase database (file is not a database)`,
    SQLITE_CORRUPT: `database ${where} is corrupt (${detail})`,
    SQLITE_BUSY: `database ${where} is locked by another process (gave up waiting)`,
    SQLITE_LOCKED: `database ${where} is locked (${detail})`,
    SQLITE_READONLY: `database ${where} is read-only (${detail})`,
    SQLITE_CANTOPEN: `cannot open database ${where} (${detail})`,
    SQLITE_PERM: `no permission to use database ${where}`,
    SQLITE_FULL: `cannot write database ${where}: disk is full`,
    SQLITE_IOERR: `cannot read or write database ${where} (${detail})`,
    SQLITE_TOOBIG: `value too large for database ${where}`,
  };
  return new StorageError(reasons[code] ?? `database ${where}: ${detail}`, { cause: err });
}
