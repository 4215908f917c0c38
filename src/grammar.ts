/**
 * The line grammar shared by the REPL and batch (CONTRACT.md, "Modes"): words split on blanks; "…" and '…'
 * quote; inside double quotes \" \\ \n \t escape; blank lines and lines starting with # are skipped.
 * Quoted and bare parts next to each other join into one word (a"b c" is `ab c`), and "" is an empty word.
 */
import { UsageError } from './errors.js';

const DOUBLE_QUOTE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t' };

/** The words of a line, or null when the line is blank or a comment. Throws UsageError on an open quote. */
export function splitLine(line: string): string[] | null {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line; // CRLF input
  const trimmed = text.trimStart();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const words = scratchWords;
  let count = 0;
  let word: string | null = null; // null: between words
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t') {
      if (word !== null) words[count++] = word;
      word = null;
      i++;
    } else if (ch === '"' || ch === "'") {
      const close = findClosingQuote(text, i);
      if (close < 0) {
        forget(words, count);
        throw new UsageError(`unterminated ${ch === '"' ? 'double' : 'single'} quote`);
      }
      const body = text.slice(i + 1, close);
      word = (word ?? '') + (ch === '"' ? unescapeDoubleQuoted(body) : body);
      i = close + 1;
    } else {
      // A run of ordinary characters is taken as one slice, not one character at a time: values can be 64 MiB long.
      const end = bareRunEnd(text, i);
      word = (word ?? '') + text.slice(i, end);
      i = end;
    }
  }
  if (word !== null) words[count++] = word;
  // The words are gathered in a scratch array and copied out at their exact number: an array pushed into grows by
  // 16 slots at once, most of a short line's garbage, and a bulk load splits a million lines.
  const result = words.slice(0, count) as string[];
  forget(words, count);
  return result;
}

/** Clears the first `count` slots, so the scratch array holds no word of a line (one may be 64 MiB) once it is split. */
function forget(words: (string | undefined)[], count: number): void {
  // A loop, not fill(): fill over a range calls into V8's C++ runtime (~2 ms of a 100k-line batch, profiled).
  for (let i = 0; i < count; i++) words[i] = undefined;
}

/** Where splitLine gathers the words of the line at hand (never shortened: V8 frees the slots of a shrunk array). */
const scratchWords: (string | undefined)[] = [];

/**
 * Where the run of ordinary characters (anything but blanks and quotes) that starts at `start` ends. A loop, not a
 * sticky regexp: a batch line is three runs, and calling into a regexp three times a line was ~1% of a bulk load's
 * time; one unbounded regexp match over a 64 MiB word also ran out of V8's backtracking stack.
 */
function bareRunEnd(text: string, start: number): number {
  let i = start;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x22 || c === 0x27) break; // space, tab, " and '
  }
  return i;
}

function findClosingQuote(text: string, open: number): number {
  const quote = text[open];
  for (let i = open + 1; i < text.length; i++) {
    if (quote === '"' && text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return -1;
}

/** Inside double quotes only \" \\ \n \t are escapes; any other backslash stays as typed. */
function unescapeDoubleQuoted(body: string): string {
  return body.replace(/\\(.)/gs, (whole, ch: string) => DOUBLE_QUOTE_ESCAPES[ch] ?? whole);
}

/** Quotes a word so that splitLine gives it back unchanged (used when echoing or saving lines). */
export function quoteWord(word: string): string {
  if (word !== '' && !/[\s"'\\#]/.test(word)) return word;
  return `"${word.replace(/[\\"\n\t]/g, (ch) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t' })[ch]!)}"`;
}
