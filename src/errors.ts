/**
 * Typed errors and the exit codes of the contract. Only the entry point (cli.ts), the REPL loop and the batch
 * runner turn these into a message and a status; everything below them just throws.
 */

export const ExitCode = {
  ok: 0,
  notFound: 1,
  usage: 2,
  storage: 3,
  conflict: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class TbaseError extends Error {
  abstract readonly exitCode: ExitCode;
}

/** Unknown command, missing argument, bad TTL, empty key, malformed import… (exit 2). */
export class UsageError extends TbaseError {
  readonly exitCode = ExitCode.usage;
}

/** `get`/`delete` of a key that is not there (exit 1). */
export class NotFoundError extends TbaseError {
  readonly exitCode = ExitCode.notFound;
  constructor(readonly key: string) {
    super(`key not found: ${quoteKey(key)}`);
  }
}

/**
 * A condition was not met (`--if-absent`, `--if-revision`, `--if-value`, If-Match): nothing changed (exit 4).
 * `revision` is the key's current revision, 0 when it is absent.
 */
export class ConflictError extends TbaseError {
  readonly exitCode = ExitCode.conflict;
  constructor(
    readonly key: string,
    readonly revision: number,
  ) {
    super(`condition not met: ${quoteKey(key)} ${revision === 0 ? 'does not exist (revision 0)' : `is at revision ${revision}`}; nothing changed`);
  }
}

/** `watch --from-revision N` (or a watcher that fell behind) asks for changes the history no longer keeps (exit 4). */
export class HistoryGoneError extends TbaseError {
  readonly exitCode = ExitCode.conflict;
  constructor(
    readonly revision: number,
    readonly oldest: number,
  ) {
    super(`revision ${revision} is no longer in the history; the oldest kept is ${oldest}`);
  }
}

/** `lock NAME` while another process holds it (and --wait ran out): nothing ran (exit 4). */
export class LockHeldError extends TbaseError {
  readonly exitCode = ExitCode.conflict;
  constructor(
    readonly lockName: string,
    readonly revision: number,
    expiresInMs: number,
  ) {
    super(`lock ${quoteKey(lockName)} is held (taken at revision ${revision}, its lease runs out in ${Math.ceil(expiresInMs / 1000)}s)`);
  }
}

/** The database cannot be opened, read or written (exit 3). */
export class StorageError extends TbaseError {
  readonly exitCode = ExitCode.storage;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The store cannot be reached right now (a PostgreSQL server restarting, a network fault): exit 3 like any storage
 * error, but a long-running reader (`watch`, a lock's renewal) waits and tries again instead of giving up.
 */
export class StoreUnavailableError extends StorageError {}

/**
 * memcached is down, slow or refused a request. Never reaches the user as a failure: the cache-aside policy
 * answers from SQLite and reports it once as a notice.
 */
export class CacheError extends Error {}

/** Keys appear in messages quoted, with control characters escaped, and cut short when long. */
export function quoteKey(key: string): string {
  const shown = key.length > 80 ? `${key.slice(0, 77)}...` : key;
  return JSON.stringify(shown);
}

export function exitCodeOf(error: unknown): ExitCode {
  return error instanceof TbaseError ? error.exitCode : ExitCode.storage;
}

/**
 * One line, no stack trace: what a user sees for any error. A message may carry the user's own words (an unknown
 * option, a file name in a system error): their control characters are escaped, so the message stays one line.
 */
export function messageOf(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}

const CONTROL_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `text` with C0 controls, DEL and the Unicode line separators escaped (`\n`, `\xNN`, `\u2028`). */
export function oneLine(text: string): string {
  return text.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (ch) => {
    const code = ch.charCodeAt(0);
    return CONTROL_ESCAPES[ch] ?? (code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, '0')}`);
  });
}
