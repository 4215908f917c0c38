/**
 * The store: the source of truth behind the cache (cache-aside.ts). Two implementations, one contract —
 * sqlite.ts (a file on one host, the default) and postgres.ts (a shared database for many hosts). The cache-aside
 * policy, the commands, batch, the REPL and serve use this interface only; __tests__/store/conformance.test.ts
 * runs one suite against both.
 *
 * What every implementation promises (COHERENCE.md explains why each matters to the cache):
 * - Writes run in transactions serialised against every other writer of the database, in any process: each
 *   write that changes something takes the next database revision, gap-free and in commit order, and the change
 *   log (changes.ts) gets its changes in the same transaction.
 * - Conditions and counters (writes.ts) are decided against rows read under that serialisation, never from a
 *   cached copy.
 * - Every key whose cached copy a write may have made stale gets an outbox row in the write's transaction, and
 *   the outcome carries those rows and the pool record as the transaction saw it.
 * - Times are milliseconds on the caller's clock (`now` arguments); `clockOffsetMs` says how to correct the local
 *   clock so every host sharing the database uses the same one (0 for a file only one host sees).
 * - Failures are StorageErrors; nothing prints.
 */
import type { Change, KeySelector } from './changes.js';
import type { Acquired, Lease } from './locks.js';
import type { Entry, Write, WriteResult } from './writes.js';

export type { Entry, Write, WriteResult } from './writes.js';

export interface CommitOptions {
  /**
   * Called when the transaction's last trip (its writes and COMMIT, then the fsync) has been sent: the caller may do
   * other work on this thread meanwhile (batch plans its next group then). Not called for a transaction that fails
   * before it commits.
   */
  onCommitting?: () => void;
}

export interface Store {
  /** Where the data lives, safe to print (a PostgreSQL URL without its password). */
  readonly location: string;
  /** Random id made with the database: prefixes every cache key so databases never see each other's copies. */
  readonly namespaceId: string;
  /** Add to Date.now() for the database's clock (PostgreSQL's `now()`); 0 for SQLite. */
  readonly clockOffsetMs: number;
  /** Wakes watchers when the database may have changed (any process, any host). */
  readonly notifier: ChangeSource;

  read(key: string, now: number): Promise<Entry | undefined>;
  /** Live entries for many keys (absent keys are simply missing from the map). */
  readMany(keys: string[], now: number): Promise<Map<string, Entry>>;
  /**
   * One page of live entries in key order (UTF-8 byte order): keys starting with `prefix` and greater than
   * `afterKey`, at most `limit`; `done` says the range is exhausted. Without `withValues` values are empty.
   */
  scan(prefix: string, afterKey: string, limit: number, now: number, withValues?: boolean): Promise<{ entries: Entry[]; done: boolean }>;
  /** How many live keys start with `prefix`. */
  countLive(prefix: string, now: number): Promise<number>;
  stats(now: number): Promise<StoreStats>;
  /** The database revision, read now. */
  revision(): Promise<number>;

  /** Applies the writes in one transaction, in order; each that changes something takes the next revision. */
  applyWrites(writes: Write[], now: number, options?: CommitOptions): Promise<WriteOutcome>;
  /**
   * Applies every chunk of an async source in ONE transaction and at ONE revision (import), ending above
   * `floor()` (asked once the source is read); a source that throws rolls everything back.
   */
  applyWriteStream(chunks: AsyncIterable<Write[]>, now: number, floor?: () => number): Promise<StreamOutcome>;
  /** Deletes every key starting with `prefix` ('' = all) in one transaction and one revision. */
  deletePrefix(prefix: string, now: number): Promise<PrefixDeleteOutcome>;
  /** Removes keys whose expiry has passed (a bounded number) as `expire` changes at one new revision; resolves to 1 if any went, else 0. */
  expireDue(now: number): Promise<number>;

  /** The oldest pending invalidations, and the pool record read with them. */
  pendingInvalidations(limit: number): Promise<{ pool: string | null; pending: PendingInvalidation[] }>;
  /** Outbox rows with ids in [afterId + 1, lastId], oldest first, at most `limit` (a prefix delete's pages). */
  owedPage(afterId: number, lastId: number, limit: number): Promise<PendingInvalidation[]>;
  /** Forget invalidations that memcached has acknowledged. */
  clearInvalidations(ids: number[]): Promise<void>;

  /** The pool record's text, read now. */
  pool(): Promise<string | null>;
  /** Records `record` unless a pool is recorded already; resolves to the one recorded. */
  recordPool(record: string): Promise<string>;
  /** Replaces the pool record in one write transaction (`next` returns null to leave it). */
  changePool(next: (current: string | null) => string | null): Promise<{ before: string | null; after: string | null }>;

  /** Changes of the selected keys after the position (revision, key), in order, at most `limit`. */
  changesAfter(after: { revision: number; key: string }, selector: KeySelector, limit: number): Promise<ChangePage>;
  /** The earliest expiry among the selected keys still live at `now`, or null. */
  nextExpiry(selector: KeySelector, now: number): Promise<number | null>;

  /** Takes the named lease when it is free, at a new revision (the fencing token). */
  acquireLease(name: string, owner: string, ttlMs: number, now: number): Promise<Acquired>;
  /** Extends the owner's lease; false when it is no longer the owner's. */
  renewLease(lease: Lease, ttlMs: number, now: number): Promise<boolean>;
  /** Gives the lease back, if it is still the owner's. */
  releaseLease(lease: Lease): Promise<boolean>;

  close(): Promise<void>;
}

/** Something that tells listeners "the database may have changed"; subscribe returns the unsubscribe. */
export interface ChangeSource {
  subscribe(listener: () => void): () => void;
}

export interface PendingInvalidation {
  id: number;
  key: string;
}

export interface StoreStats {
  /** The database revision: +1 for every write command that changed something. */
  revision: number;
  keys: number;
  expiredKeys: number;
  pendingInvalidations: number;
  /** The database's size on disk (PostgreSQL: its tables and indexes). */
  dbBytes: number;
}

export interface WriteOutcome {
  /** Per write, in order: what it did (writes.ts). */
  results: WriteResult[];
  /** Invalidations the cache is owed after commit (one per key). */
  owed: PendingInvalidation[];
  /** The pool record's text as the write transaction saw it. */
  pool: string | null;
  /** The database revision after the writes (expired rows purged by the same transaction may take one more). */
  revision: number;
}

export interface StreamOutcome {
  writes: number;
  /** Writes that found a live row (overwrites of present keys). */
  existed: number;
  owed: PendingInvalidation[];
  /** The pool record's text as the transaction saw it (null also for an import of nothing). */
  pool: string | null;
  /** The database revision after the import (the import's own when it changed anything). */
  revision: number;
}

export interface ChangePage {
  changes: Change[];
  /** The database revision when the page was read. */
  revision: number;
  /** Changes at or below this revision are no longer kept. */
  compacted: number;
}

export interface PrefixDeleteOutcome {
  /** Live keys removed. */
  count: number;
  /** The database revision after the delete (its own when count > 0). */
  revision: number;
  pool: string | null;
  /** The outbox ids the delete recorded (every key that had a row), delivered page by page; null: none. */
  owed: { firstId: number; lastId: number } | null;
}
