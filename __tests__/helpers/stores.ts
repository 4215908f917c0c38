/**
 * The stores a conformance test runs against, one describe block per kind:
 *
 *   describe.each(storeKinds())('%s store', (kind) => { … await kind.open() … });
 *
 * `kind.open()` gives a fresh, empty database each call: SQLite a new temp file, PostgreSQL a new schema
 * (`?schema=t_<n>`, as a user would write it) on one server per test file, started at first use (isPostgres(kind)
 * gives its server, for restarts).
 * `kind.openAgain(store)` opens a second instance on the same database (another process or host).
 * `kind.location()` names a fresh, empty database as a user gives it to `--db` / `TBASE_DB` (for tests that spawn
 * the bin), without opening it.
 * Every store opened is closed after its test (closing it earlier is fine); the server is stopped and the temp
 * files removed after the file. Call storeKinds() once, at the top level of the test file: it registers those hooks.
 * `openLocation(db)` opens the store such a `--db` text names (to seed or inspect what the bin wrote); its caller closes it.
 */
import { parseLocation } from '../../src/store/location.js';
import { PostgresStore, type PostgresOptions } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/store.js';
import { postgresAvailable, startPostgres, type PostgresServer } from './postgres.js';
import { removeTempDirs, tempDbPath } from './temp.js';

export interface StoreOptions {
  /** Revisions whose changes the change log keeps (changes.ts). */
  historyRevisions?: number;
}

export interface StoreKind {
  readonly name: 'sqlite' | 'postgres';
  open(options?: StoreOptions): Promise<Store>;
  /** A second instance on `store`'s database, with the same options. */
  openAgain(store: Store): Promise<Store>;
  /** A fresh database's `--db` / `TBASE_DB` text (a new temp file path, or the server's URL with a new schema); nothing is opened. */
  location(): Promise<string>;
  /** The name, so `%s` in a test title prints it. */
  toString(): string;
}

export function isPostgres(kind: StoreKind): kind is PostgresKind {
  return kind.name === 'postgres';
}

export interface PostgresKind extends StoreKind {
  readonly name: 'postgres';
  /** This file's server, started on first use. */
  server(): Promise<PostgresServer>;
  /** A store on a fresh schema reached through `url` (another spelling of the server's, e.g. with a password). */
  openAt(url: string, options?: PostgresOptions): Promise<Store>;
}

/** A busy SQLite file makes writers wait this long before SQLITE_BUSY (the tests run writers side by side). */
const BUSY_TIMEOUT_MS = 10_000;

/** The store a `--db` / `TBASE_DB` text names (e.g. one from `kind.location()`), as the bin opens it; the caller closes it. */
export async function openLocation(db: string, options: StoreOptions = {}): Promise<Store> {
  const location = parseLocation(db);
  return location.kind === 'postgres'
    ? PostgresStore.open(location.url, location.schema, options)
    : SqliteStore.open(location.path, BUSY_TIMEOUT_MS, options);
}

/**
 * SQLite, and PostgreSQL when it is installed (locally the PostgreSQL tests skip themselves; CI's global setup
 * fails when it is missing).
 */
export function storeKinds(): StoreKind[] {
  const opened = new Set<Store>();
  const reopen = new WeakMap<Store, () => Promise<Store>>();
  let server: Promise<PostgresServer> | null = null;
  let schemas = 0;

  /** Remembers how to open `store` again, and makes its close() idempotent so the cleanup can always call it. */
  const track = (store: Store, again: () => Promise<Store>): Store => {
    opened.add(store);
    reopen.set(store, async () => track(await again(), again));
    const close = store.close.bind(store);
    store.close = async () => {
      if (opened.delete(store)) await close();
    };
    return store;
  };
  const withSchema = (url: string) => `${url}${url.includes('?') ? '&' : '?'}schema=t_${++schemas}`;
  const openAgain = (store: Store): Promise<Store> => {
    const again = reopen.get(store);
    if (!again) throw new Error('openAgain: this store was not opened by storeKinds()');
    return again();
  };

  const sqlite: StoreKind = {
    name: 'sqlite',
    async open(options = {}) {
      const path = tempDbPath();
      const again = () => SqliteStore.open(path, BUSY_TIMEOUT_MS, options);
      return track(await again(), again);
    },
    openAgain,
    location: async () => tempDbPath(),
    toString: () => 'sqlite',
  };

  const postgres: PostgresKind = {
    name: 'postgres',
    // fsync off: durability against power loss is not what these tests look at (a killed server still recovers).
    server: () => (server ??= startPostgres({ settings: { fsync: 'off' } })),
    async open(options = {}) {
      return postgres.openAt((await postgres.server()).url, options);
    },
    async openAt(url, options = {}) {
      const location = parseLocation(withSchema(url));
      if (location.kind !== 'postgres') throw new Error(`not a PostgreSQL URL: ${url}`);
      const again = () => PostgresStore.open(location.url, location.schema, options);
      return track(await again(), again);
    },
    openAgain,
    location: async () => withSchema((await postgres.server()).url),
    toString: () => 'postgres',
  };

  afterEach(async () => {
    await Promise.all([...opened].map((store) => store.close()));
  });
  afterAll(async () => {
    removeTempDirs();
    const running = server;
    server = null;
    if (running) await (await running).stop();
  });
  return postgresAvailable() ? [sqlite, postgres] : [sqlite];
}
