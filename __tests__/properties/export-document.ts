/**
 * Export documents for properties: a model of one (header, entries, footer) that serialises to exactly what
 * `tbase export` writes (the tests check that against the real writer), the mutations a damaged or hand-edited
 * file shows, an independent reader of what a document says (RFC 8259 JSON in UTF-8, README "Export and import"),
 * and the entries of an export read back.
 */
import { isUtf8 } from 'node:buffer';
import type { Entry } from '../../src/store/store.js';
import { exportDocument, type ExportLayout } from '../../src/transfer/format.js';
import { fc } from '../helpers/pbt.js';
import { MAX_KEY_BYTES } from './arbitraries.js';

export interface DocumentModel {
  format: unknown;
  version: unknown;
  /** Entry objects as written (mutations may make them anything). */
  entries: unknown[];
  /** Footer fields as JSON text; undefined leaves the field out. */
  revisionText: string | undefined;
  countText: string;
  layout: ExportLayout | 'pretty';
}

/** The document the real writer (src/transfer/format.ts) makes of these entries. */
export async function writtenDocument(entries: Entry[], layout: ExportLayout, revision: number): Promise<string> {
  let text = '';
  async function* source() {
    yield* entries;
  }
  for await (const piece of exportDocument(source(), layout, async () => revision)) text += piece;
  return text;
}

/** The model of what writtenDocument gives for the same entries. */
export function modelOf(entries: Entry[], layout: DocumentModel['layout'], revision: number): DocumentModel {
  const objects = entries.map((entry) => {
    const revisions = { revision: entry.revision, createRevision: entry.createRevision, version: entry.version };
    return isUtf8(entry.value)
      ? { key: entry.key, value: entry.value.toString('utf8'), expiresAt: entry.expiresAt, ...revisions }
      : { key: entry.key, value: entry.value.toString('base64'), encoding: 'base64', expiresAt: entry.expiresAt, ...revisions };
  });
  return { format: 'tenantbase-export', version: 2, entries: objects, revisionText: String(revision), countText: String(entries.length), layout };
}

export function serialise(model: DocumentModel): string {
  const footer = `${model.revisionText === undefined ? '' : `"revision":${model.revisionText},`}"count":${model.countText}}`;
  if (model.layout === 'pretty') {
    const compact = serialise({ ...model, layout: 'compact' });
    try {
      return `${JSON.stringify(JSON.parse(compact), null, 2)}\n`;
    } catch {
      return compact; // a footer made invalid by a mutation: no pretty form
    }
  }
  const newline = model.layout === 'lines' ? '\n' : '';
  const head = `{"format":${JSON.stringify(model.format)},"version":${JSON.stringify(model.version)},"entries":[${newline}`;
  const body = model.entries.map((entry) => JSON.stringify(entry)).join(`,${newline}`);
  return `${head}${body}${model.entries.length > 0 ? newline : ''}],${footer}${newline}`;
}

/** Values a field is retyped to: wrong types, out-of-range numbers, almost-right strings, lone surrogates. */
const ODD_VALUES: unknown[] = [
  null, true, 0, -1, 1.5, 1e20, 2 ** 53, 12_345_678, '', '3', 'x', [], {}, ['a'], { value: 'v' }, 'AAAA', 'AA=', 'A===', '@@@@',
  'base64', 'utf8', 'hex', '\ud800', 'a\udc00b', '\u0000', ' ', 'x'.repeat(MAX_KEY_BYTES + 1), 1, 1000,
];
const FIELDS = ['key', 'value', 'encoding', 'expiresAt', 'revision', 'createRevision', 'version', 'extra'];
const FOOTER_TEXTS = ['0', '1', '-1', '1.5', '"3"', 'null', '01', '007', '99999999999999999999', '1e3', '12345678', ' 2', '2 '];

export type Mutation =
  | { kind: 'dropField'; entry: number; field: string }
  | { kind: 'retype'; entry: number; field: string; to: unknown }
  | { kind: 'duplicate'; entry: number; at: number; fixCount: boolean }
  | { kind: 'dropEntry'; entry: number; fixCount: boolean }
  | { kind: 'swap'; a: number; b: number }
  | { kind: 'footer'; field: 'revision' | 'count' | 'dropRevision'; text: string }
  | { kind: 'header'; field: 'format' | 'version'; to: unknown }
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'junk'; at: number | 'end'; bytes: Buffer }
  | { kind: 'crlf' };

/** Mutations that keep a valid document valid (so an import of the result must succeed). */
export function keepsValid(mutation: Mutation): boolean {
  return mutation.kind === 'crlf' || mutation.kind === 'swap' || ((mutation.kind === 'duplicate' || mutation.kind === 'dropEntry') && mutation.fixCount);
}

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const junkArb = fc.oneof(
  fc.constantFrom('\n', ' ', ',', ']', '}', '{}', '\n{}', '\n\n', '\u00a0', '\ufeff', '\0', '],"count":0}', 'null', '\r\n').map((s) => Buffer.from(s)),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => Buffer.from(bytes)),
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('dropField' as const), entry: fc.nat(), field: fc.constantFrom(...FIELDS) }),
  fc.record({ kind: fc.constant('retype' as const), entry: fc.nat(), field: fc.constantFrom(...FIELDS), to: fc.constantFrom(...ODD_VALUES) }),
  fc.record({ kind: fc.constant('duplicate' as const), entry: fc.nat(), at: fc.nat(), fixCount: fc.boolean() }),
  fc.record({ kind: fc.constant('dropEntry' as const), entry: fc.nat(), fixCount: fc.boolean() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('footer' as const), field: fc.constantFrom('revision' as const, 'count' as const, 'dropRevision' as const), text: fc.constantFrom(...FOOTER_TEXTS) }),
  fc.record({ kind: fc.constant('header' as const), field: fc.constantFrom('format' as const, 'version' as const), to: fc.constantFrom(1, 2, 3, 0, '2', null, 'tenantbase-export ', 'TENANTBASE-EXPORT') }),
  fc.record({ kind: fc.constant('flip' as const), at: fraction, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fraction }),
  fc.record({ kind: fc.constant('junk' as const), at: fc.oneof(fc.constant('end' as const), fraction), bytes: junkArb }),
  fc.record({ kind: fc.constant('crlf' as const) }),
);

const isByteLevel = (m: Mutation) => m.kind === 'flip' || m.kind === 'truncate' || m.kind === 'junk' || m.kind === 'crlf';

/** The document's bytes after the mutations: structural ones on the model first, then those on the bytes. */
export function mutatedDocument(model: DocumentModel, mutations: Mutation[]): Buffer {
  const m: DocumentModel = { ...model, entries: model.entries.map((entry) => structuredClone(entry)) };
  const pick = (i: number) => (m.entries.length === 0 ? -1 : i % m.entries.length);
  for (const mutation of mutations.filter((x) => !isByteLevel(x))) {
    switch (mutation.kind) {
      case 'dropField':
      case 'retype': {
        const i = pick(mutation.entry);
        const entry = m.entries[i];
        if (i < 0 || typeof entry !== 'object' || entry === null || Array.isArray(entry)) break;
        if (mutation.kind === 'dropField') delete (entry as Record<string, unknown>)[mutation.field];
        else (entry as Record<string, unknown>)[mutation.field] = mutation.to;
        break;
      }
      case 'duplicate': {
        const i = pick(mutation.entry);
        if (i < 0) break;
        m.entries.splice(mutation.at % (m.entries.length + 1), 0, structuredClone(m.entries[i]));
        if (mutation.fixCount) m.countText = String(m.entries.length);
        break;
      }
      case 'dropEntry': {
        const i = pick(mutation.entry);
        if (i < 0) break;
        m.entries.splice(i, 1);
        if (mutation.fixCount) m.countText = String(m.entries.length);
        break;
      }
      case 'swap': {
        const [a, b] = [pick(mutation.a), pick(mutation.b)];
        if (a < 0) break;
        [m.entries[a], m.entries[b]] = [m.entries[b], m.entries[a]];
        break;
      }
      case 'footer':
        if (mutation.field === 'dropRevision') m.revisionText = undefined;
        else if (mutation.field === 'revision') m.revisionText = mutation.text;
        else m.countText = mutation.text;
        break;
      case 'header':
        m[mutation.field] = mutation.to;
        break;
    }
  }
  let bytes = Buffer.from(serialise(m), 'utf8');
  for (const mutation of mutations.filter(isByteLevel)) {
    const at = (f: number) => Math.floor(f * bytes.length);
    switch (mutation.kind) {
      case 'flip':
        if (bytes.length > 0) {
          bytes = Buffer.from(bytes);
          const i = at(mutation.at);
          bytes[i] = bytes[i]! ^ mutation.xor;
        }
        break;
      case 'truncate':
        bytes = bytes.subarray(0, at(mutation.at));
        break;
      case 'junk': {
        const where = mutation.at === 'end' ? bytes.length : at(mutation.at);
        bytes = Buffer.concat([bytes.subarray(0, where), mutation.bytes, bytes.subarray(where)]);
        break;
      }
      case 'crlf':
        bytes = Buffer.from(bytes.toString('latin1').replace(/\n/g, '\r\n'), 'latin1');
        break;
    }
  }
  return bytes;
}

export interface ImportedWrite {
  key: string;
  value: Buffer;
  expiresAt: number | null;
}

export type Reading = { valid: true; writes: ImportedWrite[]; revision: number } | { valid: false; why: string };

const isWholeNumber = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;

/**
 * What a document says, read independently of src/transfer: UTF-8 JSON (RFC 8259) of the export's shape. A text
 * that is not that says nothing, and an import of it must import nothing.
 */
export function readDocument(bytes: Buffer): Reading {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (error) {
    return { valid: false, why: `not UTF-8 JSON: ${(error as Error).message}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { valid: false, why: 'not an object' };
  const { format, version, entries, count, revision } = doc as Record<string, unknown>;
  if (format !== 'tenantbase-export') return { valid: false, why: 'format' };
  if (version !== 1 && version !== 2) return { valid: false, why: 'version' };
  if (revision !== undefined && !isWholeNumber(revision)) return { valid: false, why: 'revision' };
  if (!Array.isArray(entries) || count !== entries.length) return { valid: false, why: 'entries or count' };
  const writes: ImportedWrite[] = [];
  for (const item of entries) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { valid: false, why: 'entry not an object' };
    const e = item as Record<string, unknown>;
    for (const name of ['revision', 'createRevision', 'version']) {
      if (e[name] !== undefined && !isWholeNumber(e[name])) return { valid: false, why: `entry ${name}` };
    }
    const { key, value, encoding, expiresAt } = e;
    if (typeof key !== 'string' || key === '' || Buffer.byteLength(key) > MAX_KEY_BYTES || !wellFormed(key)) return { valid: false, why: 'key' };
    if (typeof value !== 'string') return { valid: false, why: 'value' };
    let bytesOf: Buffer;
    if (encoding === 'base64') {
      if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) return { valid: false, why: 'base64' };
      bytesOf = Buffer.from(value, 'base64');
    } else if (encoding === undefined || encoding === 'utf8') {
      if (!wellFormed(value)) return { valid: false, why: 'value has no UTF-8 form' };
      bytesOf = Buffer.from(value, 'utf8');
    } else return { valid: false, why: 'encoding' };
    if (expiresAt !== undefined && expiresAt !== null && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt > 0)) {
      return { valid: false, why: 'expiresAt' };
    }
    writes.push({ key, value: bytesOf, expiresAt: (expiresAt as number | null | undefined) ?? null });
  }
  return { valid: true, writes, revision: (revision as number | undefined) ?? 0 };
}

export interface ExportedEntry extends ImportedWrite {
  revision: number;
  createRevision: number;
  version: number;
}

/** The entries and revision of a document `tbase export` wrote. */
export function exportedState(document: Buffer): { entries: Map<string, ExportedEntry>; revision: number } {
  const doc = JSON.parse(document.toString('utf8')) as { entries: Record<string, unknown>[]; revision: number };
  const entries = new Map<string, ExportedEntry>();
  for (const e of doc.entries) {
    entries.set(e.key as string, {
      key: e.key as string,
      value: Buffer.from(e.value as string, e.encoding === 'base64' ? 'base64' : 'utf8'),
      expiresAt: e.expiresAt as number | null,
      revision: e.revision as number,
      createRevision: e.createRevision as number,
      version: e.version as number,
    });
  }
  return { entries, revision: doc.revision };
}
