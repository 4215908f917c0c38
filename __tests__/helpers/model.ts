/**
 * The reference model of a tbase database: what CONTRACT.md ("Commands", "Revisions", "Data rules") says a
 * database does, as a plain Map and a clock. It is the oracle of the model-based tests (properties/), so it stays
 * small and is written from the contract, not from src/store/writes.ts (it only borrows the Write/Entry shapes, so
 * a test can hand the same write to the model and to the real store).
 *
 * API (stable: other test files use it)
 *   const model = new TbaseModel(() => clock.now);   // times are ms on the injected clock, read once per command
 *   model.apply(write)            one write command (its own transaction)      → ModelResult
 *   model.applyAll(writes)        several writes in ONE transaction, in order  → ModelResult[] (a batch group)
 *   model.set(key, value, { ttlSeconds, keepTtl, ifAbsent, ifRevision, ifValue })   CLI-shaped helpers over apply:
 *   model.incr(key, by = 1n), model.decr(key, by = 1n), model.delete(key, { ifRevision })
 *   model.deletePrefix(prefix)    '' = delete --all                             → { count, revision }
 *   model.get(key) / model.getMany(keys)    the live entry (undefined: absent, also once expired)
 *   model.list(prefix = '')       live entries in key order (UTF-8 byte order)
 *   model.revision                the database revision
 *   model.expireDue()             what a watcher's expiry sweep does (Store.expireDue): 1 if keys went, else 0
 *
 * Rules, each from the contract unless marked (store):
 * - A key is live while `expiresAt` is null or later than now. An expired key reads as absent at once.
 * - The database revision goes +1 for every write that changes something; a failed condition, a delete of a
 *   missing key and a refused increment change nothing. A prefix delete counts once however many keys it removes.
 * - Per key: `revision` = the write that last changed it, `createRevision` = the write that created its current
 *   life, `version` = writes since creation (1 for a new life). A delete ends the life; the next set starts over.
 * - Conditions (`set`, `delete`): `--if-absent`; `--if-revision N` (0 = must be absent); `--if-value OLD`; HTTP
 *   `If-Match: *` (present). Not met: nothing changes, and the answer carries the key's revision (0 when absent).
 * - `set` without `--ttl` clears the expiry; `--keep-ttl` keeps the live key's (a new key gets none). A set whose
 *   expiry has already passed is one change at its revision and leaves the key absent.
 * - `incr`/`decr`: signed 64-bit, a missing key counts as 0, the expiry is kept. A value that is not a counter, or
 *   a result outside [-2^63, 2^63-1], is refused (usage error) and changes nothing (the contract's "signed 64-bit";
 *   writes.ts refuses rather than wrapping). Counter text (store): optional sign and decimal digits, at most 20
 *   characters (parseCounter; the contract does not say whether e.g. "+5" or a long zero padding counts).
 * - Expired rows (store; the contract is silent): the row of an expired key stays until a write transaction
 *   removes it; each transaction, after its writes, removes every expired row (stores do at most 100 at a time:
 *   keep fewer keys than that) as ONE more revision (watchers see `expire` events at it). A prefix delete instead
 *   removes the expired rows in its range with its own revision (one revision even if only expired rows went), and
 *   leaves other expired rows alone.
 */
import type { Condition, Entry, Write } from '../../src/store/writes.js';

export type { Condition, Entry, Write } from '../../src/store/writes.js';

/** What one write did: the same statuses as the store's WriteResult, without the store's error objects. */
export type ModelResult =
  /** `after`: the key as the write left it (undefined: absent, e.g. a set whose expiry had passed). */
  | { status: 'applied'; revision: number; existed: boolean; after: Entry | undefined }
  | { status: 'missing' }
  | { status: 'conflict'; current: number }
  | { status: 'invalid'; reason: 'not-a-counter' | 'overflow' };

export interface ModelSetOptions {
  ttlSeconds?: number;
  keepTtl?: boolean;
  ifAbsent?: boolean;
  /** 0: the key must be absent. */
  ifRevision?: number;
  ifValue?: Buffer | string;
}

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;

export class TbaseModel {
  /** The database revision. */
  revision = 0;
  /** Every row, live or expired but not yet removed (see the module comment). */
  private readonly rows = new Map<string, Entry>();

  constructor(private readonly now: () => number = Date.now) {}

  get(key: string): Entry | undefined {
    return this.live(key, this.now());
  }

  getMany(keys: readonly string[]): Map<string, Entry> {
    const now = this.now();
    const found = new Map<string, Entry>();
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry) found.set(key, entry);
    }
    return found;
  }

  list(prefix = ''): Entry[] {
    const now = this.now();
    return [...this.rows.values()]
      .filter((entry) => entry.key.startsWith(prefix) && isLive(entry, now))
      .sort((a, b) => Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8')));
  }

  apply(write: Write): ModelResult {
    return this.applyAll([write])[0]!;
  }

  /** One transaction: the writes in order, each that changes something at the next revision; then expired rows go. */
  applyAll(writes: readonly Write[]): ModelResult[] {
    const now = this.now();
    const results = writes.map((write) => this.applyOne(write, now));
    this.removeExpired(now);
    return results;
  }

  set(key: string, value: Buffer | string, options: ModelSetOptions = {}): ModelResult {
    const expiresAt = options.ttlSeconds === undefined ? null : this.now() + options.ttlSeconds * 1000;
    return this.apply({ op: 'set', key, value: Buffer.from(value), expiresAt, keepTtl: options.keepTtl, condition: conditionOf(options) });
  }

  incr(key: string, by = 1n): ModelResult {
    return this.apply({ op: 'incr', key, by });
  }

  decr(key: string, by = 1n): ModelResult {
    return this.apply({ op: 'incr', key, by: -by });
  }

  delete(key: string, options: { ifRevision?: number } = {}): ModelResult {
    const condition: Condition | undefined = options.ifRevision === undefined ? undefined : { kind: 'revision', revision: options.ifRevision };
    return this.apply({ op: 'delete', key, condition });
  }

  /** Every key starting with `prefix` ('' = all), one revision when any row (live or expired) went. */
  deletePrefix(prefix: string): { count: number; revision: number } {
    const now = this.now();
    const inRange = [...this.rows.values()].filter((entry) => entry.key.startsWith(prefix));
    for (const entry of inRange) this.rows.delete(entry.key);
    if (inRange.length > 0) this.revision++;
    return { count: inRange.filter((entry) => isLive(entry, now)).length, revision: this.revision };
  }

  /** A transaction that only removes expired rows (Store.expireDue): 1 when any went (one revision), else 0. */
  expireDue(): number {
    const before = this.revision;
    this.removeExpired(this.now());
    return this.revision - before;
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.rows.get(key);
    return entry && isLive(entry, now) ? entry : undefined;
  }

  private applyOne(write: Write, now: number): ModelResult {
    const current = this.live(write.key, now);
    if (write.op !== 'incr' && write.condition && !holds(write.condition, current)) {
      return { status: 'conflict', current: current?.revision ?? 0 };
    }
    let value: Buffer;
    let expiresAt: number | null;
    switch (write.op) {
      case 'delete':
        if (!current) return { status: 'missing' };
        this.rows.delete(write.key);
        return { status: 'applied', revision: ++this.revision, existed: true, after: undefined };
      case 'set':
        value = write.value;
        expiresAt = write.keepTtl && current ? current.expiresAt : write.expiresAt;
        break;
      case 'incr': {
        const base = current ? counterValue(current.value) : 0n;
        if (base === null) return { status: 'invalid', reason: 'not-a-counter' };
        const sum = base + write.by;
        if (sum < MIN_INT64 || sum > MAX_INT64) return { status: 'invalid', reason: 'overflow' };
        value = Buffer.from(sum.toString());
        expiresAt = current ? current.expiresAt : null;
        break;
      }
    }
    const revision = ++this.revision;
    const after: Entry = {
      key: write.key,
      value,
      expiresAt,
      revision,
      createRevision: current ? current.createRevision : revision,
      version: current ? current.version + 1 : 1,
    };
    if (!isLive(after, now)) {
      this.rows.delete(write.key);
      return { status: 'applied', revision, existed: current !== undefined, after: undefined };
    }
    this.rows.set(write.key, after);
    return { status: 'applied', revision, existed: current !== undefined, after };
  }

  private removeExpired(now: number): void {
    const expired = [...this.rows.values()].filter((entry) => !isLive(entry, now));
    for (const entry of expired) this.rows.delete(entry.key);
    if (expired.length > 0) this.revision++;
  }
}

function isLive(entry: Entry, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}

function holds(condition: Condition, current: Entry | undefined): boolean {
  switch (condition.kind) {
    case 'absent':
      return !current;
    case 'present':
      return current !== undefined;
    case 'revision':
      return condition.revision === 0 ? !current : current?.revision === condition.revision;
    case 'value':
      return current !== undefined && current.value.equals(condition.value);
  }
}

/** A counter's value, or null when the text is not a signed 64-bit decimal (see the module comment). */
function counterValue(value: Buffer): bigint | null {
  const text = value.toString('latin1');
  if (text.length > 20 || !/^[-+]?[0-9]+$/.test(text)) return null;
  const n = BigInt(text);
  return n >= MIN_INT64 && n <= MAX_INT64 ? n : null;
}

function conditionOf(options: ModelSetOptions): Condition | undefined {
  if (options.ifAbsent) return { kind: 'absent' };
  if (options.ifRevision !== undefined) return { kind: 'revision', revision: options.ifRevision };
  if (options.ifValue !== undefined) return { kind: 'value', value: Buffer.from(options.ifValue) };
  return undefined;
}
