/**
 * Batch output: exactly one line per input command (blank lines and comments have none), in input order.
 *
 * Plain (stdout piped):
 *   set, import         OK
 *   get                 the value, escaped as in `list` (\\ \t \n \r, \xNN), so it is always one line
 *   get K1 K2 …         the keys found, `key<TAB>value` each, TAB-separated on one line (like list)
 *   delete              OK
 *   delete --prefix     the number of keys removed
 *   incr, decr          the new value
 *   ttl                 whole seconds left, or -1 when the key never expires
 *   list                one line: the entries TAB-separated, each `key<TAB>value` (--keys-only: `key`), escaped
 *   stats, cache pool   one line: `name=value` fields, TAB-separated
 *   export              the export document on one line
 *   completion          the script on one line, escaped
 *   key not found       \N   (get, delete, ttl; never printed for a value: escaping turns a backslash into \\)
 *   condition not met   \C   (set/delete --if-…): an answer, like \N, not a failure
 *   any failure         \E <kind>  (kind: usage or storage); the message, with the line number, on stderr
 * JSON (--json): one object per command: {"ok":…,"command":…,"line":N,…}, the one-shot shapes plus `line`.
 */
import type { CommandResult } from '../commands/types.js';
import { ConflictError, exitCodeOf, ExitCode, NotFoundError } from '../errors.js';
import { errorFields, escapeBytes, escapeText, poolFields, resultFields, statsFields, ttlSeconds } from '../render.js';

export const NOT_FOUND_LINE = '\\N';
export const CONFLICT_LINE = '\\C';
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
    case 'values':
      return result.found.map(({ entry }) => `${escapeText(entry.key)}\t${escapeBytes(entry.value)}`).join('\t');
    case 'counter':
      return result.value;
    case 'deletedPrefix':
      return String(result.count);
    case 'ttl':
      return String(result.expiresAt === null ? -1 : ttlSeconds(result.expiresAt, now));
    case 'stats':
      return namedFields(statsFields(result));
    case 'pool':
      return namedFields(poolFields(result.pool));
    case 'script':
      return escapeText(result.script); // a batch answer is one line
    default:
      return undefined;
  }
}

/** The JSON line (without LF) for a result of a grouped step; the same shapes as one-shot --json, plus `line`. */
export function jsonLine(command: string, line: number, result: CommandResult, now: number): string | undefined {
  const fields = resultFields(result, now);
  if (!fields) return undefined;
  return JSON.stringify({ ok: result.kind !== 'values' || result.missing.length === 0, command, line, ...fields });
}

function namedFields(fields: [string, string | number][]): string {
  return fields.map(([name, value]) => `${name}=${escapeText(String(value))}`).join('\t');
}

export function plainErrorLine(error: unknown): string {
  if (error instanceof NotFoundError) return NOT_FOUND_LINE;
  if (error instanceof ConflictError) return CONFLICT_LINE;
  return `${ERROR_LINE} ${exitCodeOf(error) === ExitCode.usage ? 'usage' : 'storage'}`;
}

export function jsonErrorLine(command: string | undefined, line: number, error: unknown): string {
  return JSON.stringify({ ok: false, command: command ?? null, line, ...errorFields(error) });
}
