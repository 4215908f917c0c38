/**
 * The commander tree, built from the command table. The same builder makes the one-shot program (with global
 * options, help and version) and the line program the REPL and batch use (commands only). Parsing only records
 * which command was asked for and its typed options; running happens elsewhere.
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import type { CommandSpec } from './commands/types.js';
import type { GlobalFlags } from './config.js';
import { UsageError } from './errors.js';
import { DEFAULT_HOST, DEFAULT_PORT, parseServeOptions, TOKEN_ENV, type ServeOptions } from './serve/options.js';

export interface Invocation {
  spec: CommandSpec<unknown>;
  options: unknown;
}

export type ParseOutcome =
  | { kind: 'command'; invocation: Invocation; flags: GlobalFlags }
  | { kind: 'session'; bail: boolean; flags: GlobalFlags } // no command: REPL or batch, decided by the caller
  | { kind: 'batch'; file: string; bail: boolean; flags: GlobalFlags }
  | { kind: 'serve'; serve: ServeOptions; flags: GlobalFlags }
  | { kind: 'done' }; // help or version was printed

export interface ProgramOutput {
  /** Help and version text (stdout). */
  writeOut(text: string): void;
}

const DESCRIPTION = 'A cache-aside key-value tool: memcached in front, a SQLite file or a PostgreSQL database as the source of truth.';

const GLOBAL_HELP = `
Modes:
  tbase [options] <command> [args…]    run one command and exit
  tbase [options]                      interactive REPL (stdin is a terminal) or batch (stdin is piped)
  tbase [options] serve [--host H] [--port P]   HTTP API and monitoring page

Environment:
  TBASE_DB, TBASE_SERVERS (then MEMCACHE_SERVERS), TBASE_NO_CACHE=1, NO_COLOR, FORCE_COLOR
  TBASE_CACHE_TIMEOUT_MS (default 500), TBASE_BUSY_TIMEOUT_MS (default 5000), TBASE_HISTORY_REVISIONS (default 100000)
  REPL: TBASE_HISTORY (file; empty or off: none), TBASE_HISTORY_SIZE, TBASE_HISTORY_REDACT=1

Exit status: 0 ok, 1 key not found, 2 usage error, 3 storage error, 4 condition not met (--if-…, lock held, watch history gone).`;

/** Parses a whole command line (argv without node and script). */
export function parseCommandLine(argv: string[], version: string, output: ProgramOutput): ParseOutcome {
  let outcome: ParseOutcome = { kind: 'done' };
  const program = configure(new Command('tbase'), output)
    .description(DESCRIPTION)
    .version(version, '-V, --version', 'print the version')
    .option('--db <path|url>', 'SQLite database file, or postgres://user@host:port/db (env TBASE_DB)')
    .option('--servers <host:port,…>', 'memcached servers (env TBASE_SERVERS, MEMCACHE_SERVERS)')
    .option('--no-cache', 'bypass memcached (env TBASE_NO_CACHE=1)')
    .option('--json', 'print JSON (batch: one JSON object per command)')
    .option('--bail', 'batch: stop at the first command that fails')
    .addHelpText('after', GLOBAL_HELP)
    .allowExcessArguments()
    .action(() => {
      // With a default action, commander hands an unknown command name over as an argument.
      const [unknown] = program.args;
      if (unknown !== undefined) throw new UsageError(`unknown command ${JSON.stringify(unknown)} (see tbase --help)`);
      outcome = { kind: 'session', bail: program.opts().bail === true, flags: program.opts<GlobalFlags>() };
    });
  addCommands(program, output, (invocation) => {
    outcome = { kind: 'command', invocation, flags: program.opts<GlobalFlags>() };
  });
  program
    .command('batch')
    .allowExcessArguments(false)
    .description('run commands from FILE (or - for stdin), one per line')
    .argument('[file]', 'file of commands; - or nothing reads stdin', '-')
    .option('--bail', 'stop at the first command that fails')
    .action((file: string, opts: { bail?: boolean }) => {
      const bail = opts.bail === true || program.opts().bail === true;
      outcome = { kind: 'batch', file, bail, flags: program.opts<GlobalFlags>() };
    });
  program
    .command('serve')
    .description('HTTP API and monitoring page over the same store')
    .option('--host <host>', `address to bind (default ${DEFAULT_HOST}; anything but loopback needs ${TOKEN_ENV})`)
    .option('--port <port>', `port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)`)
    .addHelpText('after', `\nEnvironment:\n  ${TOKEN_ENV}  bearer token required by every API request (mandatory off loopback)`)
    .action((opts: { host?: string; port?: string }) => {
      outcome = { kind: 'serve', serve: parseServeOptions(opts), flags: program.opts<GlobalFlags>() };
    });
  runParser(() => program.parse(argv, { from: 'user' }));
  return outcome;
}

/**
 * A parser for REPL and batch lines: the same commands, no global options. Reusable: commander restores its
 * state before each parse.
 */
export function createLineParser(output: ProgramOutput): (words: string[]) => Invocation | null {
  let invocation: Invocation | null = null;
  const program = configure(new Command(''), output).helpCommand(false).helpOption(false);
  addCommands(program, output, (parsed) => {
    invocation = parsed;
  });
  return (words) => {
    invocation = null;
    runParser(() => program.parse(words, { from: 'user' }));
    return invocation;
  };
}

/** One command's help (usage, arguments, options, examples) from the same tree, for the REPL's `help <cmd>`. */
export function commandHelp(name: string): string | null {
  let text = '';
  const output: ProgramOutput = { writeOut: (chunk) => void (text += chunk) };
  const program = configure(new Command('tbase'), output);
  addCommands(program, output, () => undefined);
  const wanted = name.toLowerCase();
  const command = program.commands.find((c) => c.name() === wanted || c.aliases().includes(wanted));
  if (!command) return null;
  command.outputHelp();
  return text;
}

function configure(program: Command, output: ProgramOutput): Command {
  return program
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => output.writeOut(text),
      writeErr: (text) => output.writeOut(text),
      outputError: () => undefined, // errors are thrown as UsageError and reported by the caller
    });
}

function addCommands(program: Command, output: ProgramOutput, onParsed: (invocation: Invocation) => void): void {
  for (const spec of commands) {
    // Sub-commands inherit settings: the root allows excess words (to report unknown commands), they must not.
    const command = configure(program.command(spec.name), output).description(spec.summary).allowExcessArguments(false);
    if (spec.aliases) command.aliases(spec.aliases);
    for (const arg of spec.args) {
      const name = arg.variadic ? `${arg.name}...` : arg.name;
      command.argument(arg.required ? `<${name}>` : `[${name}]`, arg.description);
    }
    for (const option of spec.options) command.option(option.flags, option.description);
    if (spec.examples.length > 0) {
      command.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}`);
    }
    command.action((...values: unknown[]) => {
      // A variadic last argument comes as an array: its words go on as positional words of their own.
      const positional = (values.slice(0, spec.args.length) as (string | string[] | undefined)[]).flat();
      const opts = (values[spec.args.length] ?? {}) as Record<string, unknown>;
      onParsed({ spec, options: spec.parse(positional, opts) });
    });
  }
}

/** commander signals help, version and errors by throwing; turn those into outcomes and UsageErrors. */
function runParser(parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    if (error.exitCode === 0) return;
    // commander puts its suggestion on a line of its own: one message is one line.
    throw new UsageError(error.message.replace(/^error: /, '').replace(/\n(?=\(Did you mean)/, ' '));
  }
}
