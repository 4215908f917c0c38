/**
 * The export document, and its reader.
 *
 *   {"format":"tenantbase-export","version":2,"entries":[
 *   {"key":"a","value":"text","expiresAt":null,"revision":7,"createRevision":3,"version":2},
 *   {"key":"b","value":"AAEC","encoding":"base64","expiresAt":1767225600000,"revision":9,"createRevision":9,"version":1}
 *   ],"revision":12,"count":2}
 *
 * Values are text when they are valid UTF-8, else base64 with `"encoding":"base64"`; `expiresAt` is the key's
 * absolute expiry in milliseconds since the epoch (null: never), so a TTL survives the round trip exactly.
 * Each entry shows its revisions; the footer's `revision` is the database's once every entry was read (at least
 * every entry's). An import is one write at ONE new revision above both the importing database's and the
 * document's (revisions never go backwards across export and import); the entries' own revisions are not
 * carried over. Version 1 documents (no revisions) are still read.
 * `count` comes last, so a truncated file is always incomplete JSON and never a smaller valid export.
 *
 * The 'lines' layout (files, one-shot) puts one entry per line, which lets the reader stream it; any other valid
 * JSON of the same shape (pretty-printed, or the one-line 'compact' layout batch prints) is read whole.
 */
import { isUtf8 } from 'node:buffer';
import { UsageError } from '../errors.js';
import { checkValueSize, hasLoneSurrogate, parseKey } from '../commands/args.js';
import type { Entry, Write } from '../store/store.js';
import { lineGroups } from '../batch/lines.js';

export type ExportLayout = 'lines' | 'compact';

export const EXPORT_FORMAT = 'tenantbase-export';
export const EXPORT_VERSION = 2;
const READABLE_VERSIONS = [1, 2];
const header = (version: number) => `{"format":"${EXPORT_FORMAT}","version":${version},"entries":[`;
/** JSON numbers have no leading zeros; the reader also checks they are safe integers. */
const FOOTER = /^\],(?:"revision":(0|[1-9]\d*),)?"count":(0|[1-9]\d*)\}[ \t\r]*$/;
/** What JSON (RFC 8259) allows around and after a document: space, tab, CR, LF — not every Unicode space. */
const JSON_BLANK = /^[ \t\r]*$/;

/** What a reader learns of a document besides its entries: the exported database's revision (0 if unknown). */
export interface ExportFacts {
  revision: number;
}
/** A file that is not in the streaming layout is parsed whole; beyond this size it is refused. */
const MAX_WHOLE_DOCUMENT_BYTES = 512 * 1024 * 1024;
/** Writes handed to the store at a time (all inside one transaction). */
export const IMPORT_CHUNK = 2000;
const OUT_BUFFER_CHARS = 64 * 1024;

/** The document, as text pieces of about 64 KiB; `revision()` is asked once every entry is out. */
export async function* exportDocument(entries: AsyncIterable<Entry>, layout: ExportLayout, revision: () => Promise<number>): AsyncGenerator<string> {
  const newline = layout === 'lines' ? '\n' : '';
  let buffer = header(EXPORT_VERSION) + newline;
  let count = 0;
  for await (const entry of entries) {
    buffer += (count > 0 ? `,${newline}` : '') + JSON.stringify(exportedEntry(entry));
    count++;
    if (buffer.length >= OUT_BUFFER_CHARS) {
      yield buffer;
      buffer = '';
    }
  }
  yield `${buffer}${count > 0 ? newline : ''}],"revision":${await revision()},"count":${count}}${newline}`;
}

function exportedEntry(entry: Entry) {
  const revisions = { revision: entry.revision, createRevision: entry.createRevision, version: entry.version };
  return isUtf8(entry.value)
    ? { key: entry.key, value: entry.value.toString('utf8'), expiresAt: entry.expiresAt, ...revisions }
    : { key: entry.key, value: entry.value.toString('base64'), encoding: 'base64', expiresAt: entry.expiresAt, ...revisions };
}

/**
 * Reads an export into chunks of writes. Throws UsageError ("malformed import …") on anything that is not a
 * complete, valid export — the caller applies the chunks inside one transaction, so nothing is imported then.
 */
export async function* readExport(
  input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  onBytes?: (bytes: number) => void,
  facts: ExportFacts = { revision: 0 },
): AsyncGenerator<Write[]> {
  const groups = lineGroups(input, IMPORT_CHUNK, onBytes)[Symbol.asyncIterator]();
  try {
    yield* readGroups(groups, facts);
  } finally {
    await groups.return?.(undefined); // closes the input when reading stops early
  }
}

async function* readGroups(groups: AsyncIterator<string[]>, facts: ExportFacts): AsyncGenerator<Write[]> {
  let lineNumber = 0;
  let first = await groups.next();
  while (!first.done && first.value.length === 0) first = await groups.next();
  if (first.done) throw malformed('the input is empty');
  const head = first.value[0]!.replace(/\r$/, '');
  if (!READABLE_VERSIONS.some((version) => head === header(version))) {
    yield* readWhole(first.value, groups, facts);
    return;
  }
  let footer: number | null = null;
  let expectMore = true; // the previous entry line ended with a comma (or none yet)
  let sawEntry = false;
  let count = 0;
  let pending = first.value.slice(1);
  lineNumber = 1;
  for (;;) {
    const writes: Write[] = [];
    for (const raw of pending) {
      lineNumber++;
      const line = raw.replace(/\r$/, '');
      if (footer !== null) {
        if (!JSON_BLANK.test(line)) throw malformed(`line ${lineNumber}: text after the end of the document`);
        continue;
      }
      const end = FOOTER.exec(line);
      if (end) {
        if (sawEntry && expectMore) throw malformed(`line ${lineNumber}: an entry was expected after the comma`);
        footer = Number(end[2]);
        facts.revision = Number(end[1] ?? 0);
        if (!isRevision(facts.revision)) throw malformed(`line ${lineNumber}: "revision" is not a whole number below 2^53`);
        continue;
      }
      if (sawEntry && !expectMore) throw malformed(`line ${lineNumber}: missing comma after the previous entry`);
      expectMore = line.endsWith(',');
      const body = expectMore ? line.slice(0, -1) : line;
      let item: unknown;
      try {
        item = JSON.parse(body);
      } catch {
        throw malformed(`line ${lineNumber}: not a JSON entry`);
      }
      writes.push(toWrite(item, `line ${lineNumber}`));
      sawEntry = true;
      count++;
    }
    if (writes.length > 0) yield writes;
    const next = await groups.next();
    if (next.done) break;
    pending = next.value;
  }
  if (footer === null) throw malformed('the document is incomplete (no closing `],"count":N}`)');
  if (footer !== count) throw malformed(`the document says ${footer} entries but holds ${count}`);
}

/** Any JSON of the export's shape, read whole (bounded). */
async function* readWhole(firstLines: string[], rest: AsyncIterator<string[]>, facts: ExportFacts): AsyncGenerator<Write[]> {
  const parts = [firstLines.join('\n')];
  let size = parts[0]!.length;
  for (let next = await rest.next(); !next.done; next = await rest.next()) {
    const text = next.value.join('\n');
    size += text.length + 1;
    if (size > MAX_WHOLE_DOCUMENT_BYTES) throw malformed('not in the line layout `tbase export` writes, and too large to read whole');
    parts.push(text);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(parts.join('\n'));
  } catch (error) {
    throw malformed(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw malformed('the document is not a JSON object');
  const { format, version, entries, count, revision } = doc as Record<string, unknown>;
  if (format !== EXPORT_FORMAT) throw malformed(`"format" is not "${EXPORT_FORMAT}"`);
  if (!READABLE_VERSIONS.includes(version as number)) throw malformed(`unsupported version ${JSON.stringify(version)}`);
  if (revision !== undefined && !isRevision(revision)) throw malformed('"revision" is not a whole number');
  facts.revision = (revision as number | undefined) ?? 0;
  if (!Array.isArray(entries)) throw malformed('"entries" is not an array');
  if (count !== entries.length) throw malformed(`"count" is ${JSON.stringify(count)} but the document holds ${entries.length} entries`);
  for (let i = 0; i < entries.length; i += IMPORT_CHUNK) {
    yield entries.slice(i, i + IMPORT_CHUNK).map((item, j) => toWrite(item, `entry ${i + j + 1}`));
  }
}

function toWrite(item: unknown, where: string): Write {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw malformed(`${where}: not an object`);
  const { key, value, encoding, expiresAt, revision, createRevision, version } = item as Record<string, unknown>;
  for (const [name, field] of Object.entries({ revision, createRevision, version })) {
    if (field !== undefined && !isRevision(field)) throw malformed(`${where}: "${name}" is not a whole number`);
  }
  if (typeof key !== 'string') throw malformed(`${where}: "key" is not a string`);
  if (typeof value !== 'string') throw malformed(`${where}: "value" is not a string`);
  let bytes: Buffer;
  if (encoding === 'base64') {
    if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw malformed(`${where}: "value" is not base64`);
    bytes = Buffer.from(value, 'base64');
  } else if (encoding === undefined || encoding === 'utf8') {
    // A "\ud800" escape is valid JSON but no text: Buffer.from would import U+FFFD in its place.
    if (hasLoneSurrogate(value)) throw malformed(`${where}: "value" is not valid UTF-8 text (a lone surrogate)`);
    bytes = Buffer.from(value, 'utf8');
  } else {
    throw malformed(`${where}: unknown "encoding" ${JSON.stringify(encoding)}`);
  }
  if (expiresAt !== null && expiresAt !== undefined && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt > 0)) {
    throw malformed(`${where}: "expiresAt" is not null or a time in milliseconds`);
  }
  try {
    return { op: 'set', key: parseKey(key, 'import'), value: checkValueSize(bytes), expiresAt: (expiresAt as number | null | undefined) ?? null };
  } catch (error) {
    throw malformed(`${where}: ${(error as Error).message}`);
  }
}

/** A whole number that stays exact one above it: the import's new revision is the document's + 1. */
function isRevision(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value + 1) && value >= 0;
}

function malformed(why: string): UsageError {
  return new UsageError(`malformed import: ${why}; nothing was imported`);
}
