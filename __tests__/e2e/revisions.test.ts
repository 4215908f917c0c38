/**
 * Revisions and the coordination primitives through the built bin, as scripts use them: conditional writes,
 * counters, multi-get and prefix delete, with exact stdout, stderr and exit codes, one-shot and batch, and
 * revisions across export and import. Real memcached, and each store: a SQLite file, a PostgreSQL schema.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { storeKinds, type StoreKind } from '../helpers/stores.js';
import { tempDir, testServers } from '../helpers/temp.js';
import { runTbase, type RunOptions } from '../helpers/tbase.js';

/** The bin on a fresh database of `kind` (a new SQLite file, or a new schema on this file's PostgreSQL server). */
async function cli(kind: StoreKind) {
  const db = await kind.location();
  const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
  const run = (args: string[], options: RunOptions = {}) => runTbase(args, { ...options, env: { ...env, ...options.env } });
  /** One `--json` answer, parsed. */
  const json = async (...args: string[]) => {
    const result = await run(['--json', ...args]);
    return { code: result.code, body: JSON.parse(result.out) as Record<string, unknown>, stderr: result.stderr };
  };
  const revision = async () => Number(/^revision\t(\d+)$/m.exec((await run(['stats'])).out)![1]);
  return { db, run, json, revision };
}

describe.each(storeKinds())('%s store', (kind) => {
  describe('revisions', () => {
    test('+1 for every write that changes something; none for a failed condition or a missing delete', async () => {
      const { json, run, revision } = await cli(kind);
      expect(await revision()).toBe(0);
      expect((await json('set', 'a', '1')).body).toEqual({ ok: true, command: 'set', key: 'a', ttl: null, revision: 1, createRevision: 1, version: 1 });
      expect((await json('set', 'b', 'x')).body).toMatchObject({ revision: 2, createRevision: 2, version: 1 });
      expect((await json('set', 'a', '2')).body).toMatchObject({ revision: 3, createRevision: 1, version: 2 });
      expect((await run(['set', 'a', '3', '--if-revision', '1'])).code).toBe(4);
      expect((await run(['delete', 'nope'])).code).toBe(1);
      expect(await revision()).toBe(3);
      expect((await json('get', 'a')).body).toEqual({ ok: true, command: 'get', key: 'a', value: '2', ttl: null, revision: 3, createRevision: 1, version: 2, source: 'store' });
      // A copy answers the same revisions as the store. ('b' was a fresh insert: no tombstone holds its fill back.)
      const fromStore = (await json('get', 'b')).body;
      const fromCache = (await json('get', 'b')).body;
      expect(fromStore).toEqual({ ok: true, command: 'get', key: 'b', value: 'x', ttl: null, revision: 2, createRevision: 2, version: 1, source: 'store' });
      expect(fromCache).toEqual({ ...fromStore, source: 'cache' });
      expect((await json('delete', 'a')).body).toEqual({ ok: true, command: 'delete', key: 'a', revision: 4 });
      // A key created again starts a new life: createRevision is the new one, version 1.
      expect((await json('set', 'a', 'again')).body).toMatchObject({ revision: 5, createRevision: 5, version: 1 });
      const list = (await json('list')).body as { entries: unknown[] };
      expect(list.entries).toEqual([
        { key: 'a', value: 'again', ttl: null, revision: 5, createRevision: 5, version: 1 },
        { key: 'b', value: 'x', ttl: null, revision: 2, createRevision: 2, version: 1 },
      ]);
    });
  });

  describe('conditional writes', () => {
    test('--if-absent, --if-revision N (0 = absent), --if-value: exit 4, the key and its revision on stderr, nothing changed', async () => {
      const { run, json } = await cli(kind);
      expect(await run(['set', 'k', 'v1', '--if-absent'])).toMatchObject({ code: 0, out: '', stderr: '' });
      const taken = await run(['set', 'k', 'v2', '--if-absent']);
      expect(taken).toMatchObject({ code: 4, out: '' });
      expect(taken.stderr).toBe('tbase: condition not met: "k" is at revision 1; nothing changed\n');
      expect((await run(['set', 'k', 'v2', '--if-revision', '0'])).code).toBe(4);
      expect((await run(['set', 'k', 'v2', '--if-revision', '7'])).code).toBe(4);
      expect((await run(['set', 'k', 'v2', '--if-value', 'v9'])).code).toBe(4);
      expect(await run(['get', 'k'])).toMatchObject({ code: 0, out: 'v1\n' });
      expect((await json('set', 'k', 'v2', '--if-revision', '1')).body).toMatchObject({ ok: true, revision: 2, version: 2 });
      expect((await json('set', 'k', 'v3', '--if-value', 'v2')).body).toMatchObject({ ok: true, revision: 3, version: 3 });
      const conflict = await json('set', 'k', 'v4', '--if-revision', '2');
      expect(conflict.code).toBe(4);
      expect(conflict.body).toEqual({
        ok: false,
        command: 'set',
        key: 'k',
        error: 'conflict',
        revision: 3,
        message: 'condition not met: "k" is at revision 3; nothing changed',
      });
      const absent = await json('set', 'other', 'x', '--if-revision', '5');
      expect(absent).toMatchObject({ code: 4, body: { error: 'conflict', revision: 0 } });
      expect(absent.stderr).toBe('tbase: condition not met: "other" does not exist (revision 0); nothing changed\n');
      expect((await json('set', 'other', 'x', '--if-revision', '0')).body).toMatchObject({ ok: true, createRevision: 4 });
      // delete --if-revision
      expect((await run(['delete', 'k', '--if-revision', '2'])).code).toBe(4);
      expect((await json('delete', 'k', '--if-revision', '3')).body).toEqual({ ok: true, command: 'delete', key: 'k', revision: 5 });
      expect((await run(['delete', 'k', '--if-revision', '3'])).code).toBe(4);
    });

    test('a cached copy never decides a condition: the store does, inside the write', async () => {
      const { run, json } = await cli(kind);
      await run(['set', 'c', 'old']);
      expect((await json('get', 'c')).body.source).toBe('store');
      expect((await json('get', 'c')).body.source).toBe('cache');
      // Another process (no cache at all) changes the key; the copy is invalidated, but even a copy that
      // survived could not make this conditional write succeed against revision 1.
      expect((await run(['set', 'c', 'new'], { env: { TBASE_NO_CACHE: '1' } })).code).toBe(0);
      expect((await run(['set', 'c', 'mine', '--if-revision', '1'])).code).toBe(4);
      expect((await run(['set', 'c', 'mine', '--if-value', 'old'])).code).toBe(4);
      expect(await run(['get', 'c'])).toMatchObject({ out: 'new\n' });
    });

    test('--keep-ttl keeps the expiry a set would clear; flags that contradict are usage errors', async () => {
      const { run, json } = await cli(kind);
      await run(['set', 's', 'a', '--ttl', '1h']);
      expect((await json('set', 's', 'b', '--keep-ttl')).body.ttl).toBeGreaterThan(3590);
      expect((await json('get', 's')).body).toMatchObject({ value: 'b', ttl: expect.any(Number) });
      expect((await json('set', 's', 'c')).body.ttl).toBeNull();
      expect((await json('set', 'fresh', 'x', '--keep-ttl')).body.ttl).toBeNull();
      for (const args of [
        ['set', 's', 'd', '--ttl', '5m', '--keep-ttl'],
        ['set', 's', 'd', '--if-absent', '--if-revision', '1'],
        ['set', 's', 'd', '--if-revision', '-1'],
        ['set', 's', 'd', '--if-revision', 'abc'],
        ['delete', 's', '--if-revision', '1.5'],
      ]) {
        const result = await run(args);
        expect({ args, code: result.code, out: result.out }).toEqual({ args, code: 2, out: '' });
        expect(result.stderr).toMatch(/^tbase: .+\n$/);
      }
      expect(await run(['get', 's'])).toMatchObject({ out: 'c\n' });
    });
  });

  describe('counters', () => {
    test('incr/decr: missing key = 0, signed 64-bit exact, TTL kept, the new value printed', async () => {
      const { run, json } = await cli(kind);
      expect(await run(['incr', 'n'])).toMatchObject({ code: 0, out: '1\n', stderr: '' });
      expect(await run(['incr', 'n', '41'])).toMatchObject({ code: 0, out: '42\n' });
      expect(await run(['decr', 'n', '50'])).toMatchObject({ code: 0, out: '-8\n' });
      expect(await run(['incr', 'n', '-2'])).toMatchObject({ code: 0, out: '-10\n' });
      expect((await json('decr', 'n')).body).toEqual({ ok: true, command: 'decr', key: 'n', value: '-11', ttl: null, revision: 5, createRevision: 1, version: 5 });
      // Past 2^53 (where a double loses digits) and up to the last representable value.
      await run(['set', 'big', '9223372036854775000']);
      expect(await run(['incr', 'big', '807'])).toMatchObject({ code: 0, out: '9223372036854775807\n' });
      const over = await run(['incr', 'big']);
      expect(over).toMatchObject({ code: 2, out: '' });
      expect(over.stderr).toBe('tbase: cannot increment "big": the result would overflow a signed 64-bit integer\n');
      await run(['set', 'low', '-9223372036854775808']);
      expect((await run(['decr', 'low'])).code).toBe(2);
      expect(await run(['get', 'big'])).toMatchObject({ out: '9223372036854775807\n' });
      // A value that is not a base-10 integer is never touched.
      await run(['set', 'word', '12abc']);
      const notInt = await run(['incr', 'word']);
      expect(notInt).toMatchObject({ code: 2, out: '' });
      expect(notInt.stderr).toBe('tbase: cannot increment "word": its value is not a base-10 64-bit integer\n');
      expect(await run(['get', 'word'])).toMatchObject({ out: '12abc\n' });
      for (const step of ['1.5', 'ten', '9223372036854775808']) expect((await run(['incr', 'n', step])).code).toBe(2);
      // The TTL is kept.
      await run(['set', 'visits', '10', '--ttl', '1h']);
      const kept = await json('incr', 'visits');
      expect(kept.body).toMatchObject({ value: '11', ttl: expect.any(Number) });
      expect(kept.body.ttl as number).toBeGreaterThan(3590);
    });
  });

  describe('multi-get', () => {
    test('key<TAB>value lines for the keys found, in argument order; exit 1 naming every missing key', async () => {
      const { run, json } = await cli(kind);
      await run(['batch', '-'], { stdin: 'set a 1\nset "b c" "two\\tparts"\nset d 4\n' });
      expect(await run(['get', 'd', 'b c', 'a'])).toMatchObject({ code: 0, out: 'd\t4\nb c\ttwo\\tparts\na\t1\n', stderr: '' });
      const some = await run(['get', 'a', 'x', 'd', 'y']);
      expect(some).toMatchObject({ code: 1, out: 'a\t1\nd\t4\n' });
      expect(some.stderr).toBe('tbase: key not found: "x"\ntbase: key not found: "y"\n');
      const exact = await run(['get', '-n', 'a', 'd']);
      expect(exact).toMatchObject({ code: 2, out: '', stderr: 'tbase: -n prints one value byte for byte: give it one key\n' });
      const body = (await json('get', 'a', 'x')).body;
      expect(body).toEqual({
        ok: false,
        command: 'get',
        entries: [{ key: 'a', value: '1', ttl: null, revision: 1, createRevision: 1, version: 1, source: 'cache' }],
        missing: ['x'],
        error: 'not_found',
      });
    });
  });

  describe('prefix delete', () => {
    test('removes every key under the prefix in one revision, prints the count; copies are invalidated', async () => {
      const { run, json, revision } = await cli(kind);
      const lines = Array.from({ length: 300 }, (_, i) => `set user:${i} v${i}`).concat(['set users x', 'set other y']);
      await run(['batch', '-'], { stdin: `${lines.join('\n')}\n` });
      // Fill the cache with the copies the delete must invalidate.
      await run(['batch', '-'], { stdin: Array.from({ length: 300 }, (_, i) => `get user:${i}\n`).join('') });
      expect((await json('get', 'user:7')).body.source).toBe('cache');
      const before = await revision();
      expect(await run(['delete', '--prefix', 'user:'])).toMatchObject({ code: 0, out: '300\n', stderr: '' });
      expect(await revision()).toBe(before + 1);
      expect((await run(['get', 'user:7'])).code).toBe(1);
      expect(await run(['list', '--keys-only'])).toMatchObject({ out: 'other\nusers\n' });
      expect((await json('delete', '--prefix', 'user:')).body).toEqual({ ok: true, command: 'delete', prefix: 'user:', count: 0, revision: before + 1 });
      expect(await revision()).toBe(before + 1); // nothing went: no new revision
      const empty = await run(['delete', '--prefix', '']);
      expect(empty).toMatchObject({ code: 2, out: '' });
      expect(empty.stderr).toBe('tbase: an empty prefix removes every key: say --all\n');
      expect((await run(['delete', 'other', '--prefix', 'o'])).code).toBe(2);
      expect(await run(['delete', '--all'])).toMatchObject({ code: 0, out: '2\n' });
      expect(await run(['list'])).toMatchObject({ out: '' });
    });

    test('prefixes ending in any character, unicode included, select exactly their keys', async () => {
      const { run } = await cli(kind);
      const keys = ['a', 'a\u{10FFFF}', 'a\u{10FFFF}b', 'a\u{D7FF}', 'a\u{E000}', 'aé', 'af', 'b', 'ключ🔑1', 'ключ🔑2', 'ключ🔒'];
      await run(['batch', '-'], { stdin: keys.map((key) => `set "${key}" 1\n`).join('') });
      const count = async (prefix: string) => Number((await run(['delete', '--prefix', prefix])).out);
      expect(await count('ключ🔑')).toBe(2);
      expect(await count('a\u{10FFFF}')).toBe(2);
      expect(await count('a\u{D7FF}')).toBe(1);
      expect(await count('ae')).toBe(0);
      expect((await run(['list', '--keys-only'])).out.split('\n').filter(Boolean)).toEqual(['a', 'af', 'aé', 'a\u{E000}', 'b', 'ключ🔒']); // UTF-8 byte order
    });
  });

  describe('batch', () => {
    test('a failed condition is an answer (\\C), counters and multi-get are one line each; exit 0', async () => {
      const { run } = await cli(kind);
      const input = [
        'set k v --if-absent',
        'set k w --if-absent',
        'set k w --if-revision 1',
        'get k',
        'incr n',
        'incr n 9',
        'decr n 20',
        'incr k',
        'get k n nope',
        'delete k --if-revision 1',
        'delete --prefix n',
        'get n',
      ].join('\n');
      const result = await run(['batch', '-'], { stdin: `${input}\n` });
      expect(result.out.split('\n')).toEqual(['OK', '\\C', 'OK', 'w', '1', '10', '-10', '\\E usage', 'k\tw\tn\t-10', '\\C', '1', '\\N', '']);
      expect(result.code).toBe(2); // the incr of a word is a usage error; conflicts and missing keys are answers
      expect(result.stderr).toBe('tbase: line 8: cannot increment "k": its value is not a base-10 64-bit integer\n');
    });

    test('--json lines carry revisions, conflicts with the current revision, and the line number', async () => {
      const { run } = await cli(kind);
      const result = await run(['--json', 'batch', '-'], { stdin: 'set a 1\nset a 2 --if-revision 5\nincr a\nget a b\n' });
      expect(result.code).toBe(0); // multi-get with a missing key is an answer in batch
      expect(result.out.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
        { ok: true, command: 'set', line: 1, key: 'a', ttl: null, revision: 1, createRevision: 1, version: 1 },
        { ok: false, command: 'set', line: 2, key: 'a', error: 'conflict', revision: 1, message: 'condition not met: "a" is at revision 1; nothing changed' },
        { ok: true, command: 'incr', line: 3, key: 'a', value: '2', ttl: null, revision: 2, createRevision: 1, version: 2 },
        { ok: false, command: 'get', line: 4, entries: [expect.objectContaining({ key: 'a', value: '2', revision: 2 })], missing: ['b'], error: 'not_found' },
      ]);
    });

    test('in one segment, a read between two writes of a key sees the state the first left, applied or not', async () => {
      const { run } = await cli(kind);
      await run(['set', 'k', 'start']);
      const input = ['set k a --if-value nope', 'get k', 'set k b', 'incr c', 'get c', 'incr c'].join('\n');
      const result = await run(['batch', '-'], { stdin: `${input}\n` });
      expect(result.out.split('\n')).toEqual(['\\C', 'start', 'OK', '1', '1', '2', '']);
    });
  });

  describe('export and import', () => {
    test('the export carries revisions; an import is one revision above both databases', async () => {
      const source = await cli(kind);
      await source.run(['batch', '-'], { stdin: 'set a 1\nset b 2\nset a 3\ndelete b\nset c 4\nincr c\n' });
      const exported = await source.run(['export']);
      const lines = exported.out.trim().split('\n');
      expect(lines[0]).toBe('{"format":"tenantbase-export","version":2,"entries":[');
      expect(JSON.parse(lines[1]!.replace(/,$/, ''))).toEqual({ key: 'a', value: '3', expiresAt: null, revision: 3, createRevision: 1, version: 2 });
      expect(lines.at(-1)).toBe('],"revision":6,"count":2}');
      const file = join(tempDir(), 'export.json');
      writeFileSync(file, exported.out);

      // Into a fresh database: it starts above the exported revision, and the whole import is one revision.
      const target = await cli(kind);
      const imported = await target.json('import', file);
      expect(imported.body).toEqual({ ok: true, command: 'import', count: 2, overwritten: 0, revision: 7 });
      expect(await target.revision()).toBe(7);
      expect((await target.json('get', 'c')).body).toMatchObject({ value: '5', revision: 7, createRevision: 7, version: 1 });
      // Into a database that is further on: one above its own.
      for (let i = 0; i < 10; i++) await target.run(['incr', 'x']);
      expect((await target.json('import', file)).body).toMatchObject({ count: 2, overwritten: 2, revision: 18 });
      expect((await target.json('get', 'a')).body).toMatchObject({ revision: 18, createRevision: 7, version: 2 });
      // A version 1 document (before revisions) still imports.
      const v1 = '{"format":"tenantbase-export","version":1,"entries":[\n{"key":"old","value":"x","expiresAt":null}\n],"count":1}\n';
      expect((await target.json('import', '-')).code).toBe(2); // stdin empty: malformed
      expect((await target.run(['--json', 'import', '-'], { stdin: v1 })).out).toContain('"revision":19');
      expect(readFileSync(file, 'utf8')).toBe(exported.out);
    });
  });
});
