/**
 * Global settings, resolved once: flag > environment > default (CONTRACT.md, "Global options").
 */
import { HISTORY_REVISIONS } from './store/changes.js';
import { join } from 'node:path';
import { UsageError } from './errors.js';
import { parseLocation, type DatabaseLocation } from './store/location.js';

export interface Config {
  /** The SQLite file or PostgreSQL database; print it only through shownLocation (a URL may hold a password). */
  db: DatabaseLocation;
  servers: string[];
  cacheEnabled: boolean;
  json: boolean;
  /** Upper bound on any single memcached call; memjs alone can leave a call pending forever. */
  cacheTimeoutMs: number;
  /** How long SQLite waits for another process's lock before the command fails with exit 3. */
  busyTimeoutMs: number;
  /** Revisions whose changes the change log keeps for `watch` (store/history.ts). */
  historyRevisions: number;
}

/** The global flags as commander hands them over; absent means "not given on the command line". */
export interface GlobalFlags {
  db?: string;
  servers?: string;
  cache?: boolean; // commander's `--no-cache` sets this to false
  json?: boolean;
}

export type Env = Record<string, string | undefined>;

export const DEFAULT_SERVERS = '127.0.0.1:11211';
const DEFAULT_CACHE_TIMEOUT_MS = 500;
const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export function resolveConfig(flags: GlobalFlags, env: Env): Config {
  if (flags.db === '') throw new UsageError('--db needs a path or a postgres:// URL');
  return {
    db: databaseLocation(flags.db, env),
    servers: parseServers(flags.servers ?? nonEmpty(env.TBASE_SERVERS) ?? nonEmpty(env.MEMCACHE_SERVERS) ?? DEFAULT_SERVERS),
    cacheEnabled: flags.cache !== false && !isTruthy(env.TBASE_NO_CACHE),
    json: flags.json === true,
    cacheTimeoutMs: positiveInt(env.TBASE_CACHE_TIMEOUT_MS, 'TBASE_CACHE_TIMEOUT_MS') ?? DEFAULT_CACHE_TIMEOUT_MS,
    busyTimeoutMs: positiveInt(env.TBASE_BUSY_TIMEOUT_MS, 'TBASE_BUSY_TIMEOUT_MS') ?? DEFAULT_BUSY_TIMEOUT_MS,
    historyRevisions: positiveInt(env.TBASE_HISTORY_REVISIONS, 'TBASE_HISTORY_REVISIONS') ?? HISTORY_REVISIONS,
  };
}

/** `--db` (when given) > TBASE_DB > the default file. */
export function databaseLocation(flag: string | undefined, env: Env): DatabaseLocation {
  return parseLocation(flag ?? nonEmpty(env.TBASE_DB) ?? defaultDbPath(env));
}

export function defaultDbPath(env: Env): string {
  const dataHome = nonEmpty(env.XDG_DATA_HOME) ?? join(homeFolder(env), '.local', 'share');
  return join(dataHome, 'tenantbase', 'tbase.db');
}

export function parseServers(list: string): string[] {
  const servers = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new UsageError('--servers needs at least one host:port');
  for (const server of servers) {
    if (server.includes('@')) {
      // Never echo it: the part before @ is a credential. SASL credentials come from the environment only.
      throw new UsageError('--servers takes host:port only; give SASL credentials in MEMCACHE_USERNAME and MEMCACHE_PASSWORD');
    }
    if (!/^[^\s:]+:\d{1,5}$/.test(server) && !/^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(server)) {
      throw new UsageError(`bad memcached server ${JSON.stringify(server)}: expected host:port`);
    }
  }
  return servers;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && !['', '0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive whole number of milliseconds`);
  return n;
}

/** The user's home folder: HOME, else the system's (node:os loads only then: it costs every start ~0.3 ms). */
export function homeFolder(env: Env): string {
  return env.HOME ?? (process.getBuiltinModule('node:os') as typeof import('node:os')).homedir();
}
