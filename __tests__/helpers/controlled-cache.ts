/**
 * The real memcached cache with switches, for forcing the interleavings that matter on demand: `down` (every call
 * fails as an unreachable server would), `evictTombstones` (memcached losing tombstones under memory pressure),
 * and a gate that holds the next `add` (a slow reader's fill) until the test lets it go.
 */
import { CacheError } from '../../src/errors.js';
import type { AddItem, Cache } from '../../src/store/cache.js';
import type { MemcachePool } from '../../src/store/memcache.js';

export class ControlledCache implements Cache {
  down = false;
  evictTombstones = false;
  private gate: { open: Promise<void>; reached: () => void } | null = null;

  constructor(readonly real: MemcachePool) {}

  get servers() {
    return this.real.servers;
  }

  /** The next `add` waits; `reached` resolves once it is waiting, `release` lets it go on. */
  holdNextAdd(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const open = new Promise<void>((resolve) => (release = resolve));
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    this.gate = { open, reached };
    return { reached: arrived, release };
  }

  private check(): void {
    if (this.down) throw new CacheError('memcached test double is down');
  }

  async get(key: string) {
    this.check();
    return this.real.get(key);
  }

  /** Rounds go through the single calls, so every switch (down, the add gate) applies to them as well. */
  getMany(keys: readonly string[]) {
    return Promise.all(keys.map((key) => settle(this.get(key))));
  }

  addMany(items: readonly AddItem[]) {
    return Promise.all(items.map(({ key, value, ttlSeconds }) => settle(this.add(key, value, ttlSeconds))));
  }

  setMany(items: readonly AddItem[]) {
    return Promise.all(items.map(({ key, value, ttlSeconds }) => settle(this.set(key, value, ttlSeconds).then(() => true as const))));
  }

  async add(key: string, value: Buffer, ttlSeconds: number) {
    this.check();
    const gate = this.gate;
    if (gate) {
      this.gate = null;
      gate.reached();
      await gate.open;
    }
    return this.real.add(key, value, ttlSeconds);
  }

  async set(key: string, value: Buffer, ttlSeconds: number) {
    this.check();
    if (this.evictTombstones && value.length === 1 && value[0] === 0x54) return;
    return this.real.set(key, value, ttlSeconds);
  }

  async increment(key: string, by: number) {
    this.check();
    return this.real.increment(key, by);
  }

  health() {
    return this.real.health();
  }

  async probe() {
    if (!this.down) await this.real.probe();
  }

  close() {
    this.real.close();
  }
}

/** A call's value, or the CacheError it failed with (what a round reports per item). */
function settle<T>(call: Promise<T>): Promise<T | CacheError> {
  return call.catch((error: unknown) => {
    if (error instanceof CacheError) return error;
    throw error;
  });
}
