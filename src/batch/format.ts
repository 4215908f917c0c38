/**
 * Batch output: exactly one line per input command (blank lines and comments have none), in input order.
 *
 * Plain (stdout piped):
 *   set, import         OK
 *   get                 the value, escaped as in `list` (\\ \t \n \r, \xNN), so it is always one line
 *   delete              OK
 *   ttl                 whole seconds left, or -1 when the key never expires
 *   list                one line: the entries TAB-separated, each `key<TAB>value` (--keys-only: `key`), escaped
 *   stats, cache pool   one line: `name=value` fields, TAB-separated
 *   export              the export document on one line
 *   key not found       \N   (get, delete, ttl; never printed for a value: escaping turns a backslash into \\)
 *   any failure         \E <kind>  (kind: usage or storage); the message, with the line number, on stderr
 * JSON (--json): one object per command: {"ok":…,"command":…,"line":N,…}, the one-shot shapes plus `line`.
 */
import type { CommandResult } from '../commands/types.js';
import { exitCodeOf, ExitCode, messageOf, NotFoundError } from '../errors.js';
import { escapeBytes, escapeText, poolFields, poolJson, statsFields, ttlSeconds, valueFields } from '../render.js';

export const NOT_FOUND_LINE = '\\N';
export const ERROR_LINE = '\\E';

/** The plain line (without LF) for a result of a grouped step; undefined for kinds that stream (see batch.ts). */
export function plainLine(result: CommandResult, now: number): string | undefined {
  switch (result.kind) {
    case 'stored':
    case 'deleted':
    case 'imported':
      return 'OK';
    case 'value':
      return escapeBytes(result.entry.value);
    case 'ttl':
      return String(result.expiresAt === null ? -1 : ttlSeconds(result.expiresAt, now));
    case 'stats':
      return namedFields(statsFields(result));
    case 'pool':
      return namedFields(poolFields(result.pool));
    default:
      return undefined;
  }
}

/** The JSON line (without LF) for a result of a grouped step; the same shapes as one-shot --json, plus `line`. */
export function jsonLine(command: string, line: number, result: CommandResult, now: number): string | undefined {
  const head = { ok: true, command, line };
  switch (result.kind) {
    case 'stored':
      return JSON.stringify({ ...head, key: result.key, ttl: ttlSeconds(result.expiresAt, now) });
    case 'value':
      return JSON.stringify({ ...head, key: result.key, ...valueFields(result.entry.value), ttl: ttlSeconds(result.entry.expiresAt, now), source: result.source });
    case 'deleted':
      return JSON.stringify({ ...head, key: result.key });
    case 'ttl':
      return JSON.stringify({ ...head, key: result.key, ttl: ttlSeconds(result.expiresAt, now) });
    case 'imported':
      return JSON.stringify({ ...head, count: result.count, overwritten: result.overwritten });
    case 'pool':
      return JSON.stringify({ ...head, ...poolJson(result) });
    default:
      return undefined;
  }
}

function namedFields(fields: [string, string | number][]): string {
  return fields.map(([name, value]) => `${name}=${escapeText(String(value))}`).join('\t');
}

export function plainErrorLine(error: unknown): string {
  if (error instanceof NotFoundError) return NOT_FOUND_LINE;
  return `${ERROR_LINE} ${exitCodeOf(error) === ExitCode.usage ? 'usage' : 'storage'}`;
}

export function jsonErrorLine(command: string | undefined, line: number, error: unknown): string {
  const code = exitCodeOf(error);
  const name = error instanceof NotFoundError ? 'not_found' : code === ExitCode.usage ? 'usage' : 'storage';
  return JSON.stringify({
    ok: false,
    command: command ?? null,
    line,
    ...(error instanceof NotFoundError ? { key: error.key } : {}),
    error: name,
    message: messageOf(error),
  });
}
