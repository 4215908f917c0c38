/**
 * The cache-aside policy: memcached in front, SQLite behind. Every coherence rule lives here and nowhere else.
 * The protocol (../shared/COHERENCE.md, checked there by a randomized model) in short:
 *
 * Write: one SQLite transaction applies the change and records an outbox row per key whose cached copy must go
 *   (sqlite.ts decides which). After commit, each such key gets a short-lived TOMBSTONE in memcached — never the
 *   new value, never a plain delete — and acknowledged outbox rows are removed. If memcached cannot be reached,
 *   the rows stay and the next process (or the next read here) replays them.
 * Read: replay pending invalidations first; then memcached. A value is a hit; a tombstone or nothing is a miss,
 *   answered from SQLite. A miss fills the cache only with `add` (refused while a tombstone or any copy is there)
 *   and only from a row read moments ago, well inside a tombstone's life, so a slow reader cannot put back a value
 *   that a writer has replaced. After a fill the row is read again; if it changed, the copy is dropped with a
 *   tombstone (a delete could remove a writer's tombstone and reopen the window).
 * Copies carry the key's expiry, so a copy is never served after its key has expired.
 * Pool: copies live on the pool the database records (pool.ts), under its epoch. Every cache read learns the
 *   record from the outbox query it makes anyway, and every write from its own transaction; an operation uses the
 *   cache only when that record is this process's servers, and then under that record's epoch. Otherwise it reads
 *   SQLite and leaves its invalidations in the outbox for a process on the recorded pool to deliver.
 */
import { CacheError } from '../errors.js';
import { cacheKey, MAX_CACHED_BYTES, MAX_TTL_SECONDS, overallState, type Cache } from './cache.js';
import { decodePoolRecord, encodePoolRecord, newPoolRecord, usesPool, type PoolRecord } from './pool.js';
import type { CommitOptions, Entry, Store, StoreStats, Write, WriteResult } from './store.js';

export interface CacheAsideOptions {
  now: () => number;
  /** Called for every cache failure; the caller decides how loudly to say so. */
  onCacheFault: (error: CacheError) => void;
  /**
   * Called when an operation finds the recorded pool is not this process's servers (null: no readable record),
   * each time it does; the caller decides how often to say so.
   */
  onPoolMismatch?: (recorded: PoolRecord | null, configured: readonly string[]) => void;
  /** A row older than this is never used to fill the cache (it must land while any tombstone still lives). */
  fillWindowMs?: number;
  /** memcached expiry has one-second granularity: a TTL of N lives between N-1 and N seconds. */
  tombstoneTtlSeconds?: number;
}

export interface Lookup {
  entry: Entry | undefined;
  source: 'cache' | 'store';
}

export interface Counters {
  hits: number;
  misses: number;
  fills: number;
  /** Fills memcached refused because a tombstone (or a copy) was there: late fills stopped by `add`. */
  refusedFills: number;
  /** Fills that validation found stale and dropped again (a tombstone evicted too early). */
  rejectedFills: number;
}

export interface PoolState {
  /** The pool the database records; null before any process used memcached on it. */
  recorded: PoolRecord | null;
  /** This process's servers (canonical); empty with --no-cache. */
  configured: string[];
  /** Whether this process reads and fills copies on the recorded pool. */
  using: boolean;
}

export interface PoolChange {
  /** The pool recorded before (null: none). */
  before: PoolRecord | null;
  /** False when the new list was the recorded pool already: nothing changed, no new epoch. */
  changed: boolean;
}

export interface CacheAsideStats extends StoreStats {
  /** 'off' with --no-cache, and also while the recorded pool is not this process's servers. */
  cache: 'off' | 'up' | 'down' | 'unknown';
  pool: PoolState;
  servers: Record<string, 'up' | 'down' | 'unknown'>;
  /** Hits and misses of every process on this database, as far as memcached has kept count. */
  hits: number | null;
  misses: number | null;
  process: Counters;
}

const TOMBSTONE = Buffer.from('T');
/**
 * The copy format: 'R' + expiry (float64 ms, 0 = never) + revision, createRevision, version (float64 each).
 * Copies of an older format ('V', without revisions) are not recognised and read as a miss (schema 3 also moved
 * the pool to a new epoch, so none is ever looked up).
 */
const VALUE_TAG = 0x52; // 'R'
export const COPY_HEADER_BYTES = 33;
const OUTBOX_PAGE = 500;
const LIST_PAGE = 256;
/** Tombstones in flight at once for big batch groups and imports. */
const INVALIDATE_PAGE = 1000;
/**
 * Cache reads (and fills) in flight at once in getMany. 256 keep loopback memcached busy; each in flight holds a
 * few KiB of memjs's requests, closures and replies, which a bigger window only keeps alive longer (memory.ts).
 */
const GET_PIPELINE = 256;

/** The cache as one operation may use it: the recorded pool's epoch, when the pool is this process's servers. */
interface CacheScope {
  cache: Cache;
  epoch: number;
}

export class CacheAsideStore {
  readonly counters: Counters = { hits: 0, misses: 0, fills: 0, refusedFills: 0, rejectedFills: 0 };
  private readonly fillWindowMs: number;
  private readonly tombstoneTtlSeconds: number;
  private flushed: Pick<Counters, 'hits' | 'misses'> = { hits: 0, misses: 0 };
  /** The last pool record text an operation saw, and what it means here (decoded once per change). */
  private lastPool: { text: string; scope: CacheScope | null } | null = null;

  constructor(
    readonly store: Store,
    /** null when the cache is turned off (--no-cache): writes still record their invalidations in the outbox. */
    private readonly cache: Cache | null,
    private readonly options: CacheAsideOptions,
  ) {
    this.fillWindowMs = options.fillWindowMs ?? 500;
    this.tombstoneTtlSeconds = options.tombstoneTtlSeconds ?? 3;
  }

  get cacheEnabled(): boolean {
    return this.cache !== null;
  }

  /** Whether the last operation could use the recorded pool (undefined before any, and with --no-cache false). */
  get usingPool(): boolean | undefined {
    if (!this.cache) return false;
    return this.lastPool ? this.lastPool.scope !== null : undefined;
  }

  /** The memcached key holding `key`'s copy under the pool last seen, or null when this process uses no cache. */
  copyKey(key: string): string | null {
    const scope = this.lastPool?.scope;
    return scope ? cacheKey(this.store.namespaceId, scope.epoch, key) : null;
  }

  async get(key: string): Promise<Lookup> {
    const [lookup] = await this.getMany([key]);
    return lookup!;
  }

  async set(key: string, value: Buffer, expiresAt: number | null): Promise<WriteResult> {
    const [result] = await this.write([{ op: 'set', key, value, expiresAt }]);
    return result!;
  }

  async delete(key: string): Promise<WriteResult> {
    const [result] = await this.write([{ op: 'delete', key }]);
    return result!;
  }

  /**
   * Commit first, then invalidate: all the writes in one transaction (sqlite.ts applyWrites), then tombstones for
   * the keys owed one, pipelined. The cache never holds a value SQLite has not committed. Resolves to what each
   * write did (conditions and counters are decided in that transaction, never from a copy).
   */
  async write(writes: Write[], { onCommitted, onCommitting }: { onCommitted?: () => void } & CommitOptions = {}): Promise<WriteResult[]> {
    const { results, owed, pool } = await this.store.applyWrites(writes, this.options.now(), { onCommitting });
    onCommitted?.(); // serve's next write round may begin while these invalidations go out (rounds.ts)
    // The pool as the transaction saw it holds the copies this write must invalidate (a pool change is a write
    // transaction too: no write commits on the old pool after it). Asked even when nothing is owed: the first
    // write on a database records this process's servers as its pool.
    const scope = await this.scopeFor(pool);
    if (scope && owed.length > 0) await this.invalidatePaged(scope, owed);
    return results;
  }

  /**
   * Removes every key under `prefix` in one transaction (one revision), then delivers the invalidations it
   * recorded page by page from the outbox: memory stays bounded however many keys went. A page memcached does
   * not take stays in the outbox for the next read (here or in any process) to replay.
   */
  async deletePrefix(prefix: string): Promise<{ count: number; revision: number }> {
    const { count, revision, pool, owed } = await this.store.deletePrefix(prefix, this.options.now());
    const scope = await this.scopeFor(pool);
    if (scope && owed) {
      for (let after = owed.firstId - 1; ; ) {
        const page = await this.store.owedPage(after, owed.lastId, INVALIDATE_PAGE);
        if (page.length === 0 || !(await this.invalidate(scope, page))) break;
        after = page.at(-1)!.id;
      }
    }
    return { count, revision };
  }

  /** Live entries in key order, one page in memory at a time; `keysOnly` leaves values empty and unread. */
  async *list(prefix: string, limit = Infinity, options: { keysOnly?: boolean } = {}): AsyncGenerator<Entry> {
    let afterKey = '';
    let left = limit;
    while (left > 0) {
      const page = await this.store.scan(prefix, afterKey, Math.min(LIST_PAGE, left), this.options.now(), !options.keysOnly);
      for (const entry of page.entries) yield entry;
      left -= page.entries.length;
      const last = page.entries.at(-1);
      if (page.done || !last) return;
      afterKey = last.key;
    }
  }

  async stats(): Promise<CacheAsideStats> {
    // Stats uses memcached (the shared counters): on a database with no pool yet, it records this process's.
    const [storeStats, { pool, scope }] = await Promise.all([this.store.stats(this.options.now()), this.readPool(true)]);
    const base = { ...storeStats, pool, process: { ...this.counters } };
    const cache = scope?.cache;
    if (!cache) return { ...base, cache: 'off', servers: {}, hits: null, misses: null };
    await Promise.all([this.flushCounters(), cache.probe()]);
    // A counter memcached has never seen (or evicted) reads as 0; an unreachable one as null (unknown).
    const [hits, misses] = await Promise.all(
      (['hits', 'misses'] as const).map((name) =>
        this.attempt(async () => Number((await cache.get(this.counterKey(name)))?.toString() ?? 0)),
      ),
    );
    const servers = cache.health();
    return { ...base, cache: overallState(servers), servers, hits: hits ?? null, misses: misses ?? null };
  }

  /** The recorded pool, read now (never recorded by looking), and whether this process uses it. */
  async poolState(): Promise<PoolState> {
    return (await this.readPool(false)).pool;
  }

  private async readPool(record: boolean): Promise<{ pool: PoolState; scope: CacheScope | null }> {
    let text = await this.store.pool();
    const scope = await this.scopeFor(text, { record, notify: false });
    if (text === null && record) text = this.lastPool?.text ?? null; // recorded just now (by this or another process)
    const configured = this.cache ? [...this.cache.servers] : [];
    return { pool: { recorded: decodePoolRecord(text), configured, using: scope !== null }, scope };
  }

  /**
   * Makes `servers` the recorded pool under the next epoch (the new pool starts cold: no copy made under an older
   * epoch is read again). Invalidations still in the outbox stay there and are delivered by the first process on
   * the new pool before its first read. The same set again changes nothing.
   */
  async changePool(servers: readonly string[]): Promise<PoolChange> {
    const { before, after } = await this.store.changePool((current) => {
      const recorded = decodePoolRecord(current);
      if (recorded && usesPool(recorded, servers)) return null;
      // An unreadable record (edited by hand) hides which epochs were used: seconds since 1970 are above any.
      const epoch = recorded ? recorded.epoch + 1 : current === null ? 1 : Math.floor(Date.now() / 1000);
      return encodePoolRecord(newPoolRecord(servers, epoch));
    });
    return { before: decodePoolRecord(before), changed: after !== before };
  }

  /** Adds this process's hits and misses to the database's shared counters on its recorded pool. */
  async flushCounters(): Promise<void> {
    const cache = this.lastPool?.scope?.cache;
    if (!cache) return;
    // Both in one round (one write, one deadline).
    await Promise.all(
      (['hits', 'misses'] as const).map(async (name) => {
        const delta = this.counters[name] - this.flushed[name];
        if (delta <= 0) return;
        if ((await this.attempt(() => cache.increment(this.counterKey(name), delta))) !== null) this.flushed[name] += delta;
      }),
    );
  }

  /**
   * Reads keys with the read protocol (module comment): replay pending invalidations first;
   * cache calls pipelined (all in flight together); misses read from SQLite in bulk; fills by `add` only from
   * rows read within the fill window, then validated by a re-read and tombstoned on mismatch. Input order kept.
   */
  async getMany(keys: string[]): Promise<Lookup[]> {
    const scope = await this.replayInvalidations();
    const unique = [...new Set(keys)];
    const answers = new Map<string, Lookup>();
    let missed = unique;
    if (scope) {
      missed = [];
      const copies: (Buffer | null)[] = [];
      // A bounded number in flight: memjs pipelines them on one connection, but thousands at once only queue up
      // behind each other and run into the per-call timeout.
      for (let i = 0; i < unique.length; i += GET_PIPELINE) {
        const page = unique.slice(i, i + GET_PIPELINE);
        for (const copy of await this.readCopies(scope, page)) copies.push(copy);
      }
      const now = this.options.now();
      unique.forEach((key, i) => {
        const copy = copies[i];
        const entry = copy ? decodeCopy(key, copy, now) : undefined;
        if (entry) {
          this.counters.hits++;
          answers.set(key, { entry, source: 'cache' });
        } else {
          this.counters.misses++;
          missed.push(key);
        }
      });
    }
    if (missed.length > 0) {
      const readAt = this.options.now();
      const rows = await this.store.readMany(missed, readAt);
      for (const key of missed) answers.set(key, { entry: rows.get(key), source: 'store' });
      if (scope && this.options.now() - readAt < this.fillWindowMs) {
        await this.fillMany(scope, [...rows.values()].filter(copyFits), readAt);
      }
    }
    return keys.map((key) => answers.get(key)!);
  }

  /** One pipelined round of cache reads; a key the cache could not answer reads as absent (a miss). */
  private async readCopies({ cache, epoch }: CacheScope, keys: string[]): Promise<(Buffer | null)[]> {
    return this.reportFaults(await cache.getMany(keys.map((key) => cacheKey(this.store.namespaceId, epoch, key))));
  }

  /** One pipelined round of fills (`add` only); a fill the cache could not take reads as not stored (null). */
  private async addCopies({ cache, epoch }: CacheScope, entries: Entry[], readAt: number): Promise<(boolean | null)[]> {
    const items = entries.map((entry) => ({
      key: cacheKey(this.store.namespaceId, epoch, entry.key),
      value: encodeCopy(entry),
      ttlSeconds: copyTtlSeconds(entry, readAt),
    }));
    return this.reportFaults(await cache.addMany(items));
  }

  /** Per-item results of a round: each CacheError is reported and becomes null, like attempt() does for one call. */
  private reportFaults<T>(results: (T | CacheError)[]): (T | null)[] {
    return results.map((result) => {
      if (!(result instanceof CacheError)) return result;
      this.options.onCacheFault(result);
      return null;
    });
  }

  /**
   * Import: every chunk in one transaction (all or nothing), then tombstones for every key that had a row.
   * Keys that did not exist owe nothing (the fresh-insert rule, checked against the outbox).
   */
  async importWrites(chunks: AsyncIterable<Write[]>, floor?: () => number): Promise<{ count: number; overwritten: number; revision: number }> {
    const outcome = await this.store.applyWriteStream(chunks, this.options.now(), floor);
    const scope = outcome.owed.length > 0 ? await this.scopeFor(outcome.pool) : null;
    if (scope) await this.invalidatePaged(scope, outcome.owed);
    return { count: outcome.writes, overwritten: outcome.existed, revision: outcome.revision };
  }

  /** invalidate() in pages, so a huge import never has more than a page of memcached calls in flight. */
  private async invalidatePaged(scope: CacheScope, owed: { id: number; key: string }[]): Promise<void> {
    for (let i = 0; i < owed.length; i += INVALIDATE_PAGE) await this.invalidate(scope, owed.slice(i, i + INVALIDATE_PAGE));
  }

  private async fillMany(scope: CacheScope, entries: Entry[], readAt: number): Promise<void> {
    if (entries.length === 0) return;
    const added: (boolean | null)[] = [];
    for (let i = 0; i < entries.length; i += GET_PIPELINE) {
      if (this.options.now() - readAt >= this.fillWindowMs) break; // the rest are too old to fill from
      const page = entries.slice(i, i + GET_PIPELINE);
      for (const result of await this.addCopies(scope, page, readAt)) added.push(result);
    }
    const filled = entries.filter((_, i) => added[i] === true);
    this.counters.refusedFills += added.filter((result) => result === false).length;
    if (filled.length === 0) return;
    this.counters.fills += filled.length;
    // Defense in depth: memcached may have evicted a tombstone under memory pressure, letting a stale add in.
    // A copy that no longer matches the row is dropped with a tombstone (never a delete: see the module comment).
    const again = await this.store.readMany(filled.map((entry) => entry.key), this.options.now());
    const stale = filled.filter((entry) => !sameEntry(again.get(entry.key), entry));
    this.counters.rejectedFills += stale.length;
    await this.tombstones(scope, stale.map((entry) => entry.key));
  }

  /**
   * Flushes the counters and closes the store and the cache's connections. `processExits`: the process ends right
   * after, and its exit closes the connections; ending memcached's socket first cost a one-shot command ~1M
   * instructions (~0.3 ms) of Node's stream-ending code.
   */
  async close({ processExits = false } = {}): Promise<void> {
    // The counters' round trip and SQLite's close overlap: a one-shot command waits for the longer, not both.
    const [flushed, closed] = await Promise.allSettled([this.flushCounters(), this.store.close()]);
    if (!processExits) this.cache?.close();
    for (const outcome of [flushed, closed]) if (outcome.status === 'rejected') throw outcome.reason;
  }

  /**
   * Replays invalidations that some write (in any process) committed but could not deliver, and learns the pool
   * record from the same query. Resolves to the cache this read may use: null when this process has none, when
   * the recorded pool is not its servers, or when some invalidations are still undelivered (then no cached copy
   * can be trusted and the read goes to SQLite).
   */
  private async replayInvalidations(): Promise<CacheScope | null> {
    if (!this.cache) return null;
    let scope: CacheScope | null | undefined;
    for (;;) {
      const { pool, pending } = await this.store.pendingInvalidations(OUTBOX_PAGE);
      scope ??= await this.scopeFor(pool);
      if (!scope || pending.length === 0) return scope;
      if (!(await this.invalidate(scope, pending))) return null;
      if (pending.length < OUTBOX_PAGE) return scope;
    }
  }

  /**
   * What a pool record (as an operation read it) means for this process: the cache under the record's epoch when
   * the record is this process's servers, else null. With no record yet, this process records its own pool
   * (the first to use memcached on a database decides), unless `record` is false; `notify` false keeps a mismatch
   * quiet (stats and `cache pool` show it in their answer).
   */
  private async scopeFor(text: string | null, { record = true, notify = true } = {}): Promise<CacheScope | null> {
    const cache = this.cache;
    if (!cache) return null;
    if (text === null) {
      if (!record) return null;
      text = await this.store.recordPool(encodePoolRecord(newPoolRecord(cache.servers, 1)));
    }
    if (this.lastPool?.text === text) return this.lastPool.scope;
    const recorded = decodePoolRecord(text);
    const scope = recorded && usesPool(recorded, cache.servers) ? { cache, epoch: recorded.epoch } : null;
    if (!scope && notify) this.options.onPoolMismatch?.(recorded, cache.servers);
    this.lastPool = { text, scope };
    return scope;
  }

  /** Tombstones the keys in one pipelined round; per key whether memcached took it (a fault is reported). */
  private async tombstones({ cache, epoch }: CacheScope, keys: string[]): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const items = keys.map((key) => ({ key: cacheKey(this.store.namespaceId, epoch, key), value: TOMBSTONE, ttlSeconds: this.tombstoneTtlSeconds }));
    return this.reportFaults(await cache.setMany(items)).map((result) => result === true);
  }

  /** Tombstones the keys, then forgets the outbox rows memcached acknowledged. True when all were delivered. */
  private async invalidate(scope: CacheScope, owed: { id: number; key: string }[]): Promise<boolean> {
    const delivered = await this.tombstones(scope, owed.map(({ key }) => key));
    await this.store.clearInvalidations(owed.filter((_, i) => delivered[i]).map(({ id }) => id));
    return delivered.every(Boolean);
  }

  /** Runs a cache call; a failure is reported and becomes null, never an error of the command. */
  private async attempt<T>(call: () => Promise<T>): Promise<T | null> {
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof CacheError)) throw error;
      this.options.onCacheFault(error);
      return null;
    }
  }

  private counterKey(name: 'hits' | 'misses'): string {
    return `tb:${this.store.namespaceId}!${name}`;
  }
}

function copyFits(entry: Entry): boolean {
  return entry.value.length + COPY_HEADER_BYTES <= MAX_CACHED_BYTES;
}

function encodeCopy(entry: Entry): Buffer {
  const header = Buffer.alloc(COPY_HEADER_BYTES);
  header[0] = VALUE_TAG;
  header.writeDoubleBE(entry.expiresAt ?? 0, 1);
  header.writeDoubleBE(entry.revision, 9);
  header.writeDoubleBE(entry.createRevision, 17);
  header.writeDoubleBE(entry.version, 25);
  return Buffer.concat([header, entry.value]);
}

/** A live copy, or undefined for a tombstone, an expired copy or anything unrecognised. */
function decodeCopy(key: string, copy: Buffer, now: number): Entry | undefined {
  if (copy.length < COPY_HEADER_BYTES || copy[0] !== VALUE_TAG) return undefined;
  const expiry = copy.readDoubleBE(1);
  if (expiry !== 0 && expiry <= now) return undefined;
  return {
    key,
    value: copy.subarray(COPY_HEADER_BYTES),
    expiresAt: expiry === 0 ? null : expiry,
    revision: copy.readDoubleBE(9),
    createRevision: copy.readDoubleBE(17),
    version: copy.readDoubleBE(25),
  };
}

function copyTtlSeconds(entry: Entry, now: number): number {
  if (entry.expiresAt === null) return 0; // 0 = no expiry; memcached's LRU makes room when needed
  return Math.min(MAX_TTL_SECONDS, Math.max(1, Math.ceil((entry.expiresAt - now) / 1000)));
}

function sameEntry(a: Entry | undefined, b: Entry): boolean {
  return a !== undefined && a.revision === b.revision && a.expiresAt === b.expiresAt && a.value.equals(b.value);
}
