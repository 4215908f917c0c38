/**
 * The one module that owns memjs. It gives the policy a small, honest cache interface:
 *  - every call settles within `timeoutMs` (memjs can leave a call pending forever when a server stops
 *    answering or closes the socket mid-request);
 *  - a failure rejects with CacheError and never writes anything anywhere (memjs's default logger prints to
 *    stdout, which carries data only);
 *  - each server is its own node with its own breaker: a server that failed is skipped for `retryAfterMs`,
 *    so one dead server of a pool costs its keys one timeout, not one per command, and the others keep serving;
 *  - `close()` drops every connection so the process can exit at once.
 */
import type { Socket } from 'node:net';
import memjs from 'memjs';
import { CacheError } from '../errors.js';
import { placementOf, type AddItem, type Cache } from './cache.js';
import { internals, sendGets, sendIncrements } from './memjs-rounds.js';
import { Placement } from './placement.js';

export interface MemcacheOptions {
  timeoutMs: number;
  /** How long a failed server is left alone before the next call tries it again. */
  retryAfterMs: number;
}

export class MemcachePool implements Cache {
  private readonly nodes: MemcacheNode[];
  private readonly placement: Placement;

  /** `servers` in canonical form (pool.ts): placement hashes the names, so every process must spell them alike. */
  constructor(
    readonly servers: readonly string[],
    options: MemcacheOptions,
  ) {
    this.nodes = servers.map((server) => new MemcacheNode(server, options));
    this.placement = new Placement(servers);
  }

  get(key: string): Promise<Buffer | null> {
    return this.nodeFor(key).call('get', async (client) => (await client.get(key)).value);
  }

  /**
   * A batch read's round without a promise per key: per server, one callEach (one deadline, one promise) whose
   * GETs go out in one write and are answered in place (memjs-gets.ts). get() per key costs several promises and
   * closures each, which made a cache-hot batch spend more time in microtasks and garbage collection than memjs.
   */
  getMany(keys: readonly string[]): Promise<(Buffer | null | CacheError)[]> {
    return this.eachByNode('get', keys, (key) => key, sendGets);
  }

  /** The fills of a batch read, as getMany: one round per server. */
  addMany(items: readonly AddItem[]): Promise<(boolean | CacheError)[]> {
    return this.eachByNode('add', items, (item) => item.key, eachItem((client, { key, value, ttlSeconds }, done) =>
      client.add(key, value, { expires: ttlSeconds }, (error, stored) => done(error, stored === true)),
    ));
  }

  /** Tombstones of a write round, as getMany: one round per server. A set memcached did not store is an error. */
  setMany(items: readonly AddItem[]): Promise<(true | CacheError)[]> {
    return this.eachByNode('set', items, (item) => item.key, eachItem((client, { key, value, ttlSeconds }, done) =>
      client.set(key, value, { expires: ttlSeconds }, (error, stored) =>
        done(error ?? (stored === true ? null : new Error(`MemJS SET: not stored`)), true),
      ),
    ));
  }

  /** Splits items by server, runs each server's share as one round (callEach), and puts the results back in order. */
  private async eachByNode<I, T>(
    operation: string,
    items: readonly I[],
    keyOf: (item: I) => string,
    start: RoundStart<I, T>,
  ): Promise<(T | CacheError)[]> {
    if (this.nodes.length === 1) return this.nodes[0]!.callEach(operation, items, start);
    const byNode = new Map<MemcacheNode, number[]>();
    items.forEach((item, i) => {
      const node = this.nodeFor(keyOf(item));
      const indexes = byNode.get(node);
      if (indexes) indexes.push(i);
      else byNode.set(node, [i]);
    });
    const out = new Array<T | CacheError>(items.length);
    await Promise.all(
      [...byNode].map(async ([node, indexes]) => {
        const results = await node.callEach(operation, indexes.map((i) => items[i]!), start);
        indexes.forEach((i, j) => (out[i] = results[j]!));
      }),
    );
    return out;
  }

  add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    return this.nodeFor(key).call('add', async (client) => (await client.add(key, value, { expires: ttlSeconds })) === true);
  }

  async set(key: string, value: Buffer, ttlSeconds: number): Promise<void> {
    const stored = await this.nodeFor(key).call('set', (client) => client.set(key, value, { expires: ttlSeconds }));
    if (!stored) throw new CacheError(`memcached did not store ${key}`);
  }

  /** Adds `by` to a counter, creating it at `by`; its new value. Sent and read in place (memjs-rounds.ts). */
  async increment(key: string, by: number): Promise<number> {
    const once = async () => {
      const [result] = await this.eachByNode('increment', [{ key, by }], (item) => item.key, sendIncrements);
      if (result instanceof CacheError) throw result;
      return result!;
    };
    // A missing counter is created with `by` as its initial value, which memcached does like an `add`: when two
    // processes create it at the same moment, the second is told "not stored" — the counter exists now, so again.
    return once().catch((error: Error) => (/not stored/i.test(error.message) ? once() : Promise.reject(error)));
  }

  health(): Record<string, 'up' | 'down' | 'unknown'> {
    return Object.fromEntries(this.nodes.map((node) => [node.server, node.state]));
  }

  /**
   * One small read on every server not inside its retry pause, so a long-lived process (the REPL) sees a server
   * come back without waiting for a command to touch one of its keys. Failures only update health().
   */
  async probe(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.call('probe', (client) => client.get('tb!probe')).catch(() => undefined)));
  }

  /**
   * Starts connecting to every server (not inside its retry pause) without sending anything, so the TCP
   * handshake overlaps other start-up work (Context opens SQLite meanwhile). Never fails: a server that cannot be
   * reached goes to `onUnreachable` as soon as that is known — so a command that never calls memcached (a fresh
   * insert, a listing) still finds out — and the first real call then connects again.
   */
  connect(onUnreachable: (error: CacheError) => void = () => undefined): void {
    for (const node of this.nodes) node.connectEarly(onUnreachable);
  }

  /** Resolves once every connection connect() started has connected or failed (within the timeout). */
  async connected(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.early));
  }

  close(): void {
    for (const node of this.nodes) node.close();
  }

  /** Keys map to servers by rendezvous hashing of the set: a down server's keys go to SQLite, never elsewhere. */
  private nodeFor(key: string): MemcacheNode {
    if (this.nodes.length === 1) return this.nodes[0]!;
    return this.nodes[this.placement.indexOf(placementOf(key))]!;
  }
}

const silentLogger = { log: () => undefined };

class MemcacheNode {
  private client: memjs.Client | null = null;
  private downUntil = 0;
  private current: Round | null = null;
  state: 'up' | 'down' | 'unknown' = 'unknown';

  constructor(
    readonly server: string,
    private readonly options: MemcacheOptions,
  ) {}

  async call<T>(operation: string, work: (client: memjs.Client) => Promise<T>): Promise<T> {
    if (Date.now() < this.downUntil) throw new CacheError(`memcached ${this.server} is down`);
    const client = this.connect();
    const round = this.round(client, 'one');
    try {
      const result = await Promise.race([work(client), round.expired]);
      this.state = 'up';
      return result;
    } catch (caught) {
      const error =
        caught === TIMED_OUT
          ? new CacheError(`memcached ${this.server} did not answer ${operation} within ${this.options.timeoutMs} ms`)
          : caught;
      if (answeredByServer(error)) {
        // The server is healthy; it refused this one request (e.g. value too large). Not a reason to stop using it.
        this.state = 'up';
        throw new CacheError(`memcached ${this.server} refused ${operation}: ${(error as Error).message}`);
      }
      this.fail();
      throw error instanceof CacheError
        ? error
        : new CacheError(`memcached ${this.server} failed ${operation}: ${(error as Error).message}`);
    } finally {
      round.settled();
    }
  }

  /**
   * The items' requests in one round (`start`): one deadline for all, and per item its result or a CacheError;
   * never rejects. A transport failure or the deadline trips the breaker as in call(); a refusal fails its item only.
   */
  async callEach<I, T>(operation: string, items: readonly I[], start: RoundStart<I, T>): Promise<(T | CacheError)[]> {
    if (Date.now() < this.downUntil) {
      const down = new CacheError(`memcached ${this.server} is down`);
      return items.map(() => down);
    }
    const client = this.connect();
    const round = this.round(client, start.writesEach && items.length > 1 ? 'many' : 'one');
    let transportFailed = false;
    const failed = (error: unknown): CacheError => {
      if (answeredByServer(error)) return new CacheError(`memcached ${this.server} refused ${operation}: ${(error as Error).message}`);
      transportFailed = true;
      return error instanceof CacheError ? error : new CacheError(`memcached ${this.server} failed ${operation}: ${(error as Error).message}`);
    };
    try {
      const results = await Promise.race([settleRound(client, items, start, failed), round.expired]);
      if (transportFailed) this.fail();
      else this.state = 'up';
      return results;
    } catch (caught) {
      const error =
        caught === TIMED_OUT
          ? new CacheError(`memcached ${this.server} did not answer ${operation} within ${this.options.timeoutMs} ms`)
          : failed(caught);
      this.fail();
      return items.map(() => error);
    } finally {
      round.settled();
    }
  }

  /** Settles once the connection connectEarly() started has connected or failed; at once when none was. */
  early: Promise<void> = Promise.resolve();
  /** Ends the wait for that connection without a verdict (the node is being closed). */
  private abandonEarly: (() => void) | null = null;

  close(): void {
    this.abandonEarly?.();
    this.client?.close();
    this.client = null;
  }

  /**
   * See MemcachePool.connect. memjs connects on a server's first request only; its `sock` is how it does that.
   * The failure is told from the socket's own events, in the same turn memjs hears it, so it comes before the
   * failure of any call waiting on the connection (those settle a turn later): whichever command runs, the first
   * thing said about an unreachable server is the same.
   */
  connectEarly(onUnreachable: (error: CacheError) => void): void {
    if (Date.now() < this.downUntil) return;
    const { server } = internals(this.connect());
    this.early = new Promise<void>((resolve) => {
      let settled = false;
      const settle = (error: CacheError | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.abandonEarly = null;
        if (error) onUnreachable(error);
        resolve();
      };
      const timedOut = () => settle(new CacheError(`memcached ${this.server} did not connect within ${this.options.timeoutMs} ms`));
      const timer = setTimeout(timedOut, this.options.timeoutMs);
      timer.unref();
      this.abandonEarly = () => settle(null);
      server.sock(false, () => settle(null));
      const socket = server._socket;
      if (!socket || settled) return settle(null);
      socket.once('error', (error) => settle(new CacheError(`memcached ${this.server} cannot be reached: ${error.message}`)));
      socket.once('close', timedOut); // memjs gives up connecting after the same timeout and closes the socket
    });
  }

  /**
   * The calls issued in one synchronous run (a tick) form a round — a pipelined batch read issues a thousand — and
   * share two things (docs/architecture.md, "memcached"):
   *  - write coalescing: memjs writes every request to its socket on its own, and a thousand write syscalls were
   *    the largest single cost of a cache-hot batch. Once a round is to make more than one write (a call of many
   *    memjs requests, or a second call joining it), the connection's socket is corked and a nextTick uncorks it,
   *    so the rest of the round goes out in one writev. A round of one write (a one-shot `get`'s GET, written in
   *    one buffer by memjs-rounds.ts) is not corked: that cost it ~1M instructions of Node's cork/writev code for
   *    nothing. Before the socket is connected there is nothing to cork: memjs queues the requests until it is, and
   *    the stream coalesces that queue by itself;
   *  - the deadline: one timer for the round instead of one per call. Calls of a tick start together, so each still
   *    settles within timeoutMs of its start; the timer is cleared once every call of the round has settled.
   */
  private round(client: memjs.Client, writes: 'one' | 'many'): Round {
    // A call joining a round: its write and the round's first would go out apart.
    const joining = this.current !== null;
    const round = (this.current ??= this.startRound());
    if (writes === 'many' || joining) round.cork(internals(client).server._socket);
    round.pending++;
    return round;
  }

  /** A round for the calls of this tick; it closes (and uncorks) when the tick ends. */
  private startRound(): Round {
    const started = new Round(this.options.timeoutMs);
    process.nextTick(() => {
      this.current = null;
      started.close();
    });
    return started;
  }

  private connect(): memjs.Client {
    this.client ??= memjs.Client.create(this.server, {
      retries: 1,
      timeout: this.options.timeoutMs / 1000,
      conntimeout: this.options.timeoutMs / 1000,
      logger: silentLogger,
    });
    return this.client;
  }

  /** A wedged connection is dropped, not reused; the next call after the pause connects afresh. */
  private fail(): void {
    this.state = 'down';
    this.downUntil = Date.now() + this.options.retryAfterMs;
    this.close();
  }
}

/**
 * Starts the requests of a round, one per item; each item's outcome goes to `done` once (an error, or the result).
 * `writesEach`: each item is its own write (memjs calls), not one write for all (memjs-rounds.ts).
 */
type RoundStart<I, T> = ((client: memjs.Client, items: readonly I[], done: (index: number, error: Error | null, result: T) => void) => void) & {
  writesEach?: boolean;
};

/** Starts one memjs call for an item; memjs calls `done` once with the outcome (an error, or the result). */
type ItemWork<I, T> = (client: memjs.Client, item: I, done: (error: Error | null, result: T) => void) => void;

/** A round of one memjs call per item. A call memjs throws on at once (an invalid key) fails that item only. */
function eachItem<I, T>(work: ItemWork<I, T>): RoundStart<I, T> {
  const start: RoundStart<I, T> = (client, items, done) =>
    items.forEach((item, i) => {
      try {
        work(client, item, (error, result) => done(i, error, result));
      } catch (error) {
        done(i, error as Error, undefined as T);
      }
    });
  start.writesEach = true;
  return start;
}

/**
 * Starts the round and resolves once every item has its outcome, each its result or failed(error). One promise
 * for the round, not one per item. A second outcome for an item (memjs fails what is still pending when a
 * connection drops) is ignored; if starting throws, every item not yet answered fails with that error.
 */
function settleRound<I, T>(client: memjs.Client, items: readonly I[], start: RoundStart<I, T>, failed: (error: unknown) => CacheError): Promise<(T | CacheError)[]> {
  return new Promise((resolve) => {
    const results = new Array<T | CacheError>(items.length);
    const settled = new Array<boolean>(items.length).fill(false);
    let left = items.length;
    if (left === 0) return resolve(results);
    const done = (i: number, error: unknown, result?: T) => {
      if (settled[i]) return;
      settled[i] = true;
      results[i] = error ? failed(error) : result!;
      if (--left === 0) resolve(results);
    };
    try {
      start(client, items, done);
    } catch (error) {
      for (let i = 0; i < items.length; i++) done(i, error);
    }
  });
}

/** How a round's deadline rejects; call() turns it into a CacheError naming the operation. */
const TIMED_OUT = Symbol('timed out');

/** The deadline shared by the calls of one round (see MemcacheNode.round). */
class Round {
  pending = 0;
  readonly expired: Promise<never>;
  private open = true;
  private timer: NodeJS.Timeout | undefined;
  private corked: Socket | undefined;

  constructor(timeoutMs: number) {
    this.expired = new Promise<never>((_, reject) => {
      this.timer = setTimeout(() => reject(TIMED_OUT), timeoutMs);
    });
    this.expired.catch(() => undefined); // rejects only while calls race it; never unhandled
  }

  /** Holds the round's writes on `socket` (connected) until the tick ends. */
  cork(socket: Socket | undefined): void {
    if (this.corked || !socket || socket.destroyed || socket.connecting) return;
    socket.cork();
    this.corked = socket;
  }

  /** No more calls join after the tick: what was corked goes out. */
  close(): void {
    this.open = false;
    this.corked?.uncork();
    this.clearIfDone();
  }

  settled(): void {
    this.pending--;
    this.clearIfDone();
  }

  private clearIfDone(): void {
    if (!this.open && this.pending === 0) clearTimeout(this.timer);
  }
}

/** memjs reports a server's error status as "MemJS <OP>: <reason>"; anything else is a transport failure. */
function answeredByServer(error: unknown): boolean {
  return error instanceof Error && /^MemJS [A-Z]+: /.test(error.message);
}
