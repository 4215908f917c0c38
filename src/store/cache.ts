/**
 * The cache as the cache-aside policy sees it (keyv-style: a small interface, one adapter): the calls it makes, the
 * limits a memcached item has, and how a user key becomes a cache key. memcache.ts is the memjs adapter; it loads
 * (with memjs) only when a store opens (context.ts), so nothing here may depend on it.
 */
import type * as Crypto from 'node:crypto';
import type { CacheError } from '../errors.js';

/** What the cache-aside policy needs from a cache; tests wrap it to force races and faults. */
export interface Cache {
  readonly servers: readonly string[];
  get(key: string): Promise<Buffer | null>;
  /**
   * Many gets as one pipelined round: per key, in order, the copy, null when absent, or the CacheError that kept it
   * from being read.
   */
  getMany(keys: readonly string[]): Promise<(Buffer | null | CacheError)[]>;
  /** Many adds as one pipelined round, like getMany: per item whether it was stored, or the CacheError. */
  addMany(items: readonly AddItem[]): Promise<(boolean | CacheError)[]>;
  /** Stores only if the key is absent; false when something (a value or a tombstone) is already there. */
  add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean>;
  set(key: string, value: Buffer, ttlSeconds: number): Promise<void>;
  /** Many sets as one pipelined round, like getMany: per item true once stored, or the CacheError. */
  setMany(items: readonly AddItem[]): Promise<(true | CacheError)[]>;
  /** Adds `by` to a counter, creating it at `by`; resolves to the new value. */
  increment(key: string, by: number): Promise<number>;
  /** Servers answering as far as this process knows, by address. */
  health(): Record<string, 'up' | 'down' | 'unknown'>;
  /** Asks every server (past its retry pause) whether it answers; the outcome shows in health(). */
  probe(): Promise<void>;
  close(): void;
}

export type ServerState = 'up' | 'down' | 'unknown';

/** One word for a pool: up when every server answers; down when any does not (its keys go to SQLite). */
export function overallState(health: Record<string, ServerState>): ServerState {
  const states = Object.values(health);
  if (states.length === 0) return 'unknown';
  return states.every((s) => s === 'up') ? 'up' : states.some((s) => s === 'down') ? 'down' : 'unknown';
}

export interface AddItem {
  key: string;
  value: Buffer;
  ttlSeconds: number;
}

/** memcached's item limit is 1 MiB including key and overhead; larger copies are simply not cached. */
export const MAX_CACHED_BYTES = 1024 * 1024 - 4096;
/** memcached reads an expiry above 30 days as a Unix time; copies never need to live longer than that. */
export const MAX_TTL_SECONDS = 30 * 24 * 3600;

/**
 * The memcached key for a user key in a database's namespace, under one pool epoch (pool.ts): `tb:<ns>.<epoch>:key`.
 * memcached keys are at most 250 bytes and the text protocol forbids spaces and control characters, so anything
 * but short printable ASCII is hashed. ':' marks a plain key and '#' a hashed one, so the two can never collide;
 * the '.' after the namespace keeps them apart from the keys of releases before the pool record (`tb:<ns>:key`).
 */
export function cacheKey(namespaceId: string, epoch: number, key: string): string {
  const plain = `tb:${namespaceId}.${epoch}:${key}`;
  if (plain.length <= 250 && /^[\x21-\x7e]+$/.test(key)) return plain;
  return `tb:${namespaceId}.${epoch}#${crypto().createHash('sha256').update(key, 'utf8').digest('base64url')}`;
}

/**
 * What decides a cache key's server (placement.ts): the key without its epoch, so a key stays on its server from
 * one epoch to the next and a pool change of N to N+1 servers moves about 1/(N+1) of the keys.
 */
export function placementOf(key: string): string {
  const dot = key.indexOf('.', 3); // namespace ids are hex: the first '.' ends the namespace
  if (dot < 0) return key;
  let end = dot + 1;
  while (end < key.length && key.charCodeAt(end) >= 0x30 && key.charCodeAt(end) <= 0x39) end++;
  return key.slice(0, dot) + key.slice(end);
}

/**
 * A random namespace id for a new database (both stores make one with their schema): it prefixes every cache key,
 * so databases sharing a memcached never see each other's copies.
 */
export function newNamespaceId(): string {
  return crypto().randomBytes(12).toString('hex');
}

let loadedCrypto: typeof Crypto | undefined;
/** node:crypto loads on first use: it costs a one-shot command several ms, and plain keys never need it. */
function crypto(): typeof Crypto {
  return (loadedCrypto ??= process.getBuiltinModule('node:crypto') as typeof Crypto);
}
