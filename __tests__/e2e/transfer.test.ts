/**
 * export / import end to end: exact round trips of random binary data, all-or-nothing imports, cache invalidation.
 * Real memcached, and each store: a SQLite file, a PostgreSQL schema.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli.js';
import { IO } from '../../src/io.js';
import type { Entry, Write } from '../../src/store/store.js';
import { openLocation, storeKinds } from '../helpers/stores.js';
import { runTbase } from '../helpers/tbase.js';
import { tempDir, testServers } from '../helpers/temp.js';

function tbase(db: string, args: string[], stdin?: string | Buffer) {
  return runTbase(['--db', db, '--servers', testServers(), ...args], { stdin, timeoutMs: 60000 });
}

async function seed(db: string, writes: Write[]): Promise<void> {
  const store = await openLocation(db);
  try {
    await store.applyWrites(writes, Date.now());
  } finally {
    await store.close();
  }
}

async function dump(db: string): Promise<Entry[]> {
  const store = await openLocation(db);
  try {
    return (await store.scan('', '', 1_000_000, Date.now())).entries;
  } finally {
    await store.close();
  }
}

function randomKey(i: number): string {
  const pick = ['ключ', 'キー', '🔑', 'a b', 'tab\there', 'new\nline', 'quote"\'', 'back\\slash', 'é', 'x'];
  return `${pick[i % pick.length]}-${i}-${randomBytes(3).toString('hex')}`;
}

function randomValue(i: number): Buffer {
  switch (i % 5) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return Buffer.from(`text ✓ ${i}\n\ttabbed`, 'utf8');
    case 2:
      return Buffer.from([0xff, 0xfe, 0x00, 0x80, ...randomBytes(i % 50)]); // never valid UTF-8
    default:
      return randomBytes(1 + (i * 37) % 3000);
  }
}

describe.each(storeKinds())('%s store', (kind) => {
  describe('export / import', () => {
    test('round trip of random binary data, empty values, unicode keys and TTLs is exact', async () => {
      const source = await kind.location();
      const farFuture = Date.now() + 7 * 86400_000;
      const writes: Write[] = Array.from({ length: 300 }, (_, i) => ({
        op: 'set' as const,
        key: randomKey(i),
        value: randomValue(i),
        expiresAt: i % 7 === 0 ? farFuture + i : null,
      }));
      await seed(source, writes);

      const exported = await tbase(source, ['export']);
      expect(exported.code).toBe(0);
      expect(exported.stderr).toBe(''); // no progress bar when stderr is not a terminal
      const doc = JSON.parse(exported.out);
      expect(doc).toMatchObject({ format: 'tenantbase-export', version: 2, count: 300 });
      expect(doc.entries.some((e: { encoding?: string }) => e.encoding === 'base64')).toBe(true);

      const file = join(tempDir(), 'export.json');
      writeFileSync(file, exported.stdout);
      const target = await kind.location();
      await seed(target, [{ op: 'set', key: writes[3]!.key, value: Buffer.from('old'), expiresAt: null }]);
      const imported = await tbase(target, ['--json', 'import', file]);
      expect(imported.code).toBe(0);
      expect(JSON.parse(imported.out)).toEqual({ ok: true, command: 'import', count: 300, overwritten: 1, revision: expect.any(Number) });

      const [a, b] = [await dump(source), await dump(target)];
      expect(b.map((e) => e.key)).toEqual(a.map((e) => e.key));
      a.forEach((entry, i) => {
        expect(b[i]!.value.equals(entry.value)).toBe(true);
        expect(b[i]!.expiresAt).toBe(entry.expiresAt);
      });
      // Exporting the copy gives the same document, byte for byte, but for the revisions (the copy's own: every
      // entry at the import's one revision, above the source's); and through stdin as well.
      const copy = (await tbase(target, ['export'])).out;
      expect(withoutRevisions(copy)).toBe(withoutRevisions(exported.out));
      const sourceRevision = Number(/"revision":(\d+),"count"/.exec(exported.out)![1]);
      expect(new Set([...copy.matchAll(/"revision":(\d+)/g)].map((m) => Number(m[1])))).toEqual(new Set([sourceRevision + 1]));
      const viaStdin = await kind.location();
      expect((await tbase(viaStdin, ['import', '-'], exported.stdout)).code).toBe(0);
      expect(withoutRevisions((await tbase(viaStdin, ['export'])).out)).toBe(withoutRevisions(exported.out));
    });

    test('export [prefix] and the one-line and pretty-printed forms import too', async () => {
      const db = await kind.location();
      await tbase(db, [], 'set user:1 ann\nset user:2 bob\nset other x\n');
      const users = JSON.parse((await tbase(db, ['export', 'user:'])).out);
      expect(users.entries.map((e: { key: string }) => e.key)).toEqual(['user:1', 'user:2']);
      const pretty = join(tempDir(), 'pretty.json');
      writeFileSync(pretty, JSON.stringify(users, null, 2));
      const target = await kind.location();
      expect((await tbase(target, ['import', pretty])).code).toBe(0);
      expect((await tbase(target, ['list', '--keys-only'])).out).toBe('user:1\nuser:2\n');
      const oneLine = (await tbase(db, [], 'export other\n')).out; // batch prints the document on one line
      const third = await kind.location();
      expect((await tbase(third, ['import', '-'], oneLine)).code).toBe(0);
      expect((await tbase(third, ['get', 'other'])).out).toBe('x\n');
    });

    test('import invalidates the cached copy of every key it overwrites', async () => {
      const db = await kind.location();
      await tbase(db, ['set', 'a', 'old']);
      expect((await tbase(db, ['get', 'a'])).out).toBe('old\n');
      expect(JSON.parse((await tbase(db, ['--json', 'get', 'a'])).out).source).toBe('cache');
      const file = join(tempDir(), 'in.json');
      writeFileSync(file, '{"format":"tenantbase-export","version":1,"entries":[\n{"key":"a","value":"new","expiresAt":null}\n],"count":1}\n');
      expect((await tbase(db, ['import', file])).code).toBe(0);
      expect((await tbase(db, ['get', 'a'])).out).toBe('new\n');
    });

    test('a malformed or partial file imports nothing (exit 2)', async () => {
      const db = await kind.location();
      await tbase(db, [], 'set keep 1\nset a before\n');
      const before = (await tbase(db, ['export'])).stdout;

      const source = await kind.location();
      await seed(source, Array.from({ length: 5000 }, (_, i) => ({ op: 'set' as const, key: `k${i}`, value: randomValue(i), expiresAt: null })));
      await seed(source, [{ op: 'set', key: 'a', value: Buffer.from('after'), expiresAt: null }]);
      const full = (await tbase(source, ['export'])).stdout;
      const text = full.toString('utf8');
      const lines = text.split('\n');
      const bad: Record<string, string | Buffer> = {
        truncated: full.subarray(0, Math.floor(full.length * 0.9)),
        'cut after an entry': `${lines.slice(0, 4000).join('\n')}\n`,
        'no footer': `${lines.slice(0, -2).join('\n')}\n`,
        'wrong count': text.replace(/"count":5001\}/, '"count":5000}'),
        'bad base64': text.replace(/"value":"([^"]*)","encoding":"base64"/, '"value":"@@@","encoding":"base64"'),
        'empty key': text.replace('"key":"k4999"', '"key":""'),
        'missing comma': text.replace('},\n{"key":"k4000"', '}\n{"key":"k4000"'),
        'not json': 'hello',
        empty: '',
        'wrong format': '{"format":"other","version":1,"entries":[],"count":0}',
        'bad revision': text.replace(/"revision":\d+/, '"revision":"x"'),
        'unknown version': text.replace('"version":2,', '"version":3,'),
      };
      for (const [name, content] of Object.entries(bad)) {
        const file = join(tempDir(), 'bad.json');
        writeFileSync(file, content);
        const r = await tbase(db, ['import', file]);
        expect([name, r.code]).toEqual([name, 2]);
        expect(r.stderr).toMatch(/malformed import/);
        const viaStdin = await tbase(db, ['import', '-'], content);
        expect([name, viaStdin.code]).toEqual([name, 2]);
      }
      expect((await tbase(db, ['export'])).stdout.equals(before)).toBe(true);
      expect((await tbase(db, ['import', join(tempDir(), 'nope.json')])).code).toBe(2);
    }, 60_000);

    test('a progress bar on stderr only when stderr is a terminal', async () => {
      const db = await kind.location();
      await seed(db, Array.from({ length: 6000 }, (_, i) => ({ op: 'set' as const, key: `k${i}`, value: Buffer.alloc(300, 65), expiresAt: null })));
      const run = async (args: string[], stderrIsTTY: boolean) => {
        const stdout = new PassThrough();
        const stderr = Object.assign(new PassThrough(), { isTTY: stderrIsTTY, columns: 100 }) as PassThrough & { isTTY: boolean };
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        stdout.on('data', (chunk: Buffer) => out.push(chunk));
        stderr.on('data', (chunk: Buffer) => err.push(chunk));
        const io = new IO({ stdin: new PassThrough(), stdout, stderr, isStdinTTY: false, isStdoutTTY: false, isStderrTTY: stderrIsTTY, env: {} });
        const code = await main(['--db', db, '--servers', testServers(), ...args], io, {});
        return { code, out: Buffer.concat(out), err: Buffer.concat(err).toString('utf8') };
      };
      const piped = await run(['export'], false);
      expect(piped.err).toBe('');
      const onTerminal = await run(['export'], true);
      expect(onTerminal.code).toBe(0);
      expect(onTerminal.out.equals(piped.out)).toBe(true);
      expect(onTerminal.err).toMatch(/export .*entries/);
      const file = join(tempDir(), 'big.json');
      writeFileSync(file, piped.out);
      expect(readFileSync(file).length).toBeGreaterThan(1024 * 1024);
      const imported = await run(['import', file], true);
      expect(imported.code).toBe(0);
      expect(imported.err).toMatch(/import .*\d\.\d MiB\/\d\.\d MiB/); // sizes in binary units, not byte counts
    }, 60_000);
  });
});

/** An export document without the revisions, which belong to the database it was made from. */
function withoutRevisions(document: string): string {
  return document.replace(/,"revision":\d+,"createRevision":\d+,"version":\d+\}/g, '}').replace(/\],"revision":\d+,"count"/, '],"count"');
}
