/**
 * Leases for `tbase lock` (commands/lock.ts), in a table of their own, so a lock name never collides with a user
 * key. A lease is taken by a conditional write (free, or expired), renewed and released only by its owner (a
 * random token), and carries the database revision of its taking as a fencing token: every new holder of a name
 * gets a higher one. The SQL runs inside SqliteStore's write transactions.
 */
import type { SqliteConnection } from './sqlite-driver.js';

export const LOCKS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS locks (
    name TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    revision INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );`;

export interface Lease {
  name: string;
  owner: string;
  /** The fencing token: the database revision at which the lease was taken. */
  revision: number;
  expiresAt: number;
}

export type Acquired = { taken: true; lease: Lease } | { taken: false; holder: Lease };

/**
 * Takes the lease at `revision` when nobody holds it (or the holder's lease ran out). A lease `owner` holds
 * already is answered as taken: an acquisition whose commit was never confirmed (the connection broke during
 * COMMIT) is simply asked again with the same owner.
 */
export async function takeLease(db: SqliteConnection, name: string, owner: string, ttlMs: number, now: number, revision: number): Promise<Acquired> {
  const held = await db.get<{ owner: string; revision: number; expires_at: number }>('SELECT owner, revision, expires_at FROM locks WHERE name = ?', [name]);
  const holder = held && held.expires_at > now ? { name, owner: held.owner, revision: held.revision, expiresAt: held.expires_at } : null;
  if (holder?.owner === owner) return { taken: true, lease: holder };
  if (holder) return { taken: false, holder };
  const lease = { name, owner, revision, expiresAt: now + ttlMs };
  await db.run(
    'INSERT INTO locks (name, owner, revision, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, revision = excluded.revision, expires_at = excluded.expires_at',
    [name, owner, revision, lease.expiresAt],
  );
  return { taken: true, lease };
}

/** Extends the owner's lease; false when it is no longer the owner's (expired and taken, or gone). */
export async function renewLease(db: SqliteConnection, lease: Lease, ttlMs: number, now: number): Promise<boolean> {
  const { changes } = await db.run('UPDATE locks SET expires_at = ? WHERE name = ? AND owner = ? AND revision = ? AND expires_at > ?', [
    now + ttlMs,
    lease.name,
    lease.owner,
    lease.revision,
    now,
  ]);
  return changes === 1;
}

/** Gives the lease back, if it is still the owner's. */
export async function releaseLease(db: SqliteConnection, lease: Lease): Promise<boolean> {
  const { changes } = await db.run('DELETE FROM locks WHERE name = ? AND owner = ? AND revision = ?', [lease.name, lease.owner, lease.revision]);
  return changes === 1;
}
