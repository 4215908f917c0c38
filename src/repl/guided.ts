/**
 * Guided prompts: when a REPL line lacks arguments a person can be asked for, ask, and hand back complete words
 * for the same line parser and command table as any other line. The prompts never run a command themselves.
 *  - `set` / `set KEY`: key (validated as `set` would), then value (masked when values are kept out of history);
 *  - `get`, `delete` (any command whose first argument is a required key) alone: a searchable pick-list of keys
 *    (prefix search, bounded);
 *  - `delete KEY`: a confirmation, default No;
 *  - `delete --prefix P` / `delete --all`: a confirmation naming how many keys would go, default No.
 * The questions run through `ask` (the REPL's Keyboard: keys typed ahead reach them, and Ctrl-C or Ctrl-D cancels
 * one, which the loop reports as a cancelled command).
 */
import { confirm, input, password } from '@inquirer/prompts';
import { parseKey } from '../commands/args.js';
import { quoteKey } from '../errors.js';
import { escapeText } from '../render.js';
import type { CommandSpec } from '../commands/types.js';
import type { Prompt } from './keyboard.js';
import { pickList } from './pick-list.js';
import { findCommand, splitArgs } from '../commands/words.js';

export interface GuideDeps {
  /** Runs one question on the terminal. */
  ask: <Config, Value>(prompt: Prompt<Config, Value>, config: Config) => Promise<Value>;
  /** Keys starting with a prefix, at most `limit`. */
  keys: (prefix: string, limit: number) => Promise<string[]>;
  /** How many live keys start with a prefix. */
  countKeys: (prefix: string) => Promise<number>;
  maskValues: boolean;
}

/** What to run: the words, completed; or a note on why nothing runs (declined, nothing to pick from). */
export type Guided = { kind: 'run'; words: string[] } | { kind: 'skip'; note: string };

const PICK_LIMIT = 50;

export async function guide(words: string[], deps: GuideDeps): Promise<Guided> {
  const spec = findCommand(words[0] ?? '');
  if (!spec) return { kind: 'run', words };
  const { positional, options } = splitArgs(spec, words.slice(1));
  const { ask } = deps;
  const missing: string[] = [];
  if (spec.name === 'set' && positional.length < 2) {
    if (positional.length === 0) missing.push(await ask(input, { message: 'Key', validate: validKey }));
    const key = positional[0] ?? missing[0]!;
    const message = `Value for ${quoteKey(key)}`;
    const validate = (value: string) => value !== '-' || '`-` means "read stdin", which the REPL cannot; quote a literal dash in a `set` line';
    missing.push(deps.maskValues ? await ask(password, { message, mask: '*', validate }) : await ask(input, { message, validate }));
  }
  const prefix = spec.name === 'delete' ? prefixOf(options) : undefined;
  if (prefix !== undefined) {
    const count = await deps.countKeys(prefix);
    const what = prefix === '' ? 'every key in the database' : `every key under ${quoteKey(prefix)}`;
    const sure = await ask(confirm, { message: `Delete ${count} ${count === 1 ? 'key' : 'keys'} (${what})?`, default: false });
    return sure ? { kind: 'run', words } : { kind: 'skip', note: '(nothing deleted)' };
  }
  const [first] = spec.args;
  if (spec.name !== 'set' && first?.name === 'key' && (first.required || spec.name === 'delete') && positional.length === 0) {
    if ((await deps.keys('', 1)).length === 0) return { kind: 'skip', note: '(no keys to pick from)' };
    missing.push(await pickKey(spec, deps));
  }
  const key = positional[0] ?? missing[0];
  if (spec.name === 'delete' && key !== undefined) {
    const sure = await ask(confirm, { message: `Delete ${quoteKey(key)}?`, default: false });
    if (!sure) return { kind: 'skip', note: '(not deleted)' };
  }
  if (missing.length === 0) return { kind: 'run', words };
  // After `--` every word is positional, so a value such as `-x` stays a value.
  return { kind: 'run', words: [words[0]!, ...options, '--', ...positional, ...missing] };
}

/** The prefix a `delete` line's options remove (--all: ''), or undefined for a plain delete. */
function prefixOf(options: string[]): string | undefined {
  let prefix: string | undefined;
  options.forEach((word, i) => {
    if (word === '--all') prefix ??= '';
    else if (word === '--prefix') prefix = options[i + 1] ?? '';
    else if (word.startsWith('--prefix=')) prefix = word.slice('--prefix='.length);
  });
  return prefix;
}

function validKey(key: string): true | string {
  try {
    parseKey(key, 'set <key> <value>');
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}

function pickKey(spec: CommandSpec<unknown>, deps: GuideDeps): Promise<string> {
  return deps.ask(pickList, {
    message: `${{ get: 'Key to read', delete: 'Key to delete' }[spec.name] ?? `Key for ${spec.name}`} (type to narrow)`,
    source: (prefix: string) => deps.keys(prefix, PICK_LIMIT),
    label: escapeText,
    pageSize: 10,
  });
}
