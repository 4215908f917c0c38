/**
 * What every command is: a declaration of its words (so one table can drive commander for one-shot, the REPL and
 * batch), a parse step from those words to a typed options object, and a run step that computes a result.
 * Commands never print: renderers in render.ts turn results into text.
 */
import type { Config } from '../config.js';
import type { CacheAsideStore, CacheAsideStats, PoolChange, PoolState } from '../store/cache-aside.js';
import type { Entry } from '../store/store.js';
import type { Change } from '../store/changes.js';
import type { IO } from '../io.js';
import type { ExportLayout } from '../transfer/format.js';
import type { Versions } from '../versions.js';

export interface ArgumentSpec {
  name: string;
  required: boolean;
  /** The last argument only: takes every remaining word (commander hands them over as one array). */
  variadic?: boolean;
  description: string;
  /** The only words the argument takes (Tab completes them). */
  choices?: string[];
}

export interface OptionSpec {
  /** commander syntax, e.g. `--ttl <duration>` or `-n, --no-newline` */
  flags: string;
  description: string;
}

/** The words of a command, which help, the REPL's hints and shell completion read: every command has these. */
export interface CommandWords {
  name: string;
  aliases?: string[];
  summary: string;
  args: ArgumentSpec[];
  options: OptionSpec[];
}

export interface CommandSpec<Options = unknown> extends CommandWords {
  examples: string[];
  /** Reads or writes any number of entries: run with the heap's growth bounded (memory.ts). */
  unbounded?: true;
  /**
   * From the positional words and option object to typed options; throws UsageError. A variadic last argument
   * arrives as its words, one element each, after the others.
   */
  parse(args: (string | undefined)[], opts: Record<string, unknown>): Options;
  run(ctx: CommandContext, options: Options): Promise<CommandResult>;
}

export interface CommandContext {
  readonly config: Config;
  /** Opened on first use, so `--help` or a usage error never touches the database. */
  store(): Promise<CacheAsideStore>;
  now(): number;
  /** The whole of stdin, for `set KEY -`; a UsageError where stdin carries the commands themselves. */
  readValueFromStdin(maxBytes: number): Promise<Buffer>;
  /** The I/O object, for terminal facts (progress bars on stderr); absent in minimal test contexts. */
  readonly io?: IO;
}

/** Where a key stands after a write: the revision data every write answer carries. */
export type KeyRevisions = Pick<Entry, 'revision' | 'createRevision' | 'version'>;

export type CommandResult =
  | { kind: 'stored'; key: string; expiresAt: number | null; revisions: KeyRevisions }
  | { kind: 'value'; key: string; entry: Entry; source: 'cache' | 'store'; newline: boolean }
  /** `get K1 K2 …`: the keys found, in argument order, and those missing (exit 1 when any). */
  | { kind: 'values'; found: { entry: Entry; source: 'cache' | 'store' }[]; missing: string[] }
  /** `revision` is the database revision of the delete. */
  | { kind: 'deleted'; key: string; revision: number }
  | { kind: 'deletedPrefix'; prefix: string; count: number; revision: number }
  /** incr/decr: the new value, in decimal. */
  | { kind: 'counter'; key: string; value: string; expiresAt: number | null; revisions: KeyRevisions }
  | { kind: 'entries'; entries: AsyncIterable<Entry>; keysOnly: boolean }
  | { kind: 'stats'; stats: CacheAsideStats; dbPath: string; versions: Versions }
  | { kind: 'ttl'; key: string; expiresAt: number | null }
  | { kind: 'exported'; chunks: (layout: ExportLayout) => AsyncIterable<string> }
  | { kind: 'imported'; count: number; overwritten: number; revision: number }
  /** `watch`: the changes, streamed until interrupted. */
  | {
      kind: 'watch';
      events: AsyncIterable<Change>;
      /** Aborted when the watch is asked to stop (the events still finish the revision they are in). */
      stopped: AbortSignal;
      /** The clock: each event's TTL is counted when it is printed. */
      now: () => number;
    }
  /** `lock … -- CMD`: CMD ran under the lease and exited with `status` (tbase exits with it too). */
  | { kind: 'ran'; status: number }
  | { kind: 'pool'; pool: PoolState; change: PoolChange | null }
  /** `completion SHELL`: a script for the shell to source, printed as it is. */
  | { kind: 'script'; shell: string; script: string };


/**
 * Whether `count` positional words fit the command's arguments: every required one, at most all of them (any
 * number more for a variadic last one). Commander maps such plain words onto the arguments in order, so the fast
 * paths (argv.ts, batch/plan.ts) may hand them to `parse` directly.
 */
export function takesWords(spec: CommandSpec<unknown>, count: number): boolean {
  let required = 0;
  for (const arg of spec.args) if (arg.required) required++;
  return count >= required && (count <= spec.args.length || spec.args[spec.args.length - 1]?.variadic === true);
}
