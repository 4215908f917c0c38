/**
 * What every generated bad-input property checks (the same rules as the hand-written matrix in
 * reliability/bad-input.test.ts): a documented exit status, at most one message line on stderr (cache notices
 * aside), never a stack trace, and a database that only changes when the command succeeded and stays sound.
 */
import sqlite3 from 'sqlite3';

/** CONTRACT.md, "Exit status". */
export const DOCUMENTED_EXIT_CODES = [0, 1, 2, 3, 4];

/** A stack frame, Node's internals, or an error class name printed instead of a message. */
const STACK_TRACE = /\n\s+at \S|node:internal|^\s*at .+:\d+:\d+\)?$|^[A-Z]\w*Error(?: \[\w+\])?: /m;

export function hasStackTrace(text: string): boolean {
  return STACK_TRACE.test(text);
}

/** stderr's lines without the cache notices a failing memcached adds (CONTRACT.md: never a failure). */
export function messageLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line !== '' && !line.startsWith('tbase: notice:'));
}

/**
 * Why `stderr` breaks the message rules for exit `code`, or null: success says nothing, a failure says one
 * line that starts with `tbase:`; neither shows a stack trace.
 */
export function messageProblem(code: number, stderr: string): string | null {
  if (hasStackTrace(stderr)) return `a stack trace on stderr: ${stderr.slice(0, 2000)}`;
  const lines = messageLines(stderr);
  // `get K1 K2 …` names each missing key on a line of its own (CONTRACT.md, "Exit status").
  if (code === 1 && lines.length > 1 && lines.every((line) => line.startsWith('tbase: key not found: '))) return null;
  // Batch: one line per failed input line, each naming it.
  if (code !== 0 && isBatchReport(stderr)) return null;
  if (code === 0 && lines.length > 0) return `exit 0 with a message: ${JSON.stringify(stderr.slice(0, 500))}`;
  if (code !== 0 && lines.length !== 1) return `exit ${code} with ${lines.length} message lines: ${JSON.stringify(stderr.slice(0, 500))}`;
  if (code !== 0 && !lines[0]!.startsWith('tbase: ')) return `a message without the tbase: prefix: ${JSON.stringify(lines[0]!.slice(0, 500))}`;
  return null;
}

/** Whether stderr is a batch's: every message names its input line (`tbase: line N: …`). */
export function isBatchReport(stderr: string): boolean {
  const lines = messageLines(stderr);
  return lines.length > 0 && lines.every((line) => /^tbase: line \d+: \S/.test(line));
}

/**
 * A read-only look at a SQLite database from outside tbase: the live entries with their revisions and the
 * database revision (every change moves it, CONTRACT.md "Revisions"), and PRAGMA integrity_check.
 */
export class DatabaseProbe {
  private constructor(private readonly db: sqlite3.Database) {}

  static open(path: string): Promise<DatabaseProbe> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, sqlite3.OPEN_READONLY, (error) => (error ? reject(error) : resolve(new DatabaseProbe(db))));
    });
  }

  private all<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return new Promise((resolve, reject) => this.db.all(sql, params, (error, rows) => (error ? reject(error) : resolve(rows as T[]))));
  }

  /** Everything a command could change that a user can see, as one comparable string; entries live at `now`. */
  async snapshot(now = Date.now()): Promise<string> {
    const [revision] = await this.all<{ value: number }>('SELECT value FROM revision');
    const rows = await this.all<{ row: string }>(
      `SELECT key || '|' || hex(value) || '|' || ifnull(expires_at, '-') || '|' || revision || '|' || create_revision || '|' || version AS row
       FROM entries WHERE expires_at IS NULL OR expires_at > ? ORDER BY key`,
      now,
    );
    return `${revision?.value}\n${rows.map((r) => r.row).join('\n')}`;
  }

  async integrity(): Promise<string> {
    const rows = await this.all<{ integrity_check: string }>('PRAGMA integrity_check');
    return rows.map((r) => r.integrity_check).join('\n');
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve())));
  }
}

export { runInProcess, type InProcessRun } from './in-process.js';
