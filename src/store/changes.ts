/**
 * The change log's model, shared by both stores: one change per key per revision that changed it (a put with the
 * value written, a delete, or an expiry), written in the same transaction as the change, so `watch` can stream
 * every revision exactly once, in order, from any process, and resume from a revision it has seen. Each store
 * keeps it in a table of its own (sqlite: history.ts, PostgreSQL: postgres-schema.ts).
 *
 * Retention: the changes of the last HISTORY_REVISIONS revisions (or TBASE_HISTORY_REVISIONS) are kept. Older
 * ones are dropped by the write transaction that moves past them (in steps, so trimming is an occasional range
 * delete, not a cost on every write); `compacted` records the highest revision dropped, so a watch from before it
 * fails clearly (exit 4) instead of silently missing changes.
 */
import type { Entry } from './writes.js';

export type ChangeType = 'put' | 'delete' | 'expire';

export interface Change {
  revision: number;
  key: string;
  type: ChangeType;
  /** The value written (put); null for a delete or an expiry. */
  value: Buffer | null;
  expiresAt: number | null;
  createRevision: number | null;
  version: number | null;
}

/** Which keys a watch follows: one key, or every key under a prefix ('' = all). */
export type KeySelector = { key: string } | { prefix: string };

/** Revisions whose changes are kept by default (TBASE_HISTORY_REVISIONS sets another number). */
export const HISTORY_REVISIONS = 100_000;

export const CHANGE_TYPES: ChangeType[] = ['put', 'delete', 'expire'];
export const CHANGE_TYPE_CODE: Record<ChangeType, number> = { put: 0, delete: 1, expire: 2 };

/** A change to record, bound explicitly (deletes, and puts whose state is no longer the key's row). */
export function putChange(entry: Entry): Change {
  return { revision: entry.revision, key: entry.key, type: 'put', value: entry.value, expiresAt: entry.expiresAt, createRevision: entry.createRevision, version: entry.version };
}

export function removalChange(revision: number, key: string, type: 'delete' | 'expire'): Change {
  return { revision, key, type, value: null, expiresAt: null, createRevision: null, version: null };
}

/**
 * The highest revision whose changes a transaction moving the database from `base` to `revision` should drop,
 * or null when it is not yet time to trim. Never past `base`: a watcher that had caught up with it must still
 * find every change this transaction made, however many revisions one batch group takes. Trimmed in steps of a
 * tenth of the retention (at most 1000 revisions): an occasional range delete.
 */
export function trimFloor(revision: number, base: number, compacted: number, keep: number): number | null {
  const floor = Math.min(revision - keep, base);
  return floor - compacted >= Math.max(1, Math.min(1000, Math.floor(keep / 10))) ? floor : null;
}
