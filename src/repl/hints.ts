/**
 * Inline hints, as redis-cli shows them: once a command's name (or one of its words) is typed and followed by a
 * blank, the rest of its syntax, from the command table (`set greeting ` → `<value> [--ttl <duration>] …`).
 * Pure: the line prompt paints it dimmed after the cursor. Arguments already given and options already used
 * drop out; after an option that takes a value, the hint is that value.
 */
import type { ArgumentSpec, OptionSpec } from '../commands/types.js';
import { scanLine } from './complete.js';
import { findCommand, splitArgs, takesValue } from '../commands/words.js';

/** The hint after `line` (the cursor at its end), or '' when there is none to give. */
export function syntaxHint(line: string): string {
  if (!/[ \t]$/.test(line) || line.trimStart().startsWith('#')) return ''; // a word being typed is not hinted over
  const scan = scanLine(line);
  const [first, ...rest] = scan?.words ?? [];
  if (first === undefined || scan?.current !== '') return ''; // nothing typed, or inside an open quote
  const name = first.toLowerCase();
  if (name === 'help') return rest.length === 0 ? '[command]' : '';
  if (name === 'timing') return rest.length === 0 ? '[on|off]' : '';
  const spec = findCommand(name);
  if (!spec) return '';
  const afterDashes = rest.includes('--');
  const previous = rest.at(-1);
  if (previous !== undefined && !afterDashes && takesValue(spec, previous)) {
    return spec.options.find((option) => longFlags(option).includes(previous))?.flags.match(/<[^>]+>/)?.[0] ?? '';
  }
  const { positional, options } = splitArgs(spec, rest);
  const hints = spec.args.slice(positional.length).map(argumentHint);
  const last = spec.args.at(-1);
  if (hints.length === 0 && last?.variadic) hints.push(`[${last.name}]…`);
  if (!afterDashes) {
    const used = (option: OptionSpec) => longFlags(option).some((flag) => options.some((word) => word === flag || word.startsWith(`${flag}=`)));
    hints.push(...spec.options.filter((option) => !used(option)).map(optionHint));
  }
  return hints.join(' ');
}

/** The hint cut to `width` columns at a blank, ending in `…` when cut; '' when not even a word fits. */
export function fitHint(hint: string, width: number): string {
  if (hint.length <= width) return hint;
  const cut = hint.slice(0, Math.max(0, width - 1));
  const blank = cut.lastIndexOf(' ');
  return blank <= 0 ? '' : `${cut.slice(0, blank)} …`;
}

function argumentHint(arg: ArgumentSpec): string {
  const name = arg.choices ? arg.choices.join('|') : arg.name;
  return `${arg.required ? `<${name}>` : `[${name}]`}${arg.variadic ? '…' : ''}`;
}

function optionHint(option: OptionSpec): string {
  const value = option.flags.match(/<[^>]+>/)?.[0];
  return `[${longFlags(option).at(-1)}${value ? ` ${value}` : ''}]`;
}

function longFlags(option: OptionSpec): string[] {
  return option.flags.split(/[ ,|]+/).filter((flag) => flag.startsWith('--'));
}
