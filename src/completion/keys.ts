/**
 * Keys for shell completion: one key-only prefix lookup in the store (values are never read), on a database that
 * must exist already — a Tab on a fresh machine leaves no database behind. memcached is not asked: it holds
 * copies of values, never the list of keys.
 */
import type { DatabaseLocation } from '../store/location.js';
import { openExistingStore } from '../store/open.js';

/** At most this many keys come back; more would only scroll past in the shell's list. */
export const COMPLETION_KEY_LIMIT = 150;
/** A Tab must not hang on a locked file or an unreachable PostgreSQL server. */
const COMPLETION_TIMEOUT_MS = 1000;

export interface KeyLookup {
  keys: string[];
  /** More keys start with the prefix than came back. */
  truncated: boolean;
}

export async function lookupKeys(db: DatabaseLocation, prefix: string, limit = COMPLETION_KEY_LIMIT): Promise<KeyLookup> {
  const store = await openExistingStore({ db }, COMPLETION_TIMEOUT_MS);
  try {
    const { entries } = await store.scan(prefix, '', limit + 1, Date.now(), false);
    return { keys: entries.slice(0, limit).map((entry) => entry.key), truncated: entries.length > limit };
  } finally {
    await store.close();
  }
}
