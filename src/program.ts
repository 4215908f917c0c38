/**
 * The commander tree, built from the command table. The same builder makes the one-shot program (with global
 * options, help and version) and the line program the REPL and batch use (commands only). Parsing only records
 * which command was asked for and its typed options; running happens elsewhere.
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands/index.js';
import { batchWords, GLOBAL_OPTIONS, helpWords, serveWords, VERSION_OPTION } from './commands/program-words.js';
import type { CommandSpec, CommandWords } from './commands/types.js';
import type { GlobalFlags } from './config.js';
import { UsageError } from './errors.js';
import { parseServeOptions, TOKEN_ENV, type ServeOptions } from './serve/options.js';

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

Exit status: 0 ok, 1 key not found, 2 usage error, 3 storage error, 4 condition not met (--if-…, lock held, watch history gone).

Examples:
  tbase set session:42 token --ttl 15m        store a value that expires in 15 minutes
  tbase get -n photo > photo.jpg              the exact stored bytes, no newline added
  tbase list user: --json                     every key under user:, as one JSON object
  printf 'set a 1\\nget a\\n' | tbase           pipe commands in: batch, one answer per line
  tbase serve --port 8000                     HTTP API and monitoring page on 127.0.0.1:8000
  source <(tbase completion bash)             Tab completion in bash (also zsh, fish: tbase help completion)`;

/**
 * Parses a whole command line (argv without node and script). `version` is what `--version` prints (cli.ts makes
 * the `--verbose` one, which needs the SQLite library loaded).
 */
export function parseCommandLine(argv: string[], version: string, output: ProgramOutput): ParseOutcome {
  let outcome: ParseOutcome = { kind: 'done' };
  const program = configure(new Command('tbase'), output)
    .description(DESCRIPTION)
    .version(version, VERSION_OPTION.flags, VERSION_OPTION.description)
    .addHelpText('after', GLOBAL_HELP)
    .allowExcessArguments()
    .action(() => {
      // With a default action, commander hands an unknown command name over as an argument.
      const [unknown] = program.args;
      if (unknown !== undefined) throw new UsageError(`unknown command ${JSON.stringify(unknown)} (see tbase --help)`);
      outcome = { kind: 'session', bail: program.opts().bail === true, flags: program.opts<GlobalFlags>() };
    });
  for (const option of GLOBAL_OPTIONS) program.option(option.flags, option.description);
  addCommands(program, output, (invocation) => {
    outcome = { kind: 'command', invocation, flags: program.opts<GlobalFlags>() };
  });
  declare(program.command(batchWords.name), batchWords).action((file: string | undefined, opts: { bail?: boolean }) => {
    const bail = opts.bail === true || program.opts().bail === true;
    outcome = { kind: 'batch', file: file ?? '-', bail, flags: program.opts<GlobalFlags>() };
  });
  declare(program.command(serveWords.name), serveWords)
    .addHelpText('after', `\nEnvironment:\n  ${TOKEN_ENV}  bearer token required by every API request (mandatory off loopback)`)
    .action((opts: { host?: string; port?: string }) => {
      outcome = { kind: 'serve', serve: parseServeOptions(opts), flags: program.opts<GlobalFlags>() };
    });
  // `help X` prints exactly what `X --help` does (commander's own help command would print the whole overview, to
  // stderr, for an unknown X).
  declare(program.command(helpWords.name), helpWords).action((name: string | undefined) => {
    if (name === undefined) return program.outputHelp();
    const command = findSubcommand(program, name);
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)} (see tbase --help)`);
    command.outputHelp();
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
  const command = findSubcommand(program, name);
  if (!command) return null;
  command.outputHelp();
  return text;
}

/** A command's words (summary, aliases, arguments, options) declared to commander. */
function declare(command: Command, words: CommandWords): Command {
  // Sub-commands inherit settings: the root allows excess words (to report unknown commands), they must not.
  command.description(words.summary).allowExcessArguments(false);
  if (words.aliases) command.aliases(words.aliases);
  for (const arg of words.args) {
    const name = arg.variadic ? `${arg.name}...` : arg.name;
    command.argument(arg.required ? `<${name}>` : `[${name}]`, arg.description);
  }
  for (const option of words.options) command.option(option.flags, option.description);
  return command;
}

/** A sub-command by name or alias, as the REPL reads names: case-insensitive. */
function findSubcommand(program: Command, name: string): Command | undefined {
  const wanted = name.toLowerCase();
  return program.commands.find((c) => c.name() === wanted || c.aliases().includes(wanted));
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
    const command = declare(configure(program.command(spec.name), output), spec);
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
