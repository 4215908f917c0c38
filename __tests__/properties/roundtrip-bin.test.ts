/**
 * Round trips through the built bin (`npm run build` first), against real memcached and SQLite:
 * - one-shot: `set K -` with the value on stdin, then `get -n K`, gives back the exact bytes (a process each, so
 *   few cases); keys starting with `-` follow `--`. argv cannot carry NUL, so those keys are left to batch.
 * - batch: one long-lived `tbase --json batch -`, fed `set <quoted key> <quoted value>` / `get <quoted key>` lines
 *   (quoted with the grammar's quoteWord; a key starting with `-` after `--`, as quoting cannot make it positional), answers with the same key and value; a value that is not UTF-8
 *   (written by another process: a batch line is text) comes back base64 with `"encoding":"base64"`; plain `list`
 *   unescapes to the keys and values; `export` imported into a fresh database (in-process) gives the same entries
 *   and expiries, at one revision above the export's.
 */
import { isUtf8 } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quoteWord } from '../../src/grammar.js';
import { BatchSession } from '../helpers/batch-session.js';
import { runOnDb } from '../helpers/in-process.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { openLocation } from '../helpers/stores.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { expiresAtArb, keyArb, valueArb } from './arbitraries.js';
import { exportedState, type ExportedEntry } from './export-document.js';

afterAll(() => removeTempDirs());

/** The words that name `key` as a positional argument. */
const keyWords = (key: string) => (key.startsWith('-') ? ['--', key] : [key]);

test('one-shot: set K - (stdin) then get -n K gives the exact bytes', async () => {
  const db = tempDbPath();
  const tbase = (args: string[], stdin?: Buffer) => runTbase(['--db', db, '--servers', testServers(), ...args], { stdin, timeoutMs: 60_000 });
  await checkProperty(
    'roundtrip-bin: one-shot set -/get -n',
    fc.asyncProperty(keyArb({ noNul: true }), valueArb(), async (key, value) => {
      const set = await tbase(['set', ...keyWords(key), '-'], value);
      expect({ code: set.code, stderr: set.stderr }).toEqual({ code: 0, stderr: '' });
      const get = await tbase(['get', '-n', ...keyWords(key)]);
      expect({ code: get.code, stderr: get.stderr }).toEqual({ code: 0, stderr: '' });
      expect(get.stdout.equals(value)).toBe(true);
    }),
    { runs: 30 },
  );
}, 170_000);

test('batch --json: set and get lines round-trip any key and value; non-UTF-8 values come back base64', async () => {
  const db = tempDbPath();
  const other = await openLocation(db); // writes values a text line cannot carry
  const batch = new BatchSession(['--db', db, '--servers', testServers(), '--json', 'batch', '-'], {});
  let answered = 0;
  const answer = async () => JSON.parse((await batch.waitForLines(++answered, 60_000))[answered - 1]!) as Record<string, unknown>;
  try {
    await checkProperty(
      'roundtrip-bin: batch --json set/get',
      fc.asyncProperty(keyArb(), valueArb({ large: false }), async (key, value) => {
        if (isUtf8(value)) {
          batch.send([['set', '--', key, value.toString('utf8')].map(quoteWord).join(' ')]); // a value may start with `-` too
          expect(await answer()).toMatchObject({ ok: true, command: 'set', key });
        } else {
          await other.applyWrites([{ op: 'set', key, value, expiresAt: null }], Date.now());
        }
        batch.send([['get', ...keyWords(key)].map(quoteWord).join(' ')]);
        const got = await answer();
        expect(got).toMatchObject({ ok: true, command: 'get', key });
        expect(got.encoding).toBe(isUtf8(value) ? undefined : 'base64');
        expect(Buffer.from(got.value as string, got.encoding === 'base64' ? 'base64' : 'utf8').equals(value)).toBe(true);
      }),
      { runs: 150 },
    );
    expect(await batch.end()).toBe(0);
  } finally {
    batch.kill();
    await other.close();
  }
}, 120_000);

/** Undoes the escaping of plain `list` output (README "Output", src/render.ts escapeBytes): \\ \t \n \r \xNN. */
function unescapeListText(text: string): Buffer {
  const parts: Buffer[] = [];
  let plain = '';
  const flush = () => {
    if (plain !== '') parts.push(Buffer.from(plain, 'utf8'));
    plain = '';
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch !== '\\') {
      plain += ch;
      continue;
    }
    const next = text[++i];
    const named: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
    if (next !== undefined && named[next] !== undefined) plain += named[next];
    else if (next === 'x' && /^[0-9a-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      flush();
      parts.push(Buffer.from([Number.parseInt(text.slice(i + 1, i + 3), 16)]));
      i += 2;
    } else throw new Error(`not an escape: \\${next ?? ''} in ${JSON.stringify(text)}`);
  }
  flush();
  return Buffer.concat(parts);
}

test('batch list: its escaped key<TAB>value line unescapes to exactly the keys and values written', async () => {
  const db = tempDbPath();
  const other = await openLocation(db);
  const batch = new BatchSession(['--db', db, '--servers', testServers(), 'batch', '-'], {});
  let answered = 0;
  let cases = 0;
  try {
    await checkProperty(
      'roundtrip-bin: batch list escaping is reversible',
      fc.asyncProperty(fc.uniqueArray(fc.record({ key: keyArb({ reserveBytes: 12 }), value: valueArb({ large: false }) }), { selector: (e) => e.key, minLength: 1, maxLength: 5 }), async (entries) => {
        const prefix = `c${++cases}/`; // each case lists its own keys (at least one: BatchSession skips empty lines)
        const written = entries.map(({ key, value }) => ({ key: prefix + key, value }));
        await other.applyWrites(written.map(({ key, value }) => ({ op: 'set' as const, key, value, expiresAt: null })), Date.now());
        batch.send([`list ${quoteWord(prefix)}`]);
        const line = (await batch.waitForLines(++answered, 60_000))[answered - 1]!;
        const fields = line === '' ? [] : line.split('\t').map(unescapeListText);
        const listed = [];
        for (let i = 0; i < fields.length; i += 2) listed.push([fields[i]!.toString('utf8'), fields[i + 1]!.toString('base64')]);
        const expected = written.map(({ key, value }) => [key, value.toString('base64')]).sort((a, b) => Buffer.compare(Buffer.from(a[0]!), Buffer.from(b[0]!)));
        expect(listed).toEqual(expected);
      }),
      { runs: 100 },
    );
  } finally {
    batch.kill();
    await other.close();
  }
}, 120_000);

test('batch export → import into a fresh database: the same entries and expiries, revisions only ever forward', async () => {
  const db = tempDbPath();
  const other = await openLocation(db);
  const batch = new BatchSession(['--db', db, '--servers', testServers(), 'batch', '-'], {});
  const dir = tempDir();
  let answered = 0;
  let cases = 0;
  const now = Date.now();
  try {
    await checkProperty(
      'roundtrip-bin: batch export → import',
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ key: keyArb({ reserveBytes: 12 }), value: valueArb({ large: false }), expiresAt: expiresAtArb(now) }), { selector: (e) => e.key, minLength: 1, maxLength: 5 }),
        async (entries) => {
          const prefix = `e${++cases}/`;
          const written = entries.map((e) => ({ ...e, key: prefix + e.key }));
          await other.applyWrites(written.map((e) => ({ op: 'set' as const, ...e })), Date.now());
          batch.send([`export ${quoteWord(prefix)}`]);
          const document = Buffer.from((await batch.waitForLines(++answered, 60_000))[answered - 1]!, 'utf8');
          const source = exportedState(document);
          const file = join(dir, `export-${cases}.json`);
          writeFileSync(file, document);
          const copy = tempDbPath();
          expect((await runOnDb(copy, ['import', file])).code).toBe(0);
          const imported = exportedState((await runOnDb(copy, ['export'])).stdout);
          const shown = (m: Map<string, ExportedEntry>) => [...m.values()].map((e) => [e.key, e.value.toString('base64'), e.expiresAt]);
          expect(shown(imported.entries)).toEqual(shown(source.entries));
          expect(shown(source.entries).sort()).toEqual(written.map((e) => [e.key, e.value.toString('base64'), e.expiresAt]).sort());
          // One import, one revision, above the exported database's: never backwards.
          expect(imported.revision).toBe(source.revision + 1);
          for (const entry of imported.entries.values()) expect(entry.revision).toBe(source.revision + 1);
        },
      ),
      { runs: 40 },
    );
  } finally {
    batch.kill();
    await other.close();
  }
}, 120_000);
