/**
 * What the word being typed on a `tbase …` shell line is, and which database its keys come from. Pure: the line
 * is read as the shell reads it (shell-line.ts), the commands and options come from the command table and
 * program-words.ts, and the decision after the command's name is the REPL's (target.ts).
 */
import { commands } from '../commands/index.js';
import { batchWords, GLOBAL_OPTIONS, HELP_OPTION, helpWords, serveWords, VERSION_OPTION } from '../commands/program-words.js';
import type { CommandWords } from '../commands/types.js';
import { findCommand, namesOf, takesValue } from '../commands/words.js';
import type { ShellLine } from './shell-line.js';
import { argumentTarget, valueTarget, type CompletionTarget } from './target.js';

/** Everything the first word after the program (and its global options) can be. */
const NOT_IN_TABLE = [batchWords, serveWords, helpWords];

/** The program itself, seen as a command: global options, then a command name. */
const programWords: CommandWords = {
  name: 'tbase',
  summary: '',
  args: [{ name: 'command', required: false, description: '' }],
  options: [...GLOBAL_OPTIONS, VERSION_OPTION, HELP_OPTION],
};

export interface ShellTarget {
  target: CompletionTarget;
  /** Put before every candidate: the `--opt=` of a word typed as `--opt=value`. */
  lead: string;
  /** `--db` as given on the line (the last one wins, as in commander), or `TBASE_DB=…` before the program. */
  db: string | undefined;
}

export function shellTarget(line: ShellLine, quoted: boolean): ShellTarget {
  const program = splitProgram(line.words);
  if (!program) return { target: { kind: 'none' }, lead: '', db: undefined }; // the program's own name is being typed
  const [assignments, args] = program;
  const db = dbOption(args) ?? assignments.get('TBASE_DB');
  let at = 0;
  while (at < args.length && isOption(args[at]!)) at += takesValue(programWords, args[at]!) ? 2 : 1;
  const name = args[at];
  const spec = name === undefined ? programWords : findWords(name);
  if (!spec) return { target: { kind: 'none' }, lead: '', db };
  const rest = name === undefined ? args : args.slice(at + 1);
  // Global options go after the command too (commander reads them anywhere before `--`).
  const words: CommandWords = spec === programWords ? spec : { ...spec, options: [...spec.options, ...GLOBAL_OPTIONS, HELP_OPTION] };
  const equals = line.current.indexOf('=');
  if (line.current.startsWith('--') && equals > 0 && !quoted && !rest.includes('--') && takesValue(words, line.current.slice(0, equals))) {
    const lead = line.current.slice(0, equals + 1);
    return { target: valueTarget(lead.slice(0, -1), line.current.slice(equals + 1)), lead, db };
  }
  return { target: argumentTarget(words, rest, line.current, quoted), lead: '', db };
}

/** Every command name and alias, for the first word after the global options (and for `help`). */
export function commandNames(): string[] {
  return [...namesOf(commands), ...namesOf(NOT_IN_TABLE)].sort();
}

/** The `NAME=value` assignments before the program's name, and the words after it; null before the name. */
function splitProgram(words: readonly string[]): [Map<string, string>, string[]] | null {
  const assignments = new Map<string, string>();
  let at = 0;
  for (; at < words.length; at++) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(words[at]!);
    if (!match) break;
    assignments.set(match[1]!, match[2]!);
  }
  return at < words.length ? [assignments, words.slice(at + 1)] : null;
}

function dbOption(args: readonly string[]): string | undefined {
  let db: string | undefined;
  for (let i = 0; i < args.length && args[i] !== '--'; i++) {
    if (args[i] === '--db') db = args[++i] ?? db;
    else if (args[i]!.startsWith('--db=')) db = args[i]!.slice('--db='.length);
  }
  return db;
}

function isOption(word: string): boolean {
  return word.startsWith('-') && word !== '-' && word !== '--';
}

function findWords(name: string): CommandWords | undefined {
  return findCommand(name) ?? NOT_IN_TABLE.find((words) => words.name === name);
}
