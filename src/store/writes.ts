/**
 * What a write command does to one key, decided in memory inside the store's write transaction (sqlite.ts reads
 * the keys' rows under the write lock, replays the chunk's writes here in order, then persists the end state).
 * Conditions and counters are decided here and nowhere else: never from a cached copy, never in SQL arithmetic
 * (SQLite's `+` turns to REAL past 2^63 and loses digits; BigInt does not).
 *
 * Revisions (etcd's model): the database has one revision, +1 for every write command that changes something.
 * Each key has `revision` (the write that last changed it), `createRevision` and `version` (writes since
 * creation; a delete ends the key's life, the next set starts at 1).
 */
import { UsageError, quoteKey } from '../errors.js';

export interface Entry {
  key: string;
  value: Buffer;
  /** Milliseconds since the epoch; null when the key never expires. */
  expiresAt: number | null;
  revision: number;
  createRevision: number;
  version: number;
}

/** What a conditional write requires of the key's current state. */
export type Condition =
  | { kind: 'absent' }
  /** HTTP `If-Match: *`. */
  | { kind: 'present' }
  /** The key's revision; 0 means the key must be absent. */
  | { kind: 'revision'; revision: number }
  | { kind: 'value'; value: Buffer };

export type Write =
  | { op: 'set'; key: string; value: Buffer; expiresAt: number | null; keepTtl?: boolean; condition?: Condition; answersRead?: boolean }
  | { op: 'delete'; key: string; condition?: Condition; answersRead?: boolean }
  /** Adds `by` to the key's signed 64-bit decimal value (a missing key counts as 0); the expiry is kept. */
  | { op: 'incr'; key: string; by: bigint };

/** What one write did. `after` is the key as the write left it (undefined: absent), applied or not. */
export type WriteResult =
  | { status: 'applied'; revision: number; existed: boolean; after: Entry | undefined }
  /** A delete of a key that was not there: nothing changed. */
  | { status: 'missing'; after: undefined }
  /** A condition was not met: nothing changed; `current` is the key's revision, 0 when absent. */
  | { status: 'conflict'; current: number; after: Entry | undefined }
  /** An increment the key's value cannot take (not an integer, or overflow): nothing changed. */
  | { status: 'invalid'; error: UsageError; after: Entry | undefined };

/**
 * Whether any write needs the keys' current values: comparisons, counters, and a conditional write marked
 * `answersRead` (its caller reads `after` as the key's state, which a failed condition leaves as it was: the real
 * value, not the placeholder a key-only read gives). Plain sets and deletes do not.
 */
export function needsValues(writes: readonly Write[]): boolean {
  return writes.some((write) => (write.op === 'incr' ? true : write.condition?.kind === 'value' || (write.condition !== undefined && write.answersRead === true)));
}

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);

/** A counter's value: a base-10 signed 64-bit integer, optionally with a sign; anything else is refused. */
export function parseCounter(value: Buffer): bigint | null {
  if (value.length === 0 || value.length > 20) return null;
  const text = value.toString('latin1');
  if (!/^[-+]?\d+$/.test(text)) return null;
  const n = BigInt(text);
  return n >= MIN_INT64 && n <= MAX_INT64 ? n : null;
}

export function inInt64Range(n: bigint): boolean {
  return n >= MIN_INT64 && n <= MAX_INT64;
}

/**
 * Applies one write to the key's live state (`current`, undefined when absent) at the revision it would get.
 * Pure: the caller counts the revision up only when the result is 'applied'.
 */
export function applyWrite(write: Write, current: Entry | undefined, revision: number, now: number): WriteResult {
  if (write.op !== 'incr' && write.condition && !conditionHolds(write.condition, current)) {
    return { status: 'conflict', current: current?.revision ?? 0, after: current };
  }
  switch (write.op) {
    case 'delete':
      if (!current) return { status: 'missing', after: undefined };
      return { status: 'applied', revision, existed: true, after: undefined };
    case 'set': {
      const expiresAt = write.keepTtl && current ? current.expiresAt : write.expiresAt;
      const after = changed(write.key, write.value, expiresAt, current, revision);
      // A set whose expiry has already passed leaves the key absent (it was written, and is gone at once).
      return { status: 'applied', revision, existed: current !== undefined, after: isLive(after, now) ? after : undefined };
    }
    case 'incr': {
      const base = current ? parseCounter(current.value) : 0n;
      if (base === null) {
        return { status: 'invalid', error: new UsageError(`cannot increment ${quoteKey(write.key)}: its value is not a base-10 64-bit integer`), after: current };
      }
      const sum = base + write.by;
      if (!inInt64Range(sum)) {
        return { status: 'invalid', error: new UsageError(`cannot increment ${quoteKey(write.key)}: the result would overflow a signed 64-bit integer`), after: current };
      }
      const after = changed(write.key, Buffer.from(sum.toString()), current?.expiresAt ?? null, current, revision);
      return { status: 'applied', revision, existed: current !== undefined, after };
    }
  }
}

function conditionHolds(condition: Condition, current: Entry | undefined): boolean {
  switch (condition.kind) {
    case 'absent':
      return current === undefined;
    case 'present':
      return current !== undefined;
    case 'revision':
      return condition.revision === 0 ? current === undefined : current?.revision === condition.revision;
    case 'value':
      return current !== undefined && current.value.equals(condition.value);
  }
}

/**
 * The key after a change at `revision`: a new life (created now, version 1) or the next version of the current one.
 * (One object literal per write: a bulk load makes a million of these, and every extra object costs collections.)
 */
function changed(key: string, value: Buffer, expiresAt: number | null, current: Entry | undefined, revision: number): Entry {
  return {
    key,
    value,
    expiresAt,
    revision,
    createRevision: current ? current.createRevision : revision,
    version: current ? current.version + 1 : 1,
  };
}

export function isLive(entry: { expiresAt: number | null }, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}
