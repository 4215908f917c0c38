/**
 * The lazy factory every front (one-shot, REPL, batch) hands to commands: configuration, the clock, stdin for
 * `set KEY -`, and the store, which is opened on first use only, so `--help` and usage errors touch nothing.
 */
import type { CommandContext } from './commands/types.js';
import type { Config } from './config.js';
import { CacheError, UsageError } from './errors.js';
import type { IO } from './io.js';
import { CacheAsideStore } from './store/cache-aside.js';
import { overallState } from './store/cache.js';
import { canonicalServers, type PoolRecord } from './store/pool.js';
import type { MemcachePool } from './store/memcache.js';
import { openStore } from './store/open.js';
import { engineName } from './store/location.js';

export interface ContextOptions {
  now?: () => number;
  /** True in the REPL and batch, where stdin carries the commands and cannot also carry a value. */
  stdinIsCommandStream?: boolean;
  /** How loudly to report a cache failure; by default one notice per process on stderr. */
  onCacheFault?: (error: CacheError) => void;
  /** How long a failed memcached server is skipped before it is tried again. */
  cacheRetryAfterMs?: number;
}

export class Context implements CommandContext {
  /**
   * The clock every expiry is computed and judged by: this host's, corrected to the database's once it is open
   * (a PostgreSQL database shared by hosts whose clocks disagree; 0 for a SQLite file).
   */
  readonly now: () => number;
  private opened: Promise<CacheAsideStore> | null = null;
  private cacheNoticeShown = false;
  /** The pool record text last named in a mismatch notice: one notice per record, not per command. */
  private poolNoticeFor: string | undefined;
  private policy: CacheAsideStore | null = null;
  /** The open store's memcached pool, kept so a long session can read and refresh its health. */
  private cachePool: MemcachePool | null = null;
  private readonly onCacheFault: (error: CacheError) => void;

  constructor(
    readonly io: IO,
    readonly config: Config,
    private readonly options: ContextOptions = {},
  ) {
    const local = options.now ?? Date.now;
    this.now = () => local() + (this.policy?.store.clockOffsetMs ?? 0);
    this.onCacheFault = options.onCacheFault ?? ((error) => this.noticeOnce(error));
  }

  /**
   * Opens the store first when it keeps the clock (PostgreSQL), so expiries computed before the first command
   * reaches the store (a batch plans a whole group of lines) already use the database's time.
   */
  async syncClock(): Promise<void> {
    if (this.config.db.kind === 'postgres') await this.store().catch(() => undefined);
  }

  store(): Promise<CacheAsideStore> {
    if (!this.opened) {
      this.opened = this.open();
      // A failed open is not cached: the REPL may retry once the user fixes the file.
      this.opened.catch(() => {
        this.opened = null;
      });
    }
    return this.opened;
  }

  async readValueFromStdin(maxBytes: number): Promise<Buffer> {
    if (this.options.stdinIsCommandStream || this.io.isStdinTTY) {
      throw new UsageError('`-` reads the value from stdin, which is not available here; give the value as a word');
    }
    return this.io.readAllStdin(maxBytes, () => new UsageError(`value on stdin is larger than ${maxBytes} bytes (64 MiB)`));
  }

  /**
   * memcached as this process last saw it, without asking: 'off' with --no-cache, 'unknown' before the store is
   * open or before any call. Any server down makes the whole cache 'down' (its keys are served from SQLite).
   */
  cacheState(): 'off' | 'up' | 'down' | 'unknown' {
    if (!this.config.cacheEnabled || this.policy?.usingPool === false) return 'off';
    return overallState(this.cachePool?.health() ?? {});
  }

  /** Asks memcached again (servers past their retry pause only); see MemcachePool.probe. */
  async probeCache(): Promise<void> {
    await this.cachePool?.probe();
  }

  /**
   * Waits for the connection to memcached made at open to connect or fail (within the cache timeout), so a command
   * that never needed memcached (a fresh insert, a listing) still says it is unreachable, as every other does.
   * `processExits`: see CacheAsideStore.close.
   */
  async close({ processExits = false } = {}): Promise<void> {
    const opened = this.opened;
    const cachePool = this.cachePool;
    this.opened = null;
    this.cachePool = null;
    this.policy = null;
    await cachePool?.connected();
    if (opened) await (await opened.catch(() => null))?.close({ processExits });
  }

  /**
   * The store's open is started first (its file work runs off the main thread); memjs loads and connects
   * to memcached while it runs. Nothing is asked of the cache before the store has replayed pending invalidations
   * (cache-aside.ts), so connecting early changes no order the protocol relies on.
   */
  private async open(): Promise<CacheAsideStore> {
    const [opened, connected] = await Promise.allSettled([
      openStore(this.config),
      this.config.cacheEnabled ? this.connectCache() : null,
    ]);
    if (opened.status === 'rejected') {
      if (connected.status === 'fulfilled') connected.value?.close();
      throw opened.reason;
    }
    if (connected.status === 'rejected') {
      await opened.value.close();
      throw connected.reason;
    }
    const store = opened.value;
    const cache = connected.value;
    this.cachePool = cache;
    this.policy = new CacheAsideStore(store, cache, {
      now: this.now,
      onCacheFault: this.onCacheFault,
      onPoolMismatch: (recorded, configured) => this.poolNotice(recorded, configured),
    });
    return this.policy;
  }

  private async connectCache(): Promise<MemcachePool> {
    const { MemcachePool } = await import('./store/memcache.js');
    const pool = new MemcachePool(canonicalServers(this.config.servers), {
      timeoutMs: this.config.cacheTimeoutMs,
      retryAfterMs: this.options.cacheRetryAfterMs ?? 2000,
    });
    pool.connect(this.onCacheFault);
    return pool;
  }

  /** One line naming both lists and the command that changes the pool, once per recorded pool. */
  private poolNotice(recorded: PoolRecord | null, configured: readonly string[]): void {
    const key = recorded ? JSON.stringify(recorded) : '';
    if (this.poolNoticeFor === key) return;
    this.poolNoticeFor = key;
    const mine = configured.join(',');
    const theirs = recorded ? `${recorded.servers.join(',')} (epoch ${recorded.epoch})` : 'unreadable';
    this.io.err(
      `${this.io.errColour.yellow('tbase: notice:')} memcached servers ${mine} are not the pool this database records, ` +
        `${theirs}; answering from ${engineName(this.config.db)} without memcached (to make them the pool: tbase cache pool set ${mine})`,
    );
  }

  private noticeOnce(error: CacheError): void {
    if (this.cacheNoticeShown) return;
    this.cacheNoticeShown = true;
    this.io.err(cacheNotice(this.io, this.config, error.message));
  }
}

/**
 * The one notice every front gives when memcached cannot be used (one line, on stderr; the exit status is never
 * touched): what it answers from instead, why, and how to run without memcached so the notice goes away.
 */
export function cacheNotice(io: IO, config: Config, reason: string | undefined): string {
  return (
    `${io.errColour.yellow('tbase: notice:')} cache unavailable, answering from ${engineName(config.db)}${reason ? ` (${reason})` : ''}; ` +
    'silence with --no-cache or TBASE_NO_CACHE=1'
  );
}
