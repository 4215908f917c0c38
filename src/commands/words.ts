/**
 * What the fronts need to know about a command line's words beyond the grammar: which command a name means, its
 * option names, and which words are positional arguments. The REPL (completion, hints, guided prompts, history)
 * and shell completion use this; parsing and running stay with commander and the command table.
 */
import { commands } from './index.js';
import type { CommandSpec, CommandWords } from './types.js';

/** The command table entry for a name or alias (command names are case-insensitive). */
export function findCommand(name: string): CommandSpec<unknown> | undefined {
  const wanted = name.toLowerCase();
  return commands.find((spec) => spec.name === wanted || (spec.aliases ?? []).includes(wanted));
}

/** Every name and alias of the commands given. */
export function namesOf(specs: readonly CommandWords[]): string[] {
  return specs.flatMap((spec) => [spec.name, ...(spec.aliases ?? [])]);
}

/** Long option names of a command, e.g. `--ttl`, `--no-newline`. */
export function optionNames(spec: CommandWords): string[] {
  return spec.options.flatMap((option) => option.flags.split(/[ ,|]+/).filter((flag) => flag.startsWith('--')));
}

/** Whether `word` is an option of `spec` that takes a value (`--ttl 5m`), so the next word is not positional. */
export function takesValue(spec: CommandWords, word: string): boolean {
  if (word.includes('=')) return false;
  return spec.options.some((option) => option.flags.includes('<') && option.flags.split(/[ ,|]+/).includes(word));
}

/**
 * The words after the command name, split into positional arguments and the rest (options and their values).
 * After `--` every word is positional, as commander reads it.
 */
export function splitArgs(spec: CommandWords, args: readonly string[]): { positional: string[]; options: string[] } {
  const positional: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
      options.push(word);
      if (takesValue(spec, word) && i + 1 < args.length) options.push(args[++i]!);
    } else {
      positional.push(word);
    }
  }
  return { positional, options };
}
