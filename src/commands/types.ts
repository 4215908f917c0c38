/**
 * What every command is: a declaration of its words (so one table can drive commander for one-shot, the REPL and
 * batch), a parse step from those words to a typed options object, and a run step that computes a result.
 * Commands never print: renderers in render.ts turn results into text.
 */
import type { Config } from '../config.js';
import type { CacheAsideStore, CacheAsideStats, PoolChange, PoolState } from '../store/cache-aside.js';
import type { Entry } from '../store/sqlite.js';
import type { IO } from '../io.js';
import type { ExportLayout } from '../transfer/format.js';

export interface ArgumentSpec {
  name: string;
  required: boolean;
  description: string;
  /** The only words the argument takes (Tab completes them). */
  choices?: string[];
}

export interface OptionSpec {
  /** commander syntax, e.g. `--ttl <duration>` or `-n, --no-newline` */
  flags: string;
  description: string;
}

export interface CommandSpec<Options = unknown> {
  name: string;
  aliases?: string[];
  summary: string;
  args: ArgumentSpec[];
  options: OptionSpec[];
  examples: string[];
  /** Reads or writes any number of entries: run with the heap's growth bounded (memory.ts). */
  unbounded?: true;
  /** From commander's positional values and option object to typed options; throws UsageError. */
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

export type CommandResult =
  | { kind: 'stored'; key: string; expiresAt: number | null }
  | { kind: 'value'; key: string; entry: Entry; source: 'cache' | 'store'; newline: boolean }
  | { kind: 'deleted'; key: string }
  | { kind: 'entries'; entries: AsyncIterable<Entry>; keysOnly: boolean }
  | { kind: 'stats'; stats: CacheAsideStats; dbPath: string }
  | { kind: 'ttl'; key: string; expiresAt: number | null }
  | { kind: 'exported'; chunks: (layout: ExportLayout) => AsyncIterable<string> }
  | { kind: 'imported'; count: number; overwritten: number }
  | { kind: 'pool'; pool: PoolState; change: PoolChange | null };
