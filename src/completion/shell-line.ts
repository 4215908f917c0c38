/**
 * A shell command line up to the cursor, as the shell will read it: words split on blanks, quotes and backslashes
 * removed. Tolerant of the word still being typed (an open quote, a trailing backslash), and it remembers, for that
 * word, which characters stood for themselves, so bash's reply can be cut to the part readline replaces.
 * Two dialects: POSIX (bash, zsh: `\` escapes the next character outside quotes, `$'…'` is ANSI-C quoting) and fish
 * (`\n`, `\xHH`… are escapes outside quotes, `\'` is one inside single quotes). Variables, globs and substitutions
 * are left as typed: completion never runs anything.
 */

export type Dialect = 'posix' | 'fish';

/** How the word being typed is quoted at the cursor: not at all, or inside `"…`, `'…` or `$'…`. */
export type Quoting = '' | '"' | "'" | "$'";

export interface ShellLine {
  /** The finished words, unquoted. */
  words: string[];
  /** The word the cursor is in, unquoted so far ('' right after a blank). */
  current: string;
  /** Where that word starts in the line. */
  start: number;
  /** The quote still open at the cursor: its kind, where its text starts, and how long `current` was there. */
  open: { quoting: Exclude<Quoting, ''>; textAt: number; before: number } | null;
  /**
   * The characters of the current word that stood for themselves, outside any quote or escape (only such a
   * character can end a word for readline): where each is, and how long `current` was before it.
   */
  bare: { at: number; before: number }[];
}

const BLANKS = new Set([' ', '\t', '\n']);
/** Inside double quotes a backslash escapes only these (POSIX; fish has no backquote, which does no harm). */
const DOUBLE_QUOTED_ESCAPES = new Set(['"', '\\', '$', '`']);
const C_ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', f: '\f', v: '\v' };

export function scanShellLine(line: string, dialect: Dialect): ShellLine {
  const words: string[] = [];
  let current: string | null = null; // null: between blanks
  let start = line.length;
  let bare: ShellLine['bare'] = [];
  let open: ShellLine['open'] = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (open === null && BLANKS.has(ch)) {
      if (current !== null) words.push(current);
      current = null;
      continue;
    }
    if (current === null) {
      current = '';
      start = i;
      bare = [];
    }
    const quoting = open?.quoting ?? '';
    if (quoting === "'") {
      if (ch === "'") open = null;
      else if (dialect === 'fish' && ch === '\\' && (line[i + 1] === "'" || line[i + 1] === '\\')) current += line[++i];
      else current += ch;
    } else if (quoting === '"') {
      if (ch === '"') open = null;
      else if (ch === '\\' && DOUBLE_QUOTED_ESCAPES.has(line[i + 1] ?? '')) current += line[++i];
      else if (ch === '\\' && line[i + 1] === '\n') i++; // a continued line
      else current += ch;
    } else if (quoting === "$'") {
      if (ch === "'") open = null;
      else if (ch === '\\' && i + 1 < line.length) {
        const escape = cEscape(line, i + 1);
        current += escape.text;
        i = escape.end;
      } else current += ch;
    } else if (ch === "'" || ch === '"') {
      open = { quoting: ch, textAt: i + 1, before: current.length };
    } else if (ch === '$' && line[i + 1] === "'" && dialect === 'posix') {
      open = { quoting: "$'", textAt: i + 2, before: current.length };
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= line.length || line[i + 1] === '\n') {
        i++; // nothing typed after it yet, or a continued line
      } else if (dialect === 'fish') {
        const escape = cEscape(line, i + 1);
        current += escape.text;
        i = escape.end;
      } else {
        current += line[++i];
      }
    } else {
      bare.push({ at: i, before: current.length });
      current += ch;
    }
  }
  if (current === null) return { words, current: '', start: line.length, open: null, bare: [] };
  return { words, current, start, open, bare };
}

/** The escape whose letter is at `at` (after a backslash): `\n`, `\t`… and `\xHH` are characters, anything else itself. */
function cEscape(line: string, at: number): { text: string; end: number } {
  const letter = line[at]!;
  const hex = letter === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(line.slice(at + 1)) : null;
  if (hex) return { text: String.fromCharCode(parseInt(hex[0], 16)), end: at + hex[0].length };
  return { text: C_ESCAPES[letter] ?? letter, end: at };
}
