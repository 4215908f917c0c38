/**
 * Entry point and the one error boundary of one-shot runs: parse the command line, pick the mode, run, and turn
 * the outcome into output and an exit status (CONTRACT.md). Nothing here knows how a command works.
 */
import { resolveConfig, type Config } from './config.js';
import { Context } from './context.js';
import { ExitCode, exitCodeOf } from './errors.js';
import { IO } from './io.js';
import { parseSimpleCommandLine } from './argv.js';
import { boundHeapGrowth } from './memory.js';
import type { Invocation, ParseOutcome } from './program.js';
import { preferLeanSockets } from './store/memjs-net.js';
import { renderError, renderResult, reportShortfall } from './render.js';
import { tbaseVersion, versions } from './versions.js';

/** `processExits`: the caller ends the process once this resolves (src/index.ts), so connections need no closing. */
export interface MainOptions {
  processExits?: boolean;
}

export async function main(argv: string[], io: IO, env: Record<string, string | undefined>, options: MainOptions = {}): Promise<number> {
  let json = argv.includes('--json');
  let command: string | undefined;
  // Shell completion's hidden entry (completion/run.ts): it reports nothing and always exits 0, so it stays
  // outside this function's error boundary.
  if (argv[0] === '__complete') return (await import('./completion/run.js')).runCompletion(argv.slice(1), io, env);
  await io.loadColours();
  try {
    // The common one-shot line skips commander (argv.ts); everything else, and help, goes through it.
    const outcome: ParseOutcome =
      parseSimpleCommandLine(argv) ??
      (await import('./program.js')).parseCommandLine(argv, await versionText(argv), { writeOut: (text) => void io.out(text) });
    if (outcome.kind === 'done') return ExitCode.ok;
    const config = resolveConfig(outcome.flags, env);
    json = config.json;
    if (outcome.kind === 'command') {
      command = outcome.invocation.spec.name;
      return await runOneShot(io, config, outcome.invocation, options);
    }
    if (outcome.kind === 'serve') {
      const { runServe } = await import('./serve/server.js'); // the HTTP side loads only on this path
      return await runServe(io, config, outcome.serve, env);
    }
    if (outcome.kind === 'session' && io.isStdinTTY && io.isStdoutTTY) {
      const { runRepl } = await import('./repl/loop.js'); // Inquirer loads only on this path
      return await runRepl(io, config, env);
    }
    const { runBatch } = await import('./batch.js');
    const file = outcome.kind === 'batch' ? outcome.file : '-';
    return await runBatch(io, config, { file, bail: outcome.bail });
  } catch (error) {
    await renderError({ io, mode: io.outputMode(json), now: Date.now() }, command, error);
    return exitCodeOf(error);
  }
}

async function runOneShot(io: IO, config: Config, invocation: Invocation, { processExits = false }: MainOptions): Promise<number> {
  if (invocation.spec.unbounded) boundHeapGrowth();
  // A command that answers once and exits writes its answer straight to stdout's descriptor (io.ts): making
  // Node's stream for a pipe would cost it more than the write. The ones that stream (list, export, import, watch) keep
  // the stream's back-pressure.
  else io.writeStdoutDirectly();
  // memjs connects with a socket made on Node's TCP handle, without loading node:net (store/memjs-net.ts).
  if (processExits) preferLeanSockets();
  const ctx = new Context(io, config);
  try {
    const result = await invocation.spec.run(ctx, invocation.options);
    await renderResult({ io, mode: io.outputMode(config.json), now: ctx.now() }, invocation.spec.name, result);
    return result.kind === 'ran' ? result.status : reportShortfall(io, result);
  } finally {
    await ctx.close({ processExits });
  }
}

/**
 * What `--version` prints: the version; with `--verbose` (before any `--`) also the SQLite library and Node
 * versions, which costs loading sqlite3, so only then.
 */
async function versionText(argv: string[]): Promise<string> {
  const options = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (!options.includes('--verbose') || !(options.includes('--version') || options.includes('-V'))) return tbaseVersion();
  const { tbase, sqlite, node } = await versions();
  return `${tbase}\nsqlite ${sqlite}\nnode ${node}`;
}
