/**
 * Generated export documents to `import -`, through main() in process: random JSON, valid exports in each
 * layout, and almost-valid ones (a field of the wrong type, huge numbers, invalid base64, duplicate keys, a cut or
 * a stray character, a wrong count, a BOM, CR LF). The answer is exit 0 or 2 and nothing else; 2 says
 * `malformed import` on one line and leaves the database exactly as it was (all or nothing); 0 moves the database
 * revision once, above the document's (an import of no entries: lifted to the document's, never behind it); an
 * intact valid document is always accepted and lands whole.
 */
import { DatabaseProbe, messageProblem, runInProcess } from '../helpers/bad-input.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

const db = tempDbPath();
const env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
let probe: DatabaseProbe;

beforeAll(async () => {
  expect((await runInProcess(['set', 'seed', 'v'], env)).code).toBe(0);
  probe = await DatabaseProbe.open(db);
});

afterAll(async () => {
  await probe?.close();
  removeTempDirs();
});

const HOUR = 3_600_000;

interface ExportEntry {
  key: unknown;
  value: unknown;
  encoding?: unknown;
  expiresAt?: unknown;
  revision?: unknown;
  createRevision?: unknown;
  version?: unknown;
}

/** Entries as `tbase export` writes them: text or base64 values, no expiry or one far from now. */
const validEntry = fc
  .record({
    key: fc.oneof(fc.constantFrom('a', 'b', 'ключ', '🔑', 'a key', 'k'.repeat(1024)), fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !/[\uD800-\uDFFF]/.test(k))),
    bytes: fc.oneof(fc.string({ maxLength: 20 }).map((s) => Buffer.from(s, 'utf8')), fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b))),
    base64: fc.boolean(),
    expiresAt: fc.oneof(fc.constant(null), fc.integer({ min: 2, max: 1000 }).map((h) => Date.now() + h * HOUR)),
    revisions: fc.option(fc.tuple(fc.nat(1000), fc.nat(1000), fc.nat(1000))),
  })
  .map(({ key, bytes, base64, expiresAt, revisions }): ExportEntry => {
    const text = bytes.toString('utf8');
    const asText = !base64 && Buffer.from(text, 'utf8').equals(bytes);
    return {
      key,
      value: asText ? text : bytes.toString('base64'),
      ...(asText ? {} : { encoding: 'base64' }),
      expiresAt,
      ...(revisions ? { revision: revisions[0], createRevision: revisions[1], version: revisions[2] } : {}),
    };
  });

/** Values a field should not hold (and some it may). */
const oddValue = fc.oneof(
  fc.constantFrom<unknown>(null, true, 0, -1, 1.5, 1e308, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, '', 'x', '@@@', 'QUJD', 'QUJ', 'QUJD=', '====', [], {}, ['a'], { a: 1 }),
  fc.jsonValue({ maxDepth: 2 }),
);
/** Numbers JSON can spell that JavaScript cannot hold exactly. */
const hugeNumber = fc.constantFrom('1e400', '-1e400', '99999999999999999999', '9007199254740993', '1.0', '-0', '0.0000001', '1E3');

type Corruption =
  | { kind: 'field'; entry: number; field: keyof ExportEntry | 'extra'; value: unknown }
  | { kind: 'drop-field'; entry: number; field: keyof ExportEntry }
  | { kind: 'top'; field: 'format' | 'version' | 'count' | 'revision' | 'entries'; value: unknown }
  | { kind: 'huge'; field: 'revision' | 'count' | 'expiresAt' | 'version'; text: string }
  | { kind: 'duplicate-key' }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number }
  | { kind: 'bom' }
  | { kind: 'crlf' }
  | { kind: 'trailing'; text: string };

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant('field' as const), entry: fc.nat(5), field: fc.constantFrom('key', 'value', 'encoding', 'expiresAt', 'revision', 'createRevision', 'version', 'extra'), value: oddValue }),
  fc.record({ kind: fc.constant('drop-field' as const), entry: fc.nat(5), field: fc.constantFrom('key', 'value', 'encoding', 'expiresAt') }),
  fc.record({ kind: fc.constant('top' as const), field: fc.constantFrom('format', 'version', 'count', 'revision', 'entries'), value: oddValue }),
  fc.record({ kind: fc.constant('huge' as const), field: fc.constantFrom('revision', 'count', 'expiresAt', 'version'), text: hugeNumber }),
  fc.constant({ kind: 'duplicate-key' as const }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), text: fc.constantFrom(',', '"', '\n', '{', ']', '\\', '\0', 'x', '\r\n', ' ') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.constant({ kind: 'bom' as const }),
  fc.constant({ kind: 'crlf' as const }),
  fc.record({ kind: fc.constant('trailing' as const), text: fc.constantFrom('\n\n', ' ', 'x', '{}', '\n{"key":"late"}\n') }),
);

/** An export's text in one of the layouts import reads: entry per line (streamed), compact, pretty. */
function render(document: Record<string, unknown>, entries: unknown[], layout: 'lines' | 'compact' | 'pretty'): string {
  if (layout === 'compact') return JSON.stringify(document);
  if (layout === 'pretty') return `${JSON.stringify(document, null, 2)}\n`;
  const { format, version, revision, count } = document;
  const footer = `],${revision === undefined ? '' : `"revision":${JSON.stringify(revision)},`}"count":${JSON.stringify(count)}}`;
  const head = `{"format":${JSON.stringify(format)},"version":${JSON.stringify(version)},"entries":[`;
  return `${head}\n${entries.map((e) => JSON.stringify(e)).join(',\n')}${entries.length > 0 ? '\n' : ''}${footer}\n`;
}

const HUGE_MARK = '"__huge__"';

function applyCorruptions(entries: ExportEntry[], top: Record<string, unknown>, corruptions: Corruption[]): { entries: unknown[]; top: Record<string, unknown>; huge: Corruption[]; text: Corruption[] } {
  const out = entries.map((e) => ({ ...e })) as Record<string, unknown>[];
  const doc = { ...top };
  const huge: Corruption[] = [];
  const text: Corruption[] = [];
  for (const c of corruptions) {
    if (c.kind === 'field' && out.length > 0) out[c.entry % out.length]![c.field] = c.value;
    else if (c.kind === 'drop-field' && out.length > 0) delete out[c.entry % out.length]![c.field];
    else if (c.kind === 'top') doc[c.field] = c.value;
    else if (c.kind === 'huge') {
      if (c.field === 'expiresAt' && out.length > 0) out[0]!.expiresAt = '__huge__';
      else if (c.field !== 'expiresAt') doc[c.field] = '__huge__';
      huge.push(c);
    } else text.push(c);
  }
  return { entries: out, top: doc, huge, text };
}

function corruptText(text: string, corruptions: Corruption[], huge: Corruption[]): string {
  for (const c of huge) if (c.kind === 'huge') text = text.replace(HUGE_MARK, c.text);
  for (const c of corruptions) {
    const at = 'at' in c ? Math.floor(c.at * text.length) : 0;
    if (c.kind === 'cut') text = text.slice(0, at);
    else if (c.kind === 'insert') text = text.slice(0, at) + c.text + text.slice(at);
    else if (c.kind === 'delete') text = text.slice(0, at) + text.slice(at + 1);
    else if (c.kind === 'bom') text = `\uFEFF${text}`;
    else if (c.kind === 'crlf') text = text.replace(/\n/g, '\r\n');
    else if (c.kind === 'trailing') text += c.text;
    else if (c.kind === 'duplicate-key') text = text.replace('{"key":', '{"key":"shadowed","key":');
  }
  return text;
}

const documents = fc.oneof(
  // An export, intact or damaged.
  {
    weight: 8,
    arbitrary: fc
      .record({
        entries: fc.array(validEntry, { maxLength: 6 }),
        revision: fc.option(fc.nat(5000), { nil: undefined }),
        version: fc.constantFrom(1, 2),
        layout: fc.constantFrom('lines' as const, 'compact' as const, 'pretty' as const),
        corruptions: fc.oneof({ weight: 1, arbitrary: fc.constant<Corruption[]>([]) }, { weight: 3, arbitrary: fc.array(corruption, { minLength: 1, maxLength: 2 }) }),
      })
      .map(({ entries, revision, version, layout, corruptions }) => {
        const top = { format: 'tenantbase-export', version, entries, ...(revision === undefined ? {} : { revision }), count: entries.length };
        const damaged = applyCorruptions(entries, top, corruptions);
        const document = { ...damaged.top, entries: damaged.top.entries === entries ? damaged.entries : damaged.top.entries };
        const body = render(document, Array.isArray(document.entries) ? document.entries : [], layout);
        return { text: corruptText(body, damaged.text, damaged.huge), intact: corruptions.length === 0 ? { entries, revision: revision ?? 0 } : null };
      }),
  },
  // Any JSON at all, or any text.
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ text: JSON.stringify(v) ?? '', intact: null })) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((text) => ({ text, intact: null })) },
);

const bytesOf = (entry: ExportEntry) => Buffer.from(entry.value as string, entry.encoding === 'base64' ? 'base64' : 'utf8').toString('hex');

/** The database revision: the first line of a snapshot. */
const revisionOf = (snapshot: string) => Number(snapshot.split('\n', 1)[0]);

test('any document: exit 0 or 2, all or nothing, one line', async () => {
  await checkProperty(
    'bad export documents (import -)',
    fc.asyncProperty(documents, async ({ text, intact }) => {
      const now = Date.now();
      const before = await probe.snapshot(now);
      const run = await runInProcess(['import', '-'], env, Buffer.from(text, 'utf8'));
      expect([0, 2]).toContain(run.code);
      expect(messageProblem(run.code, run.stderr)).toBeNull();
      const after = await probe.snapshot(now);
      // An intact valid document is always accepted.
      if (intact) expect({ text, code: run.code, stderr: run.stderr }).toEqual({ text, code: 0, stderr: '' });
      if (run.code === 2) {
        expect(run.stderr).toMatch(/^tbase: malformed import: /);
        expect(after).toBe(before);
        return;
      }
      // Never backwards; an intact document with entries: one new revision above the database's and the document's.
      expect(revisionOf(after)).toBeGreaterThanOrEqual(revisionOf(before));
      // …and exact: a revision past 2^53 no longer moves by one per write.
      expect(Number.isSafeInteger(revisionOf(after))).toBe(true);
      if (!intact) return;
      // An import of no entries writes nothing, yet is lifted to the document's revision, never behind it (as in
      // roundtrip-import.test.ts); its data stays as it was.
      const lifted = Math.max(revisionOf(before), intact.revision);
      const unchangedData = (snapshot: string) => snapshot.slice(snapshot.indexOf('\n'));
      if (intact.entries.length === 0) expect({ revision: revisionOf(after), data: unchangedData(after) }).toEqual({ revision: lifted, data: unchangedData(before) });
      else expect(revisionOf(after)).toBe(lifted + 1);
      // The last entry of a key wins; every one lands, byte for byte.
      const last = new Map(intact.entries.map((e) => [e.key as string, e]));
      const list = await runInProcess(['--json', 'list'], env);
      const stored = new Map((JSON.parse(list.stdout.toString('utf8')).entries as ExportEntry[]).map((e) => [e.key as string, bytesOf(e)]));
      for (const [key, entry] of last) expect({ key, value: stored.get(key) }).toEqual({ key, value: bytesOf(entry) });
    }),
    { runs: 2_000 },
  );
  expect(await probe.integrity()).toBe('ok');
}, 600_000);
