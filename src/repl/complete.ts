/**
 * Tab completion, as pure functions: no store, no terminal. `completionTarget` says what the word being typed is
 * (so the prompt knows whether to look keys up, and by which prefix); `complete` applies the candidates to the
 * line. The word being typed is the last one of the text before the cursor; it may be inside an open quote.
 */
import { commands } from '../commands/index.js';
import { findCommand, namesOf } from '../commands/words.js';
import { argumentTarget, type CompletionTarget } from '../completion/target.js';
import { quoteWord } from '../grammar.js';

export type { CompletionTarget } from '../completion/target.js';

/** Words the REPL itself answers; every other line goes to the command table. */
const REPL_COMMANDS = ['help', 'exit', 'quit', 'timing'];

export interface Completion {
  /** The line with the word completed, or extended to what all candidates share. */
  line: string;
  /** Every match, in order; the prompt lists them when there is more than one. */
  candidates: string[];
}

export interface Scan {
  /** Finished words before the one being typed, unquoted. */
  words: string[];
  /** The word being typed, unquoted so far ('' right after a blank), and where it starts in the line. */
  current: string;
  start: number;
}

/** What the word at the end of `line` is. A key (or list prefix) is looked up in the store by the caller. */
export function completionTarget(line: string): CompletionTarget {
  const scan = scanLine(line);
  if (!scan || line.trimStart().startsWith('#')) return { kind: 'none' };
  const [first, ...rest] = scan.words;
  if (first === undefined) return { kind: 'command', prefix: scan.current };
  if (first.toLowerCase() === 'help') return rest.length === 0 ? { kind: 'command', prefix: scan.current } : { kind: 'none' };
  const spec = findCommand(first);
  if (!spec) return { kind: 'none' };
  const quoted = line[scan.start] === '"' || line[scan.start] === "'";
  const target = argumentTarget(spec, rest, scan.current, quoted);
  return target.kind === 'file' ? { kind: 'none' } : target; // the REPL completes no file names
}

/**
 * Completes the word at the end of `line`. `keys` are the store's keys starting with the word (used only when
 * the word is a key); `truncated` says the store had more than those, so no common prefix can be trusted.
 */
export function complete(line: string, keys: readonly string[] = [], truncated = false): Completion {
  const target = completionTarget(line);
  const scan = scanLine(line);
  if (target.kind === 'none' || target.kind === 'file' || !scan) return { line, candidates: [] };
  const candidates = candidatesFor(target, keys);
  if (candidates.length === 0) return { line, candidates };
  const head = line.slice(0, scan.start);
  if (candidates.length === 1 && !truncated) {
    const word = target.kind === 'key' ? quoteWord(candidates[0]!) : candidates[0]!;
    return { line: `${head}${word} `, candidates };
  }
  const shared = truncated ? scan.current : commonPrefix(candidates);
  if (shared.length <= scan.current.length) return { line, candidates };
  return { line: `${head}${target.kind === 'key' ? quoteOpen(shared) : shared}`, candidates };
}

function candidatesFor(target: Exclude<CompletionTarget, { kind: 'none' | 'file' }>, keys: readonly string[]): string[] {
  switch (target.kind) {
    case 'command': {
      const prefix = target.prefix.toLowerCase();
      return [...namesOf(commands), ...REPL_COMMANDS].sort().filter((name) => name.startsWith(prefix));
    }
    case 'option':
      return target.options.filter((name) => name.startsWith(target.prefix));
    case 'choice':
      return target.choices.filter((word) => word.startsWith(target.prefix));
    case 'key':
      return keys.filter((key) => key.startsWith(target.prefix));
  }
}

/** The start of a word, quoted so the user can keep typing it: `"my ke` rather than `"my ke"`. */
function quoteOpen(word: string): string {
  const quoted = quoteWord(word);
  return quoted.startsWith('"') ? quoted.slice(0, -1) : quoted;
}

function commonPrefix(words: readonly string[]): string {
  let prefix = words[0] ?? '';
  for (const word of words) {
    let i = 0;
    while (i < prefix.length && i < word.length && prefix[i] === word[i]) i++;
    prefix = prefix.slice(0, i);
  }
  // Never end between the two halves of a surrogate pair.
  return /[\uD800-\uDBFF]$/.test(prefix) ? prefix.slice(0, -1) : prefix;
}

/**
 * The grammar of grammar.ts, tolerant of an unfinished last word (an open quote is fine here: the user is still
 * typing). Returns null for a line that cannot be completed (a backslash escape left hanging).
 */
export function scanLine(line: string): Scan | null {
  const words: string[] = [];
  let current: string | null = null;
  let start = line.length;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === ' ' || ch === '\t') {
      if (current !== null) words.push(current);
      current = null;
      continue;
    }
    if (current === null) {
      current = '';
      start = i;
    }
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      for (; j < line.length && line[j] !== ch; j++) {
        if (ch === '"' && line[j] === '\\') {
          const next = line[++j];
          if (next === undefined) return null;
          current += { '"': '"', '\\': '\\', n: '\n', t: '\t' }[next] ?? `\\${next}`;
        } else {
          current += line[j];
        }
      }
      i = j; // at the closing quote, or past the end when the quote is still open
    } else {
      current += ch;
    }
  }
  if (current === null) return { words, current: '', start: line.length };
  return { words, current, start };
}
