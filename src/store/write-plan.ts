/**
 * What one chunk of writes does to the rows it read, decided in memory and shared by both stores: each store
 * reads the chunk's keys under its write lock, hands them here, and persists the plan in the same transaction.
 * Conditions and counters are replayed by writes.ts; this adds what the transaction must store besides the end
 * states: the change log rows and the keys that owe a cache invalidation (the outbox).
 */
import { putChange, removalChange, type Change } from './changes.js';
import type { StreamOutcome, WriteOutcome } from './store.js';
import { applyWrite, type Entry, type Write, type WriteResult } from './writes.js';

/** What a store knows of one key of its chunk, read under the write lock. */
export interface KeyState {
  /** A row (live or expired) was there before the chunk: its cached copy, if any, must go. */
  hadRow: boolean;
  /** An invalidation of the key is still in the outbox (COHERENCE.md, "Fresh inserts"). */
  pending: boolean;
  /** Some write of the chunk changed the key: its end state is written, and it may owe an invalidation. */
  changed: boolean;
  /** The key's live state as the writes are replayed in order (undefined: absent). */
  current: Entry | undefined;
  /** The put that made `current`, if the key's last change was one: logged from the row (the stores copy it). */
  lastPut: Entry | undefined;
}

export interface ChunkPlan {
  results: WriteResult[];
  /** The database revision after the chunk. */
  revision: number;
  /** End states to upsert, one per key. */
  upserts: Entry[];
  /** Keys that had a row and end absent. */
  deletes: string[];
  /**
   * Keys whose cached copy may be stale after commit: those that had a row (live or expired) or still have an
   * invalidation pending. A key with no row at all cannot have a live cached copy (every copy was of a row, and
   * removing that row owed an invalidation, done or still pending), so a fresh insert owes nothing.
   */
  owedKeys: string[];
  /** Change log rows bound explicitly (deletes, superseded puts, puts that expired at once). */
  changes: Change[];
  /** Keys whose last change is the put their row now holds: the store copies it into the log from the row. */
  copied: string[];
}

/** One record per key of the writes, in order of first appearance, for the store to fill from its rows. */
export function keyStates(writes: Write[]): Map<string, KeyState> {
  // One map, not a set and three maps: a batch group holds a thousand keys, and hash tables that size are most of
  // what a group allocates (docs/architecture.md, "Memory").
  const byKey = new Map<string, KeyState>();
  for (const write of writes) {
    if (!byKey.has(write.key)) byKey.set(write.key, { hadRow: false, pending: false, changed: false, current: undefined, lastPut: undefined });
  }
  return byKey;
}

/**
 * Replays the writes in order against the key states. `shared` is the one revision every change takes (an
 * import), or null: each change takes the next one after `base`. Rows the chunk writes and overwrites itself were
 * never visible to anyone, so one end state and one outbox row per key is enough.
 */
export function planChunk(writes: Write[], byKey: Map<string, KeyState>, now: number, shared: number | null, base: number): ChunkPlan {
  let revision = base;
  const results: WriteResult[] = [];
  const changes: Change[] = [];
  for (const write of writes) {
    const keyState = byKey.get(write.key)!;
    const result = applyWrite(write, keyState.current, shared ?? revision + 1, now);
    results.push(result);
    if (result.status !== 'applied') continue;
    if (shared === null) revision++;
    keyState.changed = true;
    keyState.current = result.after;
    if (keyState.lastPut) changes.push(putChange(keyState.lastPut));
    keyState.lastPut = result.after;
    if (write.op === 'delete') changes.push(removalChange(result.revision, write.key, 'delete'));
    else if (!result.after && write.op === 'set') {
      // A set whose TTL had already run out: written, and gone at once.
      changes.push(putChange({ key: write.key, value: write.value, expiresAt: write.expiresAt, revision: result.revision, createRevision: result.revision, version: 1 }));
    }
  }
  if (shared !== null && results.some((result) => result.status === 'applied')) revision = shared;
  const upserts: Entry[] = [];
  const deletes: string[] = [];
  const owedKeys: string[] = [];
  const copied: string[] = [];
  byKey.forEach((keyState, key) => {
    if (keyState.lastPut) copied.push(key);
    if (!keyState.changed) return;
    if (keyState.current) upserts.push(keyState.current);
    else if (keyState.hadRow) deletes.push(key);
    if (keyState.hadRow || keyState.pending) owedKeys.push(key);
  });
  return { results, revision, upserts, deletes, owedKeys, changes, copied };
}

/**
 * An import, in the caller's transaction: every chunk of the source applied at ONE revision, `start` + 1, as the
 * chunks arrive (memory holds one). `floor()`, asked once the source is read, is a revision the import must end
 * above (the exported database's, so revisions never go backwards across export and import): the rows written at
 * start + 1 are then moved there by `renumber(from, to)`, the store's SQL. Resolves to the totals, with the
 * revision the database is at after the import (the import's own when it changed anything).
 */
export async function applyImport(
  chunks: AsyncIterable<Write[]>,
  start: number,
  floor: () => number,
  applyChunk: (writes: Write[], revision: number) => Promise<WriteOutcome>,
  renumber: (from: number, to: number) => Promise<void>,
): Promise<StreamOutcome> {
  const total: StreamOutcome = { writes: 0, existed: 0, owed: [], pool: null, revision: 0 };
  let revision = start + 1;
  let changed = false;
  for await (const writes of chunks) {
    const outcome = await applyChunk(writes, revision);
    total.pool = outcome.pool;
    total.writes += writes.length;
    for (const result of outcome.results) {
      if (result.status !== 'applied') continue;
      changed = true;
      if (result.existed) total.existed++;
    }
    for (const item of outcome.owed) total.owed.push(item);
  }
  const above = floor();
  if (changed && above >= revision) {
    await renumber(revision, above + 1);
    revision = above + 1;
  }
  total.revision = changed ? revision : Math.max(start, above);
  return total;
}
