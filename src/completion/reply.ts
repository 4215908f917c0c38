/**
 * Candidates as each shell must receive them. zsh's compadd and fish quote what they insert themselves, so they
 * get the words as they are; bash inserts COMPREPLY as typed text, so its replies are quoted here, in the quoting
 * the word is being typed in, and cut to the part of the word readline replaces.
 */
import type { Quoting, ShellLine } from './shell-line.js';

export type Shell = 'bash' | 'zsh' | 'fish';

export const SHELLS: readonly Shell[] = ['bash', 'zsh', 'fish'];

/** What a shell cannot take as one word: NUL ends every argument; fish splits a completion at a tab. */
export function usableBy(shell: Shell, candidate: string): boolean {
  return !candidate.includes('\0') && !(shell === 'fish' && candidate.includes('\t'));
}

/**
 * bash's COMPREPLY for candidates of the word being typed. Readline replaces the text after a quote still open,
 * or else after the last COMP_WORDBREAKS character that stands for itself (`:` and `=` are in it by default: in
 * `session:4` it replaces `4`), so each reply is the candidate from there on, quoted to continue what is typed.
 */
export function bashReplies(line: ShellLine, candidates: readonly string[], wordbreaks: string): string[] {
  let from = 0;
  let quoting: Quoting = '';
  if (line.open) {
    ({ before: from, quoting } = line.open);
  } else {
    for (const { before } of line.bare) if (wordbreaks.includes(line.current[before]!)) from = before + 1;
  }
  return candidates.filter((candidate) => candidate.startsWith(line.current)).map((candidate) => quoteFor(quoting, candidate.slice(from)));
}

/** Unquoted, these would mean something to bash (or to readline: `!` is history expansion). */
const SPECIAL = /[\s!"#$&'()*;<>?[\\\]^`{|}~]/;
const CONTROL = /[\x00-\x1f\x7f]/;

/** `text` as typed inside the quoting given (a quote left open is closed by readline after a single match). */
function quoteFor(quoting: Quoting, text: string): string {
  switch (quoting) {
    case '"':
      return text.replace(/["\\$`]/g, '\\$&');
    case "'":
      return text.replace(/'/g, "'\\''");
    case "$'":
      return ansiC(text);
    case '':
      // Control characters have no backslash form outside quotes: such a word is typed as $'…' instead.
      if (CONTROL.test(text)) return `$'${ansiC(text)}'`;
      return [...text].map((ch) => (SPECIAL.test(ch) ? `\\${ch}` : ch)).join('');
  }
}

function ansiC(text: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\\': '\\\\', "'": "\\'" };
  return text.replace(/[\x00-\x1f\x7f\\']/g, (ch) => named[ch] ?? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
