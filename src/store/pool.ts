/**
 * The memcached pool a database records for its copies (COHERENCE.md, "The pool belongs to the database").
 * Every process that uses one database must send a key's tombstone to the server that holds its copies; two
 * processes given different server lists would not. So the database records the pool — its canonical server
 * list, the hashing that places keys on it, and an epoch that is part of every cache key — and a process uses
 * memcached only when its own servers are that pool. Changing the pool bumps the epoch: copies made under the old
 * pool are never read again (the new pool starts cold).
 */

/** How keys are placed on the servers (placement.ts); a record naming another scheme is not used. */
export const HASHING = 'rendezvous-fnv1a';

export interface PoolRecord {
  /** Canonical (see canonicalServer), sorted, no duplicates. */
  servers: string[];
  hashing: string;
  /** Goes up by one with every change of the pool; part of every cache key. */
  epoch: number;
}

/**
 * One spelling per address as far as text can tell: host in lower case, port without leading zeros. Two names
 * of one server (`localhost` and `127.0.0.1`) stay two names: they are never taken for the same pool, so a
 * process that names a server otherwise reads from the store instead (safe, and the notice says why).
 */
export function canonicalServer(server: string): string {
  const at = server.lastIndexOf(':');
  return `${server.slice(0, at).toLowerCase()}:${Number(server.slice(at + 1))}`;
}

/** The canonical set of a server list, sorted: the order of a list never matters (placement.ts). */
export function canonicalServers(servers: readonly string[]): string[] {
  return [...new Set(servers.map(canonicalServer))].sort();
}

export function newPoolRecord(servers: readonly string[], epoch: number): PoolRecord {
  return { servers: canonicalServers(servers), hashing: HASHING, epoch };
}

/** The record as stored in the database's meta table (one JSON text, compared as text by watchers). */
export function encodePoolRecord(record: PoolRecord): string {
  return JSON.stringify({ servers: record.servers, hashing: record.hashing, epoch: record.epoch });
}

/** The stored text back; anything unreadable is null, which no process uses (it reads from the store). */
export function decodePoolRecord(text: string | null): PoolRecord | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<PoolRecord>;
    const { servers, hashing, epoch } = value;
    if (!Array.isArray(servers) || !servers.every((s) => typeof s === 'string')) return null;
    if (typeof hashing !== 'string' || !Number.isSafeInteger(epoch) || (epoch as number) < 1) return null;
    return { servers, hashing, epoch: epoch as number };
  } catch {
    return null;
  }
}

/** Whether a process configured with `servers` may use the recorded pool: the same set, placed the same way. */
export function usesPool(record: PoolRecord, servers: readonly string[]): boolean {
  const mine = canonicalServers(servers);
  return record.hashing === HASHING && mine.length === record.servers.length && mine.every((s, i) => s === record.servers[i]);
}
