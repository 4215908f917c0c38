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
 * Values travel as hex (`unhex` in SQL), JSON having no bytes, or as text when they are printable ASCII
 * (writeEntryRow). A large value would cost twice its size as hex, so values over JSON_VALUE_MAX_BYTES are bound
 * as themselves, one row a statement (bindsAlone).
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
 * An entry as the JSON row ENTRY_ROWS_JSON reads: [key, value as hex or null, expiresAt, revision, createRevision,
 * version, value as text (when not as hex)]. A value of printable ASCII, as most are, goes as text: half the
 * characters of hex for this thread to write and for SQLite to parse, and no `unhex`.
 */
export function writeEntryRow(rows: JsonRowsStatement, entry: Entry): void {
  rows.beginRow();
  rows.string(entry.key);
  const asText = isPrintableAscii(entry.value);
  rows.hex(asText ? null : entry.value);
  rows.int(entry.expiresAt);
  rows.int(entry.revision);
  rows.int(entry.createRevision);
  rows.int(entry.version);
  if (asText) rows.asciiText(entry.value);
  rows.endRow();
}

function isPrintableAscii(value: Buffer): boolean {
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    if (b < 0x20 || b > 0x7e) return false;
  }
  return true;
}

/** The buffer the last released JsonRowsStatement wrote in, for the next one. */
let spareBuffer: Buffer | null = null;

/**
 * Hex digits of every byte value, as character codes: [2b] and [2b + 1]. Made on first use: built at start-up it
 * cost every command (a cache-hot `get` too) ~0.9M instructions, most of them compiling the builder.
 */
let hexCodes: Uint8Array | null = null;

function hexCodeTable(): Uint8Array {
  if (hexCodes) return hexCodes;
  const digits = '0123456789abcdef';
  hexCodes = new Uint8Array(512);
  for (let b = 0; b < 256; b++) {
    hexCodes[2 * b] = digits.charCodeAt(b >> 4);
    hexCodes[2 * b + 1] = digits.charCodeAt(b & 15);
  }
  return hexCodes;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const APOSTROPHE = 0x27;

/**
 * Statements whose one parameter is a JSON array of rows (arrays), written with the array as a SQL string literal
 * straight into a byte buffer, a slice of about JSON_PARAM_CHARS at a time (`take`). A batch group's rows were
 * strings first — each row a chain of a dozen joined pieces, then the slice joined, then copied again into the
 * SQL — about 600 bytes of garbage a row, a quarter of what a `set` line allocated. Here a row allocates nothing:
 * keys of plain characters and hex digits are written a byte at a time, numbers digit by digit, and the slice
 * becomes one string when it is taken.
 *
 * Only literals go between the quotes: JSON strings (with `'` doubled; JSON escapes NUL), printable ASCII text
 * escaped for JSON and SQL alike, hex digits, whole numbers (checked) and `null`.
 */
export class JsonRowsStatement {
  // The buffer one statement is written in is handed on to the next (release): a serve round writes a few rows,
  // thousands of rounds a second, and a fresh 64 KiB each time was memory V8 had to count and collect.
  private bytes = spareBuffer ?? Buffer.allocUnsafe(64 * 1024);
  private length = 0;
  private rows = 0;
  private fields = 0;
  private readonly before: string;
  private readonly after: string;

  /** `sql` has one `?`: where the array goes. */
  constructor(sql: string) {
    spareBuffer = null;
    const mark = sql.indexOf('?');
    if (mark === -1 || sql.indexOf('?', mark + 1) !== -1) throw new Error('JsonRowsStatement: the SQL needs exactly one ?');
    this.before = `${sql.slice(0, mark)}'[`;
    this.after = `]'${sql.slice(mark + 1)}`;
  }

  /** Whether the array has reached its size: take it before the next row. */
  get full(): boolean {
    return this.length >= JSON_PARAM_CHARS;
  }

  beginRow(): void {
    if (this.rows === 0) this.ascii(this.before);
    else this.byte(0x2c);
    this.rows++;
    this.fields = 0;
    this.byte(0x5b);
  }

  endRow(): void {
    this.byte(0x5d);
  }

  string(text: string): void {
    this.field();
    this.room(text.length + 2);
    const start = this.length;
    this.bytes[this.length++] = QUOTE;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH || c === APOSTROPHE) {
        // Anything to escape, or outside ASCII: the whole string as JSON.stringify writes it, in UTF-8.
        this.length = start;
        const json = JSON.stringify(text);
        this.utf8(json.includes("'") ? json.replaceAll("'", "''") : json);
        return;
      }
      this.bytes[this.length++] = c;
    }
    this.bytes[this.length++] = QUOTE;
  }

  /** Bytes of printable ASCII as the JSON string of those characters (read back with `CAST(… AS BLOB)`). */
  asciiText(value: Buffer): void {
    this.field();
    this.room(value.length * 2 + 2);
    const bytes = this.bytes;
    let at = this.length;
    bytes[at++] = QUOTE;
    for (let i = 0; i < value.length; i++) {
      const b = value[i]!;
      if (b < 0x20 || b > 0x7e) throw new Error('asciiText: not printable ASCII');
      if (b === QUOTE || b === BACKSLASH) bytes[at++] = BACKSLASH;
      else if (b === APOSTROPHE) bytes[at++] = APOSTROPHE; // SQL doubles it inside the literal
      bytes[at++] = b;
    }
    bytes[at++] = QUOTE;
    this.length = at;
  }

  /** Bytes as a JSON string of hex digits (for `unhex`), or null. */
  hex(value: Buffer | null): void {
    this.field();
    if (value === null) return this.null();
    this.room(value.length * 2 + 2);
    const bytes = this.bytes;
    const codes = hexCodeTable();
    let at = this.length;
    bytes[at++] = QUOTE;
    for (let i = 0; i < value.length; i++) {
      const b = value[i]! * 2;
      bytes[at++] = codes[b]!;
      bytes[at++] = codes[b + 1]!;
    }
    bytes[at++] = QUOTE;
    this.length = at;
  }

  /** A whole number, or null. */
  int(value: number | null): void {
    this.field();
    if (value === null) return this.null();
    if (!Number.isSafeInteger(value)) throw new Error(`SQL literals: not a whole number: ${value}`);
    if (value < 0) {
      this.byte(0x2d);
      value = -value;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    this.room(digits);
    for (let i = this.length + digits - 1, rest = value; i >= this.length; i--, rest = Math.floor(rest / 10)) this.bytes[i] = 0x30 + (rest % 10);
    this.length += digits;
  }

  /** The statement with the rows written so far, as SQL text; the next row starts a new array. */
  take(): string {
    this.ascii(this.after);
    const sql = this.bytes.toString('utf8', 0, this.length);
    this.length = 0;
    this.rows = 0;
    return sql;
  }

  /** Gives the buffer to the next statement made; this one is not used again. */
  release(): void {
    spareBuffer = this.bytes;
  }

  private null(): void {
    this.room(4);
    const bytes = this.bytes;
    bytes[this.length] = 0x6e; // n u l l, without a call into Buffer.write for four bytes
    bytes[this.length + 1] = 0x75;
    bytes[this.length + 2] = 0x6c;
    bytes[this.length + 3] = 0x6c;
    this.length += 4;
  }

  private field(): void {
    if (this.fields++ > 0) this.byte(0x2c);
  }

  private byte(code: number): void {
    this.room(1);
    this.bytes[this.length++] = code;
  }

  private ascii(text: string): void {
    this.room(text.length);
    this.length += this.bytes.write(text, this.length, 'latin1');
  }

  private utf8(text: string): void {
    this.room(text.length * 3);
    this.length += this.bytes.write(text, this.length, 'utf8');
  }

  private room(bytes: number): void {
    if (this.length + bytes <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.length + bytes));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}

/**
 * `items` as the rows of `sql`'s JSON array (its one `?`), a statement a slice of about JSON_PARAM_CHARS, each
 * handed to `add` as SQL text with whether more follow (so the caller can send the first one ahead of the rest).
 */
export function writeRowStatements<T>(
  sql: string,
  items: readonly T[],
  writeRow: (rows: JsonRowsStatement, item: T) => void,
  add: (statement: string, more: boolean) => void,
): void {
  if (items.length === 0) return;
  const rows = new JsonRowsStatement(sql);
  for (let i = 0; i < items.length; i++) {
    writeRow(rows, items[i]!);
    if (rows.full && i < items.length - 1) add(rows.take(), true);
  }
  const last = rows.take();
  rows.release();
  add(last, false);
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

/**
 * The `SELECT` of the rows of a writeEntryRow array, as the columns `key, value, expires_at, revision,
 * create_revision, version`: the value from its hex, else from its text (whose UTF-8 bytes, being ASCII, are it).
 */
export const ENTRY_ROWS_JSON = `SELECT j.value ->> 0, coalesce(unhex(j.value ->> 1), CAST(j.value ->> 6 AS BLOB)), j.value ->> 2, j.value ->> 3,
  j.value ->> 4, j.value ->> 5 FROM ${ROWS_OF_JSON}`;
