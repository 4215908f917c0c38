/**
 * The one place that speaks node-postgres (`pg`, pure JavaScript; never pg-native, which corrupts bytea
 * parameters): a pool of connections, write transactions with retry where a retry cannot apply anything twice,
 * PostgreSQL's clock, and the mapping from driver errors to StorageErrors a user can act on. The URL is shown only
 * without its password (location.ts); PGPASSWORD, ~/.pgpass and the other PG* variables work as in libpq.
 */
import { createRequire } from 'node:module';
import { userInfo } from 'node:os';
import type Pg from 'pg';
import { parse } from 'pg-connection-string';
import { StorageError, StoreUnavailableError } from '../errors.js';
import { redactUrl } from './location.js';

export type PgParam = string | number | Buffer | null | (string | number | Buffer | null)[];
export type PgClient = Pg.PoolClient;

const pg = loadPg();

/** int8 columns (revisions, expiry times, counts) as numbers: every value tbase stores there is below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof Pg.types.getTypeParser,
};

/**
 * How long a transaction may sit idle with its locks held (a writer stopped with SIGSTOP, a host that vanished)
 * before PostgreSQL ends it: every writer of the database waits for the revision row meanwhile. An import reads
 * its source inside the transaction, so this bounds a stall of that source too.
 */
const IDLE_IN_TRANSACTION_MS = 60_000;
/**
 * The longest a read may wait for PostgreSQL's answer, and any statement of a write transaction: a server that
 * stopped answering (paused, a host gone without a reset) would otherwise hang the command for good. Reads are
 * single statements on indexed ranges; the longest write statement (a prefix delete of millions of keys) takes
 * seconds.
 */
const READ_TIMEOUT_MS = 30_000;
const STATEMENT_TIMEOUT_MS = 120_000;
/** Connection-level failures: nothing of the statement reached a commit, a fresh connection may be tried. */
const CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);

export class PgConnection {
  private constructor(
    private readonly pool: Pg.Pool,
    /** The connection settings the pool was made with (a dedicated client takes the same). */
    private readonly config: Pg.ClientConfig,
    /** The URL without its password, for messages. */
    readonly shown: string,
  ) {}

  static create(url: string, options: { connectTimeoutMs: number; lockTimeoutMs: number; max?: number }): PgConnection {
    const config = connectionConfig(url);
    const pool = new pg.Pool({
      ...config,
      max: options.max ?? 8,
      connectionTimeoutMillis: options.connectTimeoutMs,
      lock_timeout: options.lockTimeoutMs,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
      keepAlive: true,
      idleTimeoutMillis: 10_000,
      query_timeout: STATEMENT_TIMEOUT_MS,
      allowExitOnIdle: true,
      types: TYPES,
    });
    // An idle connection that dies (PostgreSQL restarted) is dropped from the pool; the next query opens another.
    pool.on('error', () => undefined);
    return new PgConnection(pool, config, redactUrl(url));
  }

  /** A read: one statement, retried once on a fresh connection when the connection failed (reads apply nothing). */
  async query<R extends Pg.QueryResultRow>(sql: string, params: PgParam[] = []): Promise<R[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        // query_timeout per query is read by pg's client (lib/client.js), though its types do not list it.
        const query = { text: sql, values: params, query_timeout: READ_TIMEOUT_MS } as Pg.QueryConfig;
        return (await this.pool.query<R>(query)).rows;
      } catch (error) {
        if (attempt < 2 && isConnectionFailure(error) && !isTimeout(error)) continue;
        throw this.storageError(error);
      }
    }
  }

  /**
   * A transaction on one connection. When the connection fails before COMMIT is sent, PostgreSQL rolls the
   * transaction back, so it is tried once more on a fresh connection (the usual case: a pooled connection that
   * died when PostgreSQL restarted) — unless `replayable` is false: an import's source cannot be read twice, and a
   * second run would commit only what was left of it. A failure during COMMIT leaves the outcome unknown: it is
   * reported, never retried, so no write is applied twice. An error of `work`'s own (an import's malformed line, its
   * source's read error) comes through as it is, like SQLite's: only PostgreSQL's and the connection's become
   * StorageErrors.
   */
  async transaction<T>(work: (client: PgClient) => Promise<T>, options: { replayable?: boolean; onCommitting?: () => void } = {}): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: PgClient | undefined;
      let committing = false;
      try {
        client = await this.pool.connect();
        // The pool stops listening to a client it hands out, and a connection that dies while this holds it (a
        // restart, or idle_in_transaction_session_timeout while an import reads its source) emits 'error': with no
        // listener that would be an uncaught exception. The next query reports it instead.
        client.on('error', ignore);
        await client.query('BEGIN');
        const result = await work(client);
        committing = true;
        const committed = client.query('COMMIT');
        options.onCommitting?.();
        await committed;
        client.off('error', ignore);
        client.release();
        return result;
      } catch (error) {
        // Whether the connection broke is asked of the connection (a ROLLBACK fails on a dead one), not guessed
        // from the error: a source's own EIO or ECONNRESET says nothing about PostgreSQL.
        const broken = !client || committing || !(await client.query('ROLLBACK').then(() => true, () => false));
        client?.off('error', ignore);
        client?.release(broken ? (error as Error) : undefined);
        const failed = broken && isConnectionFailure(error);
        if (failed && !committing && attempt < 2 && options.replayable !== false) continue;
        if (failed && committing) throw new StoreUnavailableError(`PostgreSQL at ${this.shown} went away during a commit: the write may or may not have been applied (${describe(error)})`, { cause: error });
        throw broken || error instanceof pg.DatabaseError ? this.storageError(error) : error;
      }
    }
  }

  /** A connection of its own, outside the pool (LISTEN holds one for as long as anyone watches). */
  dedicatedClient(): Pg.Client {
    return new pg.Client({ ...this.config, connectionTimeoutMillis: this.pool.options.connectionTimeoutMillis, keepAlive: true, types: TYPES });
  }

  /**
   * PostgreSQL's clock minus this host's, in ms, from one round trip (the server's reading is taken as the
   * midpoint): hosts that share the database then agree on time to within their round trips.
   */
  async clockOffset(): Promise<number> {
    const sent = Date.now();
    const [row] = await this.query<{ now: number }>('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now');
    const received = Date.now();
    return Math.round(row!.now - (sent + received) / 2);
  }

  storageError(error: unknown): StorageError {
    if (error instanceof StorageError) return error;
    const Kind = isConnectionFailure(error) ? StoreUnavailableError : StorageError;
    return new Kind(`PostgreSQL at ${this.shown}: ${describe(error)}`, { cause: error });
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * The URL as pg's connection settings (host, port, user, database, ssl…), with the password as libpq finds it:
 * the URL's own, else PGPASSWORD, else the matching line of ~/.pgpass (or PGPASSFILE). pg would read .pgpass
 * itself, but prints a deprecation warning when it does; asking the same module (pgpass) directly keeps stderr clean.
 */
function connectionConfig(text: string): Pg.ClientConfig {
  const { password, ...settings } = parse(text);
  const config = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined && value !== null && value !== '')) as Pg.ClientConfig;
  if (password) return { ...config, password };
  const user = config.user || process.env.PGUSER || userInfo().username;
  const where = {
    host: config.host || process.env.PGHOST || 'localhost',
    port: Number(config.port || process.env.PGPORT || 5432),
    database: config.database || process.env.PGDATABASE || user,
    user,
  };
  // pg treats a password function that resolves to undefined as "no password" (its types say string only).
  const lookUp = async (): Promise<string> => {
    if (process.env.PGPASSWORD !== undefined) return process.env.PGPASSWORD;
    const pgpass = createRequire(import.meta.url)('pgpass') as (info: object, done: (password?: string) => void) => void;
    return new Promise<string>((resolve) => pgpass(where, (found) => resolve(found as string)));
  };
  return { ...config, password: lookUp };
}

function ignore(): void {}

/**
 * pg, loaded once. At load it asks whether it runs in a Cloudflare Worker; on Node 20, which has no `navigator`,
 * it finds out by building a fetch Response, which loads undici: about 20 ms of every PostgreSQL command's start
 * (measured: require('pg') 61 ms, 43 ms with this). A navigator that answers first, there only while pg loads,
 * skips that.
 */
function loadPg(): typeof Pg {
  const global = globalThis as { navigator?: unknown };
  const shim = global.navigator === undefined;
  if (shim) global.navigator = { userAgent: 'Node.js' };
  try {
    return createRequire(import.meta.url)('pg') as typeof Pg;
  } finally {
    if (shim) delete global.navigator;
  }
}

function isTimeout(error: unknown): boolean {
  return /Query read timeout/.test((error as Error).message ?? '');
}

export function isConnectionFailure(error: unknown): boolean {
  if (isTimeout(error)) return true;
  const { code, message } = error as { code?: string; message?: string };
  if (code && (CONNECTION_CODES.has(code) || code.startsWith('E'))) return true; // ECONNREFUSED, ECONNRESET, …
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(message ?? '');
}

/** One line: what failed, in the user's terms; never the URL (it may hold a password). */
function describe(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  if (isTimeout(error)) return 'no answer in time (is the server overloaded or stopped?)';
  if (code === 'ECONNREFUSED') return 'connection refused (is PostgreSQL running there?)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === '28P01' || code === '28000') return `authentication failed (${message ?? code}); set PGPASSWORD or ~/.pgpass`;
  if (/client password must be a string|password must be a string/i.test(message ?? '')) return 'the server asks for a password and none was found: set PGPASSWORD or ~/.pgpass';
  if (code === '3D000') return `${message ?? 'database does not exist'}`;
  if (code === '55P03') return 'another writer held the database too long (lock timeout; TBASE_BUSY_TIMEOUT_MS)';
  if (code === '42501') return `permission denied (${message ?? code})`;
  return (message ?? String(error)).split('\n')[0]!;
}
