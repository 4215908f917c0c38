/**
 * JsonRowsStatement (sqlite-json.ts) writes rows as a JSON array inside a SQL string literal, byte by byte: what
 * SQLite reads back out of the statement is exactly what went in (any key, any bytes, any whole number), the array
 * comes in slices, and nothing but literals can get into the SQL.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteConnection } from '../../src/store/sqlite-driver.js';
import { ENTRY_ROWS_JSON, JsonRowsStatement, writeEntryRow, writeRowStatements } from '../../src/store/sqlite-json.js';
import type { Entry } from '../../src/store/writes.js';
import { keyArb } from '../properties/arbitraries.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';

afterAll(removeTempDirs);

interface Row {
  key: string;
  value: Buffer | null;
  number: number | null;
}

async function connect(): Promise<SqliteConnection> {
  const path = tempDbPath();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '');
  const db = await SqliteConnection.open(path, 2000);
  await db.exec('CREATE TABLE t (i INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB, n INTEGER)');
  return db;
}

const INSERT = "INSERT INTO t (i, k, v, n) SELECT j.key + coalesce((SELECT max(i) + 1 FROM t), 0), j.value ->> 0, unhex(j.value ->> 1), j.value ->> 2 FROM jsonb_each(?) AS j";

function writeRow(rows: JsonRowsStatement, row: Row): void {
  rows.beginRow();
  rows.string(row.key);
  rows.hex(row.value);
  rows.int(row.number);
  rows.endRow();
}

async function roundTrip(db: SqliteConnection, input: Row[]): Promise<{ rows: Row[]; statements: number; more: boolean[] }> {
  await db.exec('DELETE FROM t');
  const more: boolean[] = [];
  const statements: string[] = [];
  writeRowStatements(INSERT, input, writeRow, (statement, follows) => {
    statements.push(statement);
    more.push(follows);
  });
  for (const statement of statements) await db.exec(statement);
  const rows = await db.all<{ k: string; v: Buffer | null; n: number | null }>('SELECT k, v, n FROM t ORDER BY i');
  return { rows: rows.map(({ k, v, n }) => ({ key: k, value: v, number: n })), statements: statements.length, more };
}

const rowArb: fc.Arbitrary<Row> = fc.record({
  key: fc.oneof(keyArb({ noNul: false }), fc.constantFrom("'", "''", "a'b", '"', '\\', '\0', '\n', 'é', '😀', "'); DROP TABLE t; --")),
  value: fc.option(fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)), { nil: null }),
  number: fc.option(fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER)), { nil: null }),
});

test('what SQLite reads out of the statements is exactly what was written: keys, bytes, whole numbers, nulls', async () => {
  const db = await connect();
  await checkProperty(
    'sqlite-json: rows round-trip through JsonRowsStatement',
    fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 40 }), async (input) => {
      const { rows } = await roundTrip(db, input);
      expect(rows).toEqual(input);
    }),
    { runs: 200 },
  );
  await db.close();
});

test('entries as writeEntryRow writes them read back exact through ENTRY_ROWS_JSON: printable ASCII as text, other bytes as hex', async () => {
  const db = await connect();
  await db.exec('CREATE TABLE e (key TEXT, value BLOB, expires_at INTEGER, revision INTEGER, create_revision INTEGER, version INTEGER)');
  const printable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i))), maxLength: 60 });
  const valueArb = fc.oneof(
    printable.map((text) => Buffer.from(text, 'latin1')),
    fc.constantFrom("'", "''", '"', '\\', '\\"', "x'); DROP TABLE e; --", '').map((text) => Buffer.from(text, 'latin1')),
    fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes)),
  );
  const entryArb: fc.Arbitrary<Entry> = fc.record({
    key: keyArb(),
    value: valueArb,
    expiresAt: fc.option(fc.maxSafeNat(), { nil: null }),
    revision: fc.maxSafeNat(),
    createRevision: fc.maxSafeNat(),
    version: fc.maxSafeNat(),
  });
  await checkProperty(
    'sqlite-json: entries round-trip through ENTRY_ROWS_JSON',
    fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 30 }), async (entries) => {
      await db.exec('DELETE FROM e');
      const statements: string[] = [];
      writeRowStatements(`INSERT INTO e ${ENTRY_ROWS_JSON}`, entries, writeEntryRow, (statement) => statements.push(statement));
      for (const statement of statements) await db.exec(statement);
      const rows = await db.all<{ key: string; value: Buffer; expires_at: number | null; revision: number; create_revision: number; version: number }>(
        'SELECT * FROM e ORDER BY rowid',
      );
      expect(rows.map((row) => ({ key: row.key, value: row.value, expiresAt: row.expires_at, revision: row.revision, createRevision: row.create_revision, version: row.version }))).toEqual(entries);
    }),
    { runs: 200 },
  );
  await db.close();
});

test('many rows come as several statements of about 20,000 characters, only the last told nothing follows', async () => {
  const db = await connect();
  const input = Array.from({ length: 2000 }, (_, i) => ({ key: `key:${i}`, value: Buffer.from(`value-${i}`), number: i * 1_000_003 }));
  const { rows, statements, more } = await roundTrip(db, input);
  expect(rows).toEqual(input);
  expect(statements).toBeGreaterThan(3);
  expect(more).toEqual([...Array<boolean>(statements - 1).fill(true), false]);
  await db.close();
});

test('a number that is not a safe whole number is refused, not written', () => {
  const rows = new JsonRowsStatement('SELECT ?');
  rows.beginRow();
  expect(() => rows.int(1.5)).toThrow('not a whole number');
  expect(() => rows.int(2 ** 53)).toThrow('not a whole number');
  expect(() => new JsonRowsStatement('SELECT ?, ?')).toThrow('exactly one ?');
});
