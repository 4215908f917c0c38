/**
 * Where the data lives, from `--db` / `TBASE_DB`: a `postgres://` or `postgresql://` URL selects PostgreSQL
 * (postgres.ts); anything else is a SQLite file path. The URL may hold a password, so it is only ever printed
 * through `shownLocation`, which drops it.
 */
import { UsageError } from '../errors.js';

export type DatabaseLocation =
  | { kind: 'sqlite'; path: string }
  /** `url` as given, minus tbase's own `schema` parameter; `schema` holds the tables (default `tbase`). */
  | { kind: 'postgres'; url: string; schema: string };

export const DEFAULT_PG_SCHEMA = 'tbase';
const POSTGRES_URL = /^postgres(ql)?:\/\//i;

export function parseLocation(text: string): DatabaseLocation {
  if (!POSTGRES_URL.test(text)) return { kind: 'sqlite', path: text };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`bad PostgreSQL URL ${JSON.stringify(redactUrl(text))}`);
  }
  const schema = url.searchParams.get('schema') ?? DEFAULT_PG_SCHEMA;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new UsageError(`bad schema ${JSON.stringify(schema)}: lower-case letters, digits and _, at most 63`);
  }
  url.searchParams.delete('schema');
  return { kind: 'postgres', url: url.toString(), schema };
}

/** The location as it may be printed: a URL without its password (and without the default schema). */
export function shownLocation(location: DatabaseLocation): string {
  if (location.kind === 'sqlite') return location.path;
  const shown = redactUrl(location.url);
  if (location.schema === DEFAULT_PG_SCHEMA) return shown;
  return `${shown}${shown.includes('?') ? '&' : '?'}schema=${location.schema}`;
}

/**
 * A connection URL with any password removed — from the user-info part and from a `password` query parameter —
 * also when the URL does not parse (a typo must not print the secret either).
 */
export function redactUrl(text: string): string {
  try {
    const url = new URL(text);
    url.password = '';
    if (url.searchParams.has('password')) url.searchParams.set('password', '***');
    return url.toString();
  } catch {
    return text.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1@').replace(/([?&]password=)[^&]*/gi, '$1***');
  }
}

/** The store's name in messages ("answering from SQLite", "answering from PostgreSQL"). */
export function engineName(location: DatabaseLocation): string {
  return location.kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
}
