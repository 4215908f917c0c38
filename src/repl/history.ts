/**
 * The REPL's line history: in memory for ↑/↓, and persisted to a file so the next session can recall it.
 *  - The file is owner-only (0600, in a 0700 folder made for it): lines can carry values.
 *  - It holds at most `maxLines`: new lines are appended, and the file is rewritten with the newest ones once it
 *    has grown a tenth past the cap (so a line costs one append, not a rewrite).
 *  - A line typed with a leading space is not recorded at all (bash's `ignorespace`); with `redactValues`, the
 *    value of `set` is left out (`set KEY --ttl 5m`; recalling it asks for the value).
 *  - A history file that cannot be read or written costs one notice, never the session.
 */
import { chmod, mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { quoteWord, splitLine } from '../grammar.js';
import { findCommand, splitArgs } from '../commands/words.js';

export interface HistoryOptions {
  /** null: history lives for this session only. */
  path: string | null;
  maxLines: number;
  redactValues: boolean;
  /** Told once when the file cannot be used. */
  onProblem: (message: string) => void;
}

export class History {
  private readonly lines: string[] = [];
  private fileLines = 0;
  private broken = false;

  private constructor(private readonly options: HistoryOptions) {}

  static async load(options: HistoryOptions): Promise<History> {
    const history = new History(options);
    if (options.path) await history.read(options.path);
    return history;
  }

  /** Oldest first. */
  entries(): readonly string[] {
    return this.lines;
  }

  /** Records a line the user entered (as it should be remembered: maybe redacted, maybe not at all). */
  async add(typed: string): Promise<void> {
    const line = rememberedForm(typed, this.options.redactValues);
    if (line === null || line === this.lines.at(-1)) return;
    this.lines.push(line);
    if (this.lines.length > this.options.maxLines) this.lines.splice(0, this.lines.length - this.options.maxLines);
    const path = this.options.path;
    if (!path || this.broken) return;
    try {
      if (this.fileLines + 1 > this.options.maxLines + Math.ceil(this.options.maxLines / 10)) await this.rewrite(path);
      else await this.append(path, `${line}\n`);
    } catch (error) {
      this.giveUp(path, error);
    }
  }

  private async read(path: string): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      });
      if (text === null) return;
      await chmod(path, 0o600); // a file made by hand, or under a looser umask, is narrowed to its owner
      const all = text.split('\n').filter((line) => line !== '');
      this.fileLines = all.length;
      this.lines.push(...all.slice(-this.options.maxLines));
      if (all.length > this.options.maxLines) await this.rewrite(path);
    } catch (error) {
      this.giveUp(path, error);
    }
  }

  private async append(path: string, text: string): Promise<void> {
    const file = await open(path, 'a', 0o600);
    try {
      await file.write(text);
    } finally {
      await file.close();
    }
    this.fileLines++;
  }

  /** Keeps the newest lines; written aside and renamed over, so a crash never leaves half a history. */
  private async rewrite(path: string): Promise<void> {
    const temporary = `${path}.${process.pid}.tmp`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.write(this.lines.map((line) => `${line}\n`).join(''));
    } finally {
      await file.close();
    }
    await rename(temporary, path);
    this.fileLines = this.lines.length;
  }

  private giveUp(path: string, error: unknown): void {
    this.broken = true;
    this.options.onProblem(`history file ${path} cannot be used (${(error as Error).message}); history is kept for this session only`);
  }
}

/**
 * How a typed line is remembered: null for a blank line or one typed with a leading space; with `redactValues`,
 * a `set` line loses its value (and a line that cannot be split is not remembered, as it might hold one).
 */
export function rememberedForm(typed: string, redactValues: boolean): string | null {
  if (typed.trim() === '' || /^\s/.test(typed)) return null;
  typed = typed.trimEnd(); // a blank left by Tab completion means nothing
  if (!redactValues) return typed;
  let words: string[] | null;
  try {
    words = splitLine(typed);
  } catch {
    return null;
  }
  const spec = words?.[0] === undefined ? undefined : findCommand(words[0]);
  if (!words || spec?.name !== 'set') return typed;
  const { positional, options } = splitArgs(spec, words.slice(1));
  if (positional.length < 2) return typed;
  const key = positional[0]!;
  const kept = key.startsWith('-') ? [...options, '--', key] : [key, ...options];
  return [words[0]!, ...kept.map(quoteWord)].join(' ');
}

/**
 * Reverse search (Ctrl-R): the index of the newest entry at or before `from` that contains `query`, or -1.
 * Entries are oldest first, as `History.entries()` gives them.
 */
export function searchBack(entries: readonly string[], query: string, from: number = entries.length - 1): number {
  for (let i = Math.min(from, entries.length - 1); i >= 0; i--) if (entries[i]!.includes(query)) return i;
  return -1;
}
