/**
 * `import` of any mutation of a valid export — bytes flipped, fields dropped or retyped, entries duplicated,
 * dropped or swapped, the document cut short, junk added — imports all of it or nothing (CONTRACT.md: "load an
 * export; all or nothing"), with exit 0 or 2 only:
 * - exit 0: the document is valid (read independently: UTF-8 JSON of the export's shape) and the database holds
 *   what it says — every entry, the last of duplicates winning, an entry expired by now invisible — over what was
 *   there, at one new revision above the database's and the document's; the cached copies agree.
 * - exit 2: the database is unchanged: the same export, byte for byte, the same revision.
 * A document still valid after its mutations (duplicates with the count fixed, CRLF, reordered) must import.
 * In-process (src/cli.ts main) against real memcached and each store, so hundreds of cases run.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../../src/store/store.js';
import { runOnDb } from '../helpers/in-process.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { storeKinds } from '../helpers/stores.js';
import { tempDir } from '../helpers/temp.js';
import { expiresAtArb, keyArb, valueArb } from './arbitraries.js';
import { exportedState, keepsValid, modelOf, mutatedDocument, mutationArb, readDocument, serialise, writtenDocument, type ExportedEntry } from './export-document.js';

/** Keys the target database starts with, so documents overwrite some. */
const SEEDED = ['a', 'key with space', 'ключ', '#hash', '-dash', 'tab\there', 'new\nline', 'nul\0byte', 'é', '🔑'];

const now = Date.now();
const entryArb: fc.Arbitrary<Entry> = fc
  .record({
    key: fc.oneof(fc.constantFrom(...SEEDED), keyArb()),
    value: valueArb({ large: false }),
    expiresAt: fc.oneof(expiresAtArb(now), fc.constant(now - 86_400_000)), // also one already expired
    createRevision: fc.integer({ min: 1, max: 50 }),
    changes: fc.nat({ max: 5 }),
    version: fc.integer({ min: 1, max: 6 }),
  })
  .map(({ createRevision, changes, ...rest }) => ({ ...rest, createRevision, revision: createRevision + changes }));

const documentArb = fc.record({
  entries: fc.uniqueArray(entryArb, { selector: (e) => e.key, maxLength: 6 }),
  layout: fc.constantFrom('lines' as const, 'lines' as const, 'lines' as const, 'compact' as const, 'pretty' as const),
  extraRevisions: fc.nat({ max: 20 }),
  mutations: fc.array(mutationArb, { maxLength: 3 }),
  viaStdin: fc.boolean(),
});

/** Writes in order over `before`; what is live at `at` (an entry that expired by then is gone, whatever was there). */
function expectedAt(before: Map<string, ExportedEntry>, writes: { key: string; value: Buffer; expiresAt: number | null }[], at: number) {
  const state = new Map<string, { value: Buffer; expiresAt: number | null }>(before);
  for (const write of writes) state.set(write.key, write);
  return new Map([...state].filter(([, e]) => e.expiresAt === null || e.expiresAt > at));
}

describe.each(storeKinds())('%s store', (kind) => {
  test('an import of a mutated export is all of it (exactly what the document says) or nothing', async () => {
    const db = await kind.location();
    const dir = tempDir();
    for (const [i, key] of SEEDED.entries()) {
      const set = await runOnDb(db, ['set', '--', key, '-'], `seeded ${i}`);
      expect(set.code).toBe(0);
    }
    let cases = 0;
    let imported = 0;
    await checkProperty(
      `roundtrip-import ${kind}: mutated export is all or nothing`,
      fc.asyncProperty(documentArb, async ({ entries, layout, extraRevisions, mutations, viaStdin }) => {
        cases++;
        const documentRevision = Math.max(0, ...entries.map((e) => e.revision)) + extraRevisions;
        const model = modelOf(entries, layout, documentRevision);
        if (layout !== 'pretty') expect(serialise(model)).toBe(await writtenDocument(entries, layout, documentRevision));
        const bytes = mutatedDocument(model, mutations);
        const reading = readDocument(bytes);

        const beforeDoc = (await runOnDb(db, ['export'])).stdout;
        const before = exportedState(beforeDoc);
        const keys = [...new Set([...SEEDED, ...entries.map((e) => e.key)])];
        await runOnDb(db, ['--json', 'get', '--', ...keys]); // fills the cache with what is there
        const file = join(dir, 'doc.json');
        writeFileSync(file, bytes);
        const startedAt = Date.now();
        const run = viaStdin ? await runOnDb(db, ['import', '-'], bytes) : await runOnDb(db, ['import', file]);
        const endedAt = Date.now();
        const afterDoc = (await runOnDb(db, ['export'])).stdout;
        const after = exportedState(afterDoc);
        const context = () => `exit ${run.code}: ${run.stderr}\nreading: ${JSON.stringify(reading.valid ? 'valid' : reading.why)}\ndocument: ${JSON.stringify(bytes.toString('latin1'))}`;

        if (run.code === 2) {
          expect({ unchanged: afterDoc.equals(beforeDoc), context: context() }).toEqual({ unchanged: true, context: context() });
          expect(run.stderr).toMatch(/malformed import|cannot read/);
          if (reading.valid && mutations.every(keepsValid)) throw new Error(`a valid document was refused\n${context()}`);
          return;
        }
        expect({ code: run.code, context: context() }).toEqual({ code: 0, context: context() });
        if (!reading.valid) throw new Error(`an invalid document was imported\n${context()}`);
        imported++;
        // Every key whose liveness the import's few milliseconds could decide is left out of the comparison.
        const early = expectedAt(before.entries, reading.writes, startedAt);
        const late = expectedAt(before.entries, reading.writes, endedAt);
        const shown = (m: Map<string, { value: Buffer; expiresAt: number | null }>) =>
          [...m].filter(([key]) => early.has(key) === late.has(key)).map(([key, e]) => [key, e.value.toString('base64'), e.expiresAt]).sort();
        expect(shown(after.entries)).toEqual(shown(late));

        // Revisions: one new revision above both the database's and the document's, for every key written.
        if (reading.writes.length > 0) {
          const revision = Math.max(before.revision, reading.revision) + 1;
          expect(after.revision).toBe(revision);
          for (const write of reading.writes) {
            const entry = after.entries.get(write.key);
            if (entry) expect([write.key, entry.revision]).toEqual([write.key, revision]);
          }
        } else {
          // Nothing written, yet never behind the document it came from (export → import never goes backwards).
          expect(after.revision).toBe(Math.max(before.revision, reading.revision));
        }
        // The cache agrees with the store: no copy from before the import is served.
        const got = await runOnDb(db, ['--json', 'get', '--', ...keys]);
        const answer = JSON.parse(got.stdout.toString('utf8')) as { entries: { key: string; value: string; encoding?: string }[] };
        for (const entry of answer.entries) {
          const value = Buffer.from(entry.value, entry.encoding === 'base64' ? 'base64' : 'utf8');
          expect([entry.key, value.equals(after.entries.get(entry.key)?.value ?? Buffer.from('(absent)'))]).toEqual([entry.key, true]);
        }
        expect(answer.entries.length).toBe(keys.filter((key) => after.entries.has(key)).length);
      }),
      { runs: kind.name === 'sqlite' ? 250 : 50 },
    );
    // The mutations must leave some documents importable, or the property says little about exit 0.
    expect(imported).toBeGreaterThan(cases / 10);
  }, 170_000);
});
