/**
 * From one input line to one step of a batch. Commands come from the one command table and are parsed by their
 * own `parse` (through commander, or directly when the line is plain words with no flags: commander costs more
 * than the rest of a `set` together, and gives the same options for such a line). Steps say how the executor may
 * run them: writes are grouped into transactions, reads are pipelined, anything else runs alone, in order.
 */
import { commands } from '../commands/index.js';
import type { DeleteOptions } from '../commands/delete.js';
import type { GetOptions } from '../commands/get.js';
import type { IncrOptions } from '../commands/incr.js';
import type { SetOptions } from '../commands/set.js';
import type { TtlOptions } from '../commands/ttl.js';
import { takesWords, type CommandSpec } from '../commands/types.js';
import { splitLine } from '../grammar.js';
import { UsageError } from '../errors.js';
import type { Invocation } from '../program.js';
import type { Write } from '../store/store.js';

export type Step =
  | { line: number; kind: 'write'; command: 'set' | 'delete' | 'incr' | 'decr'; write: Write }
  | { line: number; kind: 'read'; command: 'get' | 'ttl'; key: string; newline: boolean }
  | { line: number; kind: 'other'; command: string; invocation: Invocation }
  | { line: number; kind: 'invalid'; command: string | undefined; error: unknown };

export type LineParser = (words: string[]) => Invocation | null;

const byName = new Map<string, CommandSpec<unknown>>();
for (const spec of commands) for (const name of [spec.name, ...(spec.aliases ?? [])]) byName.set(name, spec);

/** The step for one line, or null for a blank line or a comment. `now` dates a `set --ttl`. */
export function planLine(text: string, line: number, parseWords: LineParser, now: number): Step | null {
  let command: string | undefined;
  try {
    const words = splitLine(text);
    if (!words) return null;
    const name = words[0]!.toLowerCase();
    words[0] = name;
    const spec = byName.get(name);
    command = spec?.name;
    if (spec && isPlain(spec, words)) {
      words.shift(); // the arguments, in place: a bulk load plans a million lines, and every copy adds up
      return classify(spec, spec.parse(words, NO_OPTIONS), line, now);
    }
    const invocation = parseWords(words);
    if (!invocation) return null;
    command = invocation.spec.name;
    return classify(invocation.spec, invocation.options, line, now);
  } catch (error) {
    return { line, kind: 'invalid', command, error };
  }
}

/** Words commander would read as positional arguments only, as many as the command takes (takesWords). */
function isPlain(spec: CommandSpec<unknown>, words: string[]): boolean {
  if (!takesWords(spec, words.length - 1)) return false;
  for (let i = 1; i < words.length; i++) if (words[i]!.startsWith('-')) return false;
  return true;
}

/** The options a plain line has: none. */
const NO_OPTIONS: Record<string, unknown> = Object.freeze({});

function classify(spec: CommandSpec<unknown>, options: unknown, line: number, now: number): Step {
  switch (spec.name) {
    case 'watch':
    case 'lock':
      // Both run until something else happens (an interrupt, a command's end): a batch line must answer.
      return { line, kind: 'invalid', command: spec.name, error: new UsageError(`${spec.name} cannot run in batch: run it as a command of its own (tbase ${spec.name} …)`) };
    case 'set': {
      const { key, value, ttlSeconds, keepTtl, condition } = options as SetOptions;
      if (value === null) break; // `set KEY -` runs alone (and says why stdin cannot carry the value)
      const expiresAt = ttlSeconds === null ? null : now + ttlSeconds * 1000;
      return { line, kind: 'write', command: 'set', write: { op: 'set', key, value, expiresAt, keepTtl, condition } };
    }
    case 'delete': {
      const target = options as DeleteOptions;
      if (target.kind === 'prefix') break; // one transaction of its own
      const condition = target.ifRevision === undefined ? undefined : { kind: 'revision' as const, revision: target.ifRevision };
      return { line, kind: 'write', command: 'delete', write: { op: 'delete', key: target.key, condition } };
    }
    case 'incr':
    case 'decr': {
      const { key, by } = options as IncrOptions;
      return { line, kind: 'write', command: spec.name, write: { op: 'incr', key, by } };
    }
    case 'get': {
      const { keys, newline } = options as GetOptions;
      if (keys.length > 1) break; // a multi-get is one round of its own and one answer line
      return { line, kind: 'read', command: 'get', key: keys[0]!, newline };
    }
    case 'ttl':
      return { line, kind: 'read', command: 'ttl', key: (options as TtlOptions).key, newline: true };
  }
  return { line, kind: 'other', command: spec.name, invocation: { spec, options } };
}
