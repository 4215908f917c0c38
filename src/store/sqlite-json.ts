/**
 * Many rows as ONE parameter: a JSON array that SQLite takes apart itself (`jsonb_each` for rows, `json_each` for
 * keys), for the bulk statements of the SQLite store (a batch group, an import chunk, a serve round).
 *
 * Why: node-sqlite3 converts every bound parameter on the main thread, one by one, and a 1000-line batch group
 * bound 3000 of them in statements of 300 rows (SQLite's parameter limit). A JSON text is one parameter and one
 * conversion; the parsing moves to SQLite's worker thread, where it overlaps the next group's JavaScript. The SQL
 * text no longer depends on the number of rows, so each statement is prepared once and kept (sqlite-driver.ts).
 * Measured beside the old statements (100k new keys, 926 a transaction): main thread busy 176–336 ms instead of
 * 467–691 ms, wall time a fifth shorter.
 *
 * Values travel as hex (`unhex` in SQL): JSON has no bytes. A large value would cost twice its size as hex, so
 * values over JSON_VALUE_MAX_BYTES are bound as themselves, one row a statement (bindsAlone).
 */
import type { Entry } from './writes.js';

/** `key IN (…)` over the keys of a JSON array parameter (keysJson). */
export const IN_JSON_KEYS = 'IN (SELECT value FROM json_each(?))';

/**
 * Characters of JSON one parameter carries at most: the statement keeps a copy of its bound text until its next
 * use (sqlite-driver.ts keeps statements bound with up to 64 KiB), so one group of small rows is one statement and
 * the copy stays small.
 */
const JSON_PARAM_CHARS = 20_000;
/** Values larger than this are bound as bytes, one row a statement, not written into JSON as hex. */
const JSON_VALUE_MAX_BYTES = 2048;

/** Whether a row with this value is bound as itself, one row a statement, rather than written into JSON. */
export function bindsAlone(value: Buffer | null): boolean {
  return value !== null && value.length > JSON_VALUE_MAX_BYTES;
}

/** A value as a JSON field for `unhex`: its bytes as a hex string, or null. */
export function hexJson(value: Buffer | null): string {
  return value === null ? 'null' : `"${value.toString('hex')}"`;
}

/** [the items that pass `test`, the others], each in order. */
export function partition<T>(items: readonly T[], test: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (test(item) ? yes : no).push(item);
  return [yes, no];
}

/** The items in slices of at most about JSON_PARAM_CHARS characters of JSON each (at least one item each). */
export function* jsonArrays<T>(items: readonly T[], encode: (item: T) => string): Generator<{ json: string; items: T[] }> {
  let texts: string[] = [];
  let slice: T[] = [];
  let chars = 2;
  for (const item of items) {
    const text = encode(item);
    if (texts.length > 0 && chars + text.length + 1 > JSON_PARAM_CHARS) {
      yield { json: bracketed(texts), items: slice };
      texts = [];
      slice = [];
      chars = 2;
    }
    texts.push(text);
    slice.push(item);
    chars += text.length + 1;
  }
  if (texts.length > 0) yield { json: bracketed(texts), items: slice };
}

/**
 * `[a,b,…]` as one flat string, made by join alone: a batch group's array is 60 KB, and `[` + joined + `]` is a
 * rope that is copied whole again the first time it is read (literalSql reads it at once).
 */
function bracketed(texts: string[]): string {
  texts[0] = `[${texts[0]}`;
  texts[texts.length - 1] += ']';
  return texts.join(',');
}

/** Keys as JSON arrays for IN_JSON_KEYS. */
export function* keysJson(keys: readonly string[]): Generator<string> {
  // Usually all of them fit one parameter: then one native stringify, a third of the time of one per key.
  const all = JSON.stringify(keys);
  if (all.length <= JSON_PARAM_CHARS) {
    yield all;
    return;
  }
  for (const { json } of jsonArrays(keys, (key) => JSON.stringify(key))) yield json;
}

/**
 * An entry as the JSON row UPSERT_JSON reads: [key, value as hex, expiresAt, revision, createRevision, version].
 */
export function entryJson(entry: Entry): string {
  return `[${JSON.stringify(entry.key)},${hexJson(entry.value)},${entry.expiresAt ?? 'null'},${entry.revision},${entry.createRevision},${entry.version}]`;
}

/**
 * The rows of a JSON array of rows (arrays), each as `j.value`, whose fields `j.value ->> n` reads. `jsonb_each`,
 * not `json_each`: json_each hands each row over as JSON text, which SQLite had rendered from its parse of the
 * array only for `->>` to parse it again, six times a row (from a cache, but each lookup compares the text);
 * jsonb_each hands over the row in SQLite's binary JSON, which `->>` reads in place. Replaying a 100k-line batch's
 * exact SQL (six alternating runs each): 657–920 ms with json_each, 621–873 ms with jsonb_each, medians 832 and
 * 682 ms. Needs SQLite 3.45 or later (node-sqlite3 6.0.1 builds 3.52).
 */
export const ROWS_OF_JSON = 'jsonb_each(?) AS j';

/** The `SELECT` of the rows of an entryJson array, as the columns `key, value, expires_at, revision, create_revision, version`. */
export const ENTRY_ROWS_JSON = `SELECT j.value ->> 0, unhex(j.value ->> 1), j.value ->> 2, j.value ->> 3, j.value ->> 4, j.value ->> 5 FROM ${ROWS_OF_JSON}`;
