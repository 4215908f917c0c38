/** Batch mode end to end: the built bin, piped, against real memcached (and with the cache off). */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sqlite3 from 'sqlite3';
import { BIN, expectSentPrefix, killBatchMidway, runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';

afterAll(removeTempDirs);

function batch(db: string, input: string, extra: string[] = [], env: Record<string, string> = {}) {
  return runTbase(['--db', db, '--servers', testServers(), ...extra], { stdin: input, env, timeoutMs: 60000 });
}

describe('batch output', () => {
  test('one line per command, in input order; a missing key is \\N and exit 0', async () => {
    const db = tempDbPath();
    const r = await batch(db, 'set a 1\nget a\nget missing\ndelete a\ndelete a\nttl a\nset b x\nttl b\n');
    expect(r.stderr).toBe('');
    expect(r.out).toBe('OK\n1\n\\N\nOK\n\\N\n\\N\nOK\n-1\n');
    expect(r.code).toBe(0);
  });

  test('read-your-writes with the cache on, including a key already cached before the batch', async () => {
    const db = tempDbPath();
    expect((await batch(db, 'set a 1\nget a\nset a 2\nget a\n')).out).toBe('OK\n1\nOK\n2\n');
    // Warm the cache with a=2 in another process, then overwrite inside one batch around a command that runs alone.
    expect((await runTbase(['--db', db, '--servers', testServers(), 'get', 'a'])).out).toBe('2\n');
    expect((await runTbase(['--db', db, '--servers', testServers(), '--json', 'get', 'a'])).out).toContain('"source":"cache"');
    const r = await batch(db, 'get a\nset a 3\nget a\nstats\nget a\ndelete a\nget a\nset a 4\nlist\nget a\n');
    expect(r.out.split('\n').filter((_, i) => i !== 3 && i !== 8)).toEqual(['2', 'OK', '3', '3', 'OK', '\\N', 'OK', '4', '']);
    // …and every later process sees the batch's last write.
    expect((await runTbase(['--db', db, '--servers', testServers(), 'get', 'a'])).out).toBe('4\n');
  });

  test('as if one command at a time: a repeated read is served by the copy the first one cached', async () => {
    const db = tempDbPath();
    const r = await batch(db, 'set x 1\nget x\nget x\nset z 1\nget z\nset z 2\nget z\nget z\n', ['--json']);
    const objects = r.out.trim().split('\n').map((line) => JSON.parse(line));
    expect(objects.filter((o) => o.command === 'get').map((o) => [o.key, o.value, o.source])).toEqual([
      ['x', '1', 'store'], // read after the commit: a miss, which fills the cache
      ['x', '1', 'cache'],
      ['z', '1', 'store'], // between two writes of z: answered by the first
      ['z', '2', 'store'],
      ['z', '2', 'cache'],
    ]);
  });

  test('the same answers with --no-cache', async () => {
    const db = tempDbPath();
    const r = await batch(db, 'set a 1\nget a\nset a 2\nget a\ndel a\nget a\n', ['--no-cache']);
    expect(r.out).toBe('OK\n1\nOK\n2\nOK\n\\N\n');
  });

  test('quoting, escapes, unicode, comments, blank lines and CRLF', async () => {
    const db = tempDbPath();
    const input = [
      '# a comment',
      '',
      '   ',
      'set "key with spaces" "tab\\there"',
      "set 'single' 'keeps \\t as typed'",
      'set ключ "значение ✓"',
      'SET nl "line1\\nline2"',
      'set bs "back\\\\slash"',
      'set empty ""',
      'set lit "\\\\N"', // the value \N: printed as \\N, never as the not-found marker
      '  # indented comment',
      'get "key with spaces"',
      'get single',
      'GET ключ',
      'get nl',
      'get bs',
      'get empty',
      'get lit',
    ].join('\r\n');
    const r = await batch(db, `${input}\r\n`);
    expect(r.stderr).toBe('');
    expect(r.out).toBe('OK\nOK\nOK\nOK\nOK\nOK\nOK\ntab\\there\nkeeps \\\\t as typed\nзначение ✓\nline1\\nline2\nback\\\\slash\n\n\\\\N\n');
    const json = await batch(db, 'get "key with spaces"\r\nget nl\r\nget empty', ['--json']);
    const objects = json.out.trim().split('\n').map((line) => JSON.parse(line));
    expect(objects.map((o) => o.value)).toEqual(['tab\there', 'line1\nline2', '']);
    expect(objects.map((o) => o.line)).toEqual([1, 2, 3]);
  });

  test('--json: exactly one object per command with line, ok and command', async () => {
    const db = tempDbPath();
    const r = await batch(db, 'set a 1 --ttl 1h\n\n# skip\nget a\nget nope\nbogus cmd\nset\nlist\nexport\nttl a\n', ['--json']);
    const objects = r.out.trim().split('\n').map((line) => JSON.parse(line));
    expect(objects.map((o) => [o.line, o.ok, o.command])).toEqual([
      [1, true, 'set'],
      [4, true, 'get'],
      [5, false, 'get'],
      [6, false, null],
      [7, false, 'set'],
      [8, true, 'list'],
      [9, true, 'export'],
      [10, true, 'ttl'],
    ]);
    expect(objects[0]).toMatchObject({ key: 'a', ttl: 3600 });
    expect(objects[1]).toMatchObject({ key: 'a', value: '1', ttl: 3600 });
    expect(objects[2]).toMatchObject({ key: 'nope', error: 'not_found' });
    expect(objects[3]).toMatchObject({ error: 'usage' });
    expect(objects[5].entries).toEqual([{ key: 'a', value: '1', ttl: 3600, revision: 1, createRevision: 1, version: 1 }]);
    expect(objects[6].document).toMatchObject({ format: 'tenantbase-export', count: 1 });
    expect(objects[7]).toMatchObject({ key: 'a', ttl: 3600 });
    expect(r.code).toBe(2); // two usage errors; the missing key does not count
  });

  test('errors name the line (blank and comment lines count), the batch goes on, exit is the worst code', async () => {
    const db = tempDbPath();
    const r = await batch(db, '# header\n\nset a 1\nfrobnicate\nset b "open\nset c 3 --ttl 0\nget c\nset d 4\n');
    expect(r.out).toBe('OK\n\\E usage\n\\E usage\n\\E usage\n\\N\nOK\n');
    expect(r.stderr).toMatch(/line 4: .*frobnicate/);
    expect(r.stderr).toMatch(/line 5: unterminated double quote/);
    expect(r.stderr).toMatch(/line 6: bad TTL/);
    expect(r.code).toBe(2);
  });

  test('--bail stops at the first failure and runs nothing after it', async () => {
    const db = tempDbPath();
    const file = join(tempDir(), 'cmds.txt');
    writeFileSync(file, 'set a 1\nget nope\nset b 2\nbogus\nset c 3\nget a\n');
    const r = await runTbase(['--db', db, '--servers', testServers(), 'batch', '--bail', file]);
    expect(r.out).toBe('OK\n\\N\nOK\n\\E usage\n');
    expect(r.stderr).toMatch(/line 4:/);
    expect(r.code).toBe(2);
    const after = await batch(db, 'get a\nget b\nget c\n');
    expect(after.out).toBe('1\n2\n\\N\n');
  });

  test('many groups (the next planned while one commits): each line sees every line before it, answers in input order', async () => {
    const db = tempDbPath();
    const lines: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 3000; i++) {
      // Each get reads the key the line before wrote, across group boundaries too (groups of 1024 lines).
      lines.push(`set k${i} v${i}`, `get k${i}`, `incr n`);
      expected.push('OK', `v${i}`, String(i + 1));
    }
    const r = await batch(db, `${lines.join('\n')}\n`);
    expect(r.out).toBe(`${expected.join('\n')}\n`);
    expect(r.code).toBe(0);
  });

  test('groups of writes alone overlap (the next queued behind the running one): each write sees every one before it', async () => {
    const db = tempDbPath();
    const lines: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 4000; i++) {
      // A counter and a compare-and-set chain that each depend on the line before, across group boundaries (1024
      // lines at most a group); an invalid line now and then fails alone.
      lines.push('incr n', i === 0 ? 'set c v0 --if-absent' : `set c v${i} --if-value v${i - 1}`);
      expected.push(String(i + 1), 'OK');
      if (i % 700 === 699) {
        lines.push('bogus');
        expected.push('\\E usage');
      }
    }
    const r = await batch(db, `${lines.join('\n')}\n`);
    expect(r.out).toBe(`${expected.join('\n')}\n`);
    expect(r.code).toBe(2);
    expect((await batch(db, 'get n\nget c\n')).out).toBe('4000\nv3999\n');
  });

  test('--bail with the failure in a later group: the group after it, already planned, never runs', async () => {
    const db = tempDbPath();
    const file = join(tempDir(), 'cmds.txt');
    const lines = Array.from({ length: 3000 }, (_, i) => (i === 1500 ? 'bogus' : `set k${i} ${i}`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runTbase(['--db', db, '--servers', testServers(), 'batch', '--bail', file]);
    expect(r.out).toBe(`${'OK\n'.repeat(1500)}\\E usage\n`);
    expect(r.code).toBe(2);
    const after = await batch(db, 'get k1499\nget k1501\nget k2999\n');
    expect(after.out).toBe('1499\n\\N\n\\N\n');
  });

  test('answers each line as soon as it arrives: a script can write a command and wait for its answer', async () => {
    const db = tempDbPath();
    const child = spawn(process.execPath, [BIN, '--db', db, '--servers', testServers()], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const waitFor = async (text: string) => {
      for (let i = 0; i < 500 && !out.endsWith(text); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(out.endsWith(text)).toBe(true);
    };
    child.stdin.write('set a 1\n');
    await waitFor('OK\n');
    child.stdin.write('get a\nget b\n');
    await waitFor('1\n\\N\n');
    child.stdin.end('set b 2\nget b\n');
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(out).toBe('OK\n1\n\\N\nOK\n2\n');
    expect(code).toBe(0);
  });

  test('`batch FILE` and `batch -` read commands; a missing file is a usage error', async () => {
    const db = tempDbPath();
    const file = join(tempDir(), 'cmds.txt');
    writeFileSync(file, 'set f 1\nget f'); // no final newline
    expect((await runTbase(['--db', db, '--servers', testServers(), 'batch', file])).out).toBe('OK\n1\n');
    expect((await runTbase(['--db', db, '--servers', testServers(), 'batch', '-'], { stdin: 'get f\n' })).out).toBe('1\n');
    const missing = await runTbase(['--db', db, 'batch', join(tempDir(), 'nope.txt')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read batch file/);
  });

  test('list, stats and export print one line each', async () => {
    const db = tempDbPath();
    const r = await batch(db, 'set "a b" "1\t2"\nset c 3\nlist\nlist --keys-only\nlist zzz\nstats\nexport\n');
    const lines = r.out.split('\n');
    expect(lines).toHaveLength(8);
    expect(lines[2]).toBe('a b\t1\\t2\tc\t3');
    expect(lines[3]).toBe('a b\tc');
    expect(lines[4]).toBe('');
    expect(lines[5]).toMatch(/^database=.*\tkeys=2\t/);
    expect(JSON.parse(lines[6]!)).toMatchObject({ count: 2 });
  });

  test('import inside a batch, and a storage failure: \\E storage on every line, exit 3', async () => {
    const db = tempDbPath();
    const file = join(tempDir(), 'export.json');
    writeFileSync(file, '{"format":"tenantbase-export","version":1,"entries":[\n{"key":"i","value":"imported","expiresAt":null}\n],"count":1}\n');
    expect((await batch(db, `import ${JSON.stringify(file)}\nget i\nimport -\n`)).out).toBe('OK\nimported\n\\E usage\n');
    const notADatabase = tempDir(); // a folder where the database file should be
    const r = await batch(notADatabase, 'set a 1\nget a\nbogus\n');
    expect(r.out).toBe('\\E storage\n\\E storage\n\\E usage\n');
    expect(r.stderr).toMatch(/line 1: .*directory/);
    expect(r.code).toBe(3);
  });

  test('a 100k-line input: every answer, in order', async () => {
    const db = tempDbPath();
    const n = 50_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(`set k${i} v${i}`);
    for (let i = 0; i < n; i++) lines.push(i % 1000 === 999 ? `get missing${i}` : `get k${i}`);
    const r = await batch(db, `${lines.join('\n')}\n`);
    expect(r.code).toBe(0);
    const out = r.out.split('\n');
    expect(out).toHaveLength(2 * n + 1);
    for (let i = 0; i < n; i++) {
      if (out[i] !== 'OK') throw new Error(`line ${i + 1}: ${out[i]}`);
      const expected = i % 1000 === 999 ? '\\N' : `v${i}`;
      if (out[n + i] !== expected) throw new Error(`line ${n + i + 1}: ${out[n + i]} (expected ${expected})`);
    }
    // Once more, now that the cache is hot: the same answers.
    const again = await batch(db, `${lines.slice(n).join('\n')}\n`);
    expect(again.out).toBe(`${out.slice(n).join('\n')}`);
  }, 120_000);
});

describe('crash safety', () => {
  test('kill -9 mid-batch: the database is intact and holds exactly a prefix of the input', async () => {
    const db = tempDbPath();
    const fed = await killBatchMidway(['--db', db, '--servers', testServers()], {});

    const conn = new sqlite3.Database(db);
    const all = <T>(sql: string) =>
      new Promise<T[]>((resolve, reject) => conn.all(sql, (err: Error | null, rows: T[]) => (err ? reject(err) : resolve(rows))));
    try {
      expect(await all<{ integrity_check: string }>('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
      const keys = (await all<{ key: string }>('SELECT key FROM entries ORDER BY key')).map((row) => row.key);
      expectSentPrefix(keys, fed);
    } finally {
      conn.close();
    }
  }, 120_000);
});
