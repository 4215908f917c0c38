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

/**
 * Statements kept prepared, by the length of their SQL text in all (a stand-in for the memory their compiled
 * programs take). node-sqlite3 runs a one-off statement as two trips to its worker thread (prepare, then step),
 * a prepared one as one; under load each trip waits for a turn of the event loop, so a write round of a dozen
 * statements paid two dozen turns (serve's group commit). The least recently used ones go first.
 */
const PREPARED_SQL_CHARS = 64 * 1024;
/**
 * A statement bound with more than this many bytes is not kept: SQLite keeps a copy of its bound values until the
 * next use, and a 64 MiB value should not stay in memory for that.
 */
const KEPT_PARAM_BYTES = 64 * 1024;

export interface TransactionOptions {
  /** false: commit without the fsync (for what a power cut may lose without harm). */
  durable?: boolean;
  /** SQL run with BEGIN, in the same trip: made by literalSql, so nothing can be injected. */
  afterBegin?: string;
  /** See CommitOptions (store.ts). */
  onCommitting?: () => void;
}

/** A value written into SQL text instead of bound: a whole number, or a JSON text. */
export type SqlLiteral = number | { json: string };

/**
 * `sql` with each `?` replaced by the next value written as SQL: a whole number (checked), or a JSON text as a
 * string literal (quotes doubled; JSON has no raw NUL, which would end the text for SQLite: checked). Statements
 * written so need no parameters, so several go to SQLite in one trip (`exec`, `runAtCommit`); nothing but numbers
 * and JSON is ever written into SQL, so nothing can be injected.
 */
export function literalSql(sql: string, values: SqlLiteral[]): string {
  let i = 0;
  return sql.replace(/\?/g, () => {
    const value = values[i++];
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value)) throw new Error(`SQL literals: not a whole number: ${value}`);
      return String(value);
    }
    if (typeof value?.json !== 'string' || value.json.includes('\0')) throw new Error('SQL literals: not a JSON text, or one holding NUL');
    const { json } = value;
    return `'${json.includes("'") ? json.replaceAll("'", "''") : json}'`; // no copy of a 60 KB text without quotes
  });
}

/** Statements written with literalSql, to run in order in ONE trip to SQLite. */
export class Script {
  private readonly statements: string[] = [];

  add(sql: string, ...values: SqlLiteral[]): void {
    this.statements.push(literalSql(sql, values));
  }

  /** A statement already written with literals only (literalSql, or sqlite-json.ts's JsonRowsStatement). */
  addWritten(statement: string): void {
    this.statements.push(statement);
  }

  /** Runs them (inside the caller's transaction: a failure leaves the rest unrun, and the caller rolls back). */
  async run(db: SqliteConnection): Promise<void> {
    if (this.statements.length > 0) await db.exec(this.statements.join(';\n'));
  }

  /** Runs them with the transaction's COMMIT, in the same trip (a failure fails the COMMIT: all is rolled back). */
  runAtCommit(db: SqliteConnection): void {
    for (const statement of this.statements) db.runWrittenAtCommit(statement);
  }

  /**
   * Sends the statements added so far now, inside the caller's transaction, without waiting for them
   * (SqliteConnection.sendEarly): SQLite runs them while this thread writes the rest of the script.
   */
  sendEarly(db: SqliteConnection): void {
    if (this.statements.length === 0) return;
    db.sendEarly(this.statements.join(';\n'));
    this.statements.length = 0;
  }
}

export class SqliteConnection {
  private queue: Promise<unknown> = Promise.resolve();
  /** Prepared statements by SQL text, least recently used first (a Map keeps insertion order). */
  private readonly prepared = new Map<string, Promise<sqlite3.Statement>>();
  private preparedChars = 0;
  /** Statements (literalSql) the current transaction runs with its COMMIT, in the same trip (runAtCommit). */
  private atCommit = '';
  /** What sendEarly sent and nobody has waited for yet: settles when all of it has run; rejects if any failed. */
  private early: Promise<void> | null = null;

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
  transaction<T>(work: () => Promise<T>, { durable = true, afterBegin = '', onCommitting }: TransactionOptions = {}): Promise<T> {
    return this.exclusive(async () => {
      // A transaction whose loss at a power cut would do no harm commits without its fsync (WAL keeps commit
      // order, so a later durable commit still carries it to disk); the connection's FULL comes back after it.
      const [begin, commit] = durable ? ['', ''] : ['PRAGMA synchronous = NORMAL; ', '; PRAGMA synchronous = FULL'];
      this.atCommit = '';
      try {
        await this.exec(`${begin}BEGIN IMMEDIATE${afterBegin && `; ${afterBegin}`}`);
        const result = await work();
        if (this.early) await this.settleEarly(); // COMMIT only after everything sent early has run without error
        const committed = this.exec(`${this.atCommit}COMMIT${commit}`);
        onCommitting?.();
        await committed;
        return result;
      } catch (error) {
        // Whatever failed (BEGIN, the work, COMMIT), the connection is left as it was: no transaction, FULL.
        await this.exec(`ROLLBACK${commit}`).catch(() => (durable ? undefined : this.exec('PRAGMA synchronous = FULL').catch(() => undefined)));
        throw error;
      } finally {
        this.atCommit = '';
        this.early = null; // settled by now: the ROLLBACK above ran after it (exec keeps order)
      }
    });
  }

  /** Runs `sql` (its values written in by literalSql) with the current transaction's COMMIT, in the same trip. */
  runAtCommit(sql: string, values: SqlLiteral[]): void {
    this.runWrittenAtCommit(literalSql(sql, values));
  }

  /** runAtCommit for a statement literalSql has already written (a Script's). */
  runWrittenAtCommit(statement: string): void {
    this.atCommit += `${statement}; `;
  }

  /**
   * Sends `sql` (literalSql's) inside the current transaction without waiting for it, so SQLite's thread works on
   * it while this one writes what comes next (a batch group's rows in slices: docs/architecture.md, "Rows sent as
   * they are written"). Safe because node-sqlite3 runs exec trips in the order they were sent, and because
   * whatever would not wait its turn waits for these first: a kept statement (run, all: node-sqlite3 runs those
   * beside an exec) and the COMMIT, which must never follow a statement that failed.
   */
  sendEarly(sql: string): void {
    const sent = this.exec(sql);
    const early = this.early ? Promise.all([this.early, sent]).then(() => undefined) : sent;
    early.catch(() => undefined); // a failure is reported where it is waited for (settleEarly), not as unhandled
    this.early = early;
  }

  /** Waits for what sendEarly sent (callers look first: nothing sent early costs no await); throws its first failure. */
  private settleEarly(): Promise<void> {
    const early = this.early!;
    this.early = null;
    return early;
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (err) => (err ? reject(storageError(err, this.path)) : resolve()));
    });
  }

  async run(sql: string, params: SqlParam[] = []): Promise<{ changes: number; lastID: number }> {
    const path = this.path;
    const done = (resolve: (r: { changes: number; lastID: number }) => void, reject: (e: unknown) => void) =>
      function (this: sqlite3.RunResult, err: Error | null) {
        if (err) return reject(storageError(err, path));
        resolve({ changes: this.changes, lastID: this.lastID });
      };
    if (this.early) await this.settleEarly();
    if (!keepable(params)) return new Promise((resolve, reject) => void this.db.run(sql, params, done(resolve, reject)));
    const statement = await this.statement(sql);
    return new Promise((resolve, reject) => void statement.run(params, done(resolve, reject)));
  }

  /** The first row. Through all(): a kept statement stopped after its first row would hold its read transaction. */
  async get<T = Row>(sql: string, params: SqlParam[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  /** Every row; a kept statement always runs to completion, so it never holds a read transaction (or a snapshot). */
  async all<T = Row>(sql: string, params: SqlParam[] = []): Promise<T[]> {
    const done = (resolve: (rows: T[]) => void, reject: (e: unknown) => void) => (err: Error | null, rows: T[]) =>
      err ? reject(storageError(err, this.path)) : resolve(rows);
    if (this.early) await this.settleEarly();
    if (!keepable(params)) return new Promise((resolve, reject) => void this.db.all(sql, params, done(resolve, reject)));
    const statement = await this.statement(sql);
    return new Promise((resolve, reject) => void statement.all(params, done(resolve, reject)));
  }

  close(): Promise<void> {
    return this.queue.then(async () => {
      await Promise.all([...this.prepared.values()].map(finalize));
      this.prepared.clear();
      this.preparedChars = 0;
      await new Promise<void>((resolve) => {
        this.db.close(() => resolve());
      });
    });
  }

  private statement(sql: string): Promise<sqlite3.Statement> {
    let statement = this.prepared.get(sql);
    if (statement) {
      this.prepared.delete(sql); // most recently used goes last
      this.prepared.set(sql, statement);
      return statement;
    }
    statement = new Promise((resolve, reject) => {
      const prepared = this.db.prepare(sql, (err) => {
        if (!err) return resolve(prepared);
        if (this.prepared.delete(sql)) this.preparedChars -= sql.length;
        reject(storageError(err, this.path));
      });
    });
    this.prepared.set(sql, statement);
    this.preparedChars += sql.length;
    for (const [oldestSql, oldest] of this.prepared) {
      if (this.preparedChars <= PREPARED_SQL_CHARS || oldestSql === sql) break;
      this.prepared.delete(oldestSql);
      this.preparedChars -= oldestSql.length;
      // node-sqlite3 queues the finalize behind anything still running on that statement.
      void finalize(oldest);
    }
    return statement;
  }
}

function keepable(params: SqlParam[]): boolean {
  let bytes = 0;
  for (const param of params) {
    if (typeof param === 'string') bytes += param.length * 3;
    else if (Buffer.isBuffer(param)) bytes += param.length;
    if (bytes > KEPT_PARAM_BYTES) return false;
  }
  return true;
}

async function finalize(statement: Promise<sqlite3.Statement>): Promise<void> {
  const prepared = await statement.catch(() => null);
  if (prepared) await new Promise<void>((resolve) => prepared.finalize(() => resolve()));
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
