/**
 * What the word being typed after a command's name is — an option, an option's value, a key, a file, one of fixed
 * words — read from the command's words alone. The REPL's Tab completion and shell completion share it; each
 * finds the command its own way (the REPL has no global options, the shell has batch, serve and help).
 */
import type { CommandWords } from '../commands/types.js';
import { optionNames, splitArgs, takesValue } from '../commands/words.js';

export type CompletionTarget =
  | { kind: 'command'; prefix: string }
  | { kind: 'key'; prefix: string }
  | { kind: 'option'; prefix: string; options: string[] }
  | { kind: 'choice'; prefix: string; choices: string[] }
  /** A file name: the shell completes it (the REPL does not). */
  | { kind: 'file' }
  | { kind: 'none' };

/**
 * The target of `current` (unquoted so far) after the command's finished words `rest`. `quoted`: the word opened
 * with a quote, so it is a value even when it starts with `-`.
 */
export function argumentTarget(spec: CommandWords, rest: readonly string[], current: string, quoted: boolean): CompletionTarget {
  const afterDashes = rest.includes('--');
  const previous = rest.at(-1);
  if (previous !== undefined && takesValue(spec, previous) && !afterDashes) return valueTarget(previous, current);
  if (current.startsWith('-') && !afterDashes && !quoted) return { kind: 'option', prefix: current, options: optionNames(spec) };
  const taken = splitArgs(spec, rest).positional.length;
  const arg = spec.args[taken] ?? (spec.args.at(-1)?.variadic ? spec.args.at(-1) : undefined);
  if (arg?.choices) return { kind: 'choice', prefix: current, choices: arg.choices };
  switch (arg?.name) {
    case 'key':
    case 'prefix':
      return { kind: 'key', prefix: current };
    case 'file':
      return { kind: 'file' };
    case 'command':
      return { kind: 'command', prefix: current };
    default:
      return { kind: 'none' };
  }
}

/** The value of `option`: `--prefix P` names keys by their start, `--db` a file; a TTL or a revision is neither. */
export function valueTarget(option: string, current: string): CompletionTarget {
  if (option === '--prefix') return { kind: 'key', prefix: current };
  if (option === '--db') return { kind: 'file' };
  return { kind: 'none' };
}
