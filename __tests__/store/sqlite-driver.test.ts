/**
 * The SQLite connection wrapper (sqlite-driver.ts) on a real file: statements kept prepared behave as one-off ones
 * (results, no read transaction held open), a transaction's at-commit SQL runs with its COMMIT or not at all, and
 * a transaction without its fsync always gives the connection back at synchronous = FULL, also when it fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { literalSql, SqliteConnection, type SqlLiteral } from '../../src/store/sqlite-driver.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';

afterAll(removeTempDirs);

async function connect(path = tempDbPath()): Promise<SqliteConnection> {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, '');
  const db = await SqliteConnection.open(path, 2000);
  await db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)');
  return db;
}

const FULL = 2;
const synchronous = async (db: SqliteConnection) => (await db.get<{ synchronous: number }>('PRAGMA synchronous'))!.synchronous;

test('kept statements give the same answers as one-off ones, for any number of uses and more statements than are kept', async () => {
  const db = await connect();
  // Many distinct texts (more than the prepared budget holds), each used several times.
  for (let n = 1; n <= 400; n++) {
    const keys = Array.from({ length: n % 37 + 1 }, (_, i) => `k${n}-${i}`);
    await db.run(`INSERT INTO t (k, v) VALUES ${keys.map(() => '(?, ?)').join(', ')}`, keys.flatMap((k) => [k, Buffer.from(k)]));
    const rows = await db.all<{ k: string; v: Buffer }>(`SELECT k, v FROM t WHERE k IN (${keys.map(() => '?').join(',')}) ORDER BY k`, keys);
    expect(rows.map((row) => row.k)).toEqual([...keys].sort());
    expect(rows.every((row) => row.v.toString() === row.k)).toBe(true);
  }
  expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM t'))!.n).toBe(Array.from({ length: 400 }, (_, n) => ((n + 1) % 37) + 1).reduce((a, b) => a + b));
  await db.close();
});

test('get() through a kept statement holds no read transaction: another connection can checkpoint and write', async () => {
  const path = tempDbPath();
  const db = await connect(path);
  await db.run('INSERT INTO t (k, v) VALUES (?, ?), (?, ?)', ['a', Buffer.from('1'), 'b', Buffer.from('2')]);
  for (let i = 0; i < 3; i++) expect((await db.get<{ k: string }>('SELECT k FROM t ORDER BY k', []))!.k).toBe('a');
  const other = await SqliteConnection.open(path, 2000);
  await other.run('INSERT INTO t (k, v) VALUES (?, ?)', ['c', Buffer.from('3')]);
  // A reader stuck on an old snapshot would keep the WAL from being checkpointed to its end.
  const checkpoint = await other.get<{ busy: number; log: number; checkpointed: number }>('PRAGMA wal_checkpoint(TRUNCATE)');
  expect(checkpoint!.busy).toBe(0);
  expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM t'))!.n).toBe(3); // and it sees the new row
  await other.close();
  await db.close();
});

test('at-commit SQL runs with the COMMIT; a failed transaction runs none of it', async () => {
  const db = await connect();
  await db.transaction(async () => {
    await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['x', Buffer.from('1')]);
    db.runAtCommit('UPDATE t SET v = ? WHERE k = ?', [42, 0]); // whole numbers only: k = 0 matches nothing
    db.runAtCommit('INSERT INTO t (k, v) VALUES (?, ?)', [7, 8]);
  });
  expect((await db.all<{ k: string | number }>('SELECT k FROM t ORDER BY k')).map((row) => String(row.k)).sort()).toEqual(['7', 'x']);
  await expect(
    db.transaction(async () => {
      db.runAtCommit('INSERT INTO t (k, v) VALUES (?, ?)', [9, 9]);
      await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['x', Buffer.from('dup')]); // primary key violation
    }),
  ).rejects.toThrow(/UNIQUE|constraint/i);
  // The failed transaction left no at-commit SQL behind for the next one.
  await db.transaction(async () => undefined);
  expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM t'))!.n).toBe(2);
  await db.close();
});

test('SQL written with literals takes whole numbers and JSON texts only; JSON goes in quoted, byte for byte', async () => {
  const db = await connect();
  const reject = (values: unknown[]) => db.transaction(async () => db.runAtCommit('DELETE FROM t WHERE rowid = ?', values as SqlLiteral[]));
  await expect(reject(['1 OR 1=1'])).rejects.toThrow(/not a JSON text/);
  await expect(reject([1.5])).rejects.toThrow(/not a whole number/);
  await expect(reject([{ json: '["\0"]' }])).rejects.toThrow(/holding NUL/);
  const keys = ["it's", "'); DROP TABLE t; --", 'ключ 🔑', 'nul\u0000inside', '?'];
  await db.transaction(async () => db.runAtCommit('INSERT INTO t (k, v) SELECT j.value, x\'\' FROM json_each(?) AS j', [{ json: JSON.stringify(keys) }]));
  expect((await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((row) => row.k).sort()).toEqual([...keys].sort());
  await db.exec(literalSql('DELETE FROM t WHERE k IN (SELECT value FROM json_each(?)) AND rowid > ?', [{ json: JSON.stringify(keys.slice(0, 2)) }, 0]));
  expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM t'))!.n).toBe(3);
  await db.close();
});

test('a transaction without its fsync gives the connection back at synchronous = FULL, whether it commits or fails', async () => {
  const db = await connect();
  expect(await synchronous(db)).toBe(FULL);
  await db.transaction(async () => void (await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', Buffer.from('1')])), { durable: false });
  expect(await synchronous(db)).toBe(FULL);
  await expect(db.transaction(async () => void (await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['a', Buffer.from('again')])), { durable: false })).rejects.toThrow();
  expect(await synchronous(db)).toBe(FULL);
  // A failing at-commit statement fails the COMMIT trip: rolled back, FULL again.
  await expect(
    db.transaction(async () => {
      await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['b', Buffer.from('2')]);
      db.runAtCommit('INSERT INTO t (k, v) SELECT k, v FROM t WHERE rowid = ?', [1]); // duplicates a key
    }, { durable: false }),
  ).rejects.toThrow(/UNIQUE|constraint/i);
  expect(await synchronous(db)).toBe(FULL);
  expect((await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((row) => row.k)).toEqual(['a']);
  await db.close();
});

describe('sendEarly: statements sent inside a transaction without waiting for them', () => {
  const insert = (keys: string[]) => literalSql("INSERT INTO t (k, v) SELECT j.value, x'' FROM json_each(?) AS j", [{ json: JSON.stringify(keys) }]);
  const keysIn = async (db: SqliteConnection) => (await db.all<{ k: string }>('SELECT k FROM t ORDER BY k')).map((row) => row.k);

  test('run in the order sent, before the at-commit SQL and before a kept statement issued after them', async () => {
    const db = await connect();
    const seen = await db.transaction(async () => {
      db.sendEarly(insert(['a', 'b']));
      db.sendEarly(`${insert(['c'])}; UPDATE t SET v = x'01' WHERE k = 'a'`);
      db.runWrittenAtCommit("UPDATE t SET v = x'02' WHERE k = 'a'"); // after both: its value stays
      // A kept statement (node-sqlite3 would run it beside an exec) waits for them.
      return (await db.all<{ k: string; v: Buffer }>('SELECT k, v FROM t ORDER BY k', [])).map((row) => `${row.k}${row.v.toString('hex')}`);
    });
    expect(seen).toEqual(['a01', 'b', 'c']);
    expect((await db.all<{ v: Buffer }>("SELECT v FROM t WHERE k = 'a'"))[0]!.v.toString('hex')).toBe('02');
    await db.close();
  });

  test('one that fails: no COMMIT, all of the transaction rolled back (what was sent after it too), the connection fine', async () => {
    const db = await connect();
    await db.run('INSERT INTO t (k, v) VALUES (?, ?)', ['taken', Buffer.from('1')]);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(
        db.transaction(async () => {
          db.sendEarly(insert(['x1', 'x2']));
          db.sendEarly(insert(['x3', 'taken'])); // primary key violation
          db.sendEarly(insert(['x4']));
          db.runWrittenAtCommit(insert(['x5']));
        }),
      ).rejects.toThrow(/UNIQUE|constraint/i);
      // The work itself failing while a failed early statement is still unawaited: the work's error, rolled back.
      await expect(
        db.transaction(async () => {
          db.sendEarly(insert(['y1', 'taken']));
          throw new Error('the work failed');
        }),
      ).rejects.toThrow('the work failed');
      await new Promise((resolve) => setTimeout(resolve, 20)); // a rejection nobody handled would show by now
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(await keysIn(db)).toEqual(['taken']);
    await db.transaction(async () => db.sendEarly(insert(['z'])));
    expect(await keysIn(db)).toEqual(['taken', 'z']);
    await db.close();
  });
});
