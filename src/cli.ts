/**
 * Entry point and the one error boundary of one-shot runs: parse the command line, pick the mode, run, and turn
 * the outcome into output and an exit status (CONTRACT.md). Nothing here knows how a command works.
 */
import { readFileSync } from 'node:fs';
import { resolveConfig, type Config } from './config.js';
import { Context } from './context.js';
import { ExitCode, exitCodeOf } from './errors.js';
import { IO } from './io.js';
import { parseSimpleCommandLine } from './argv.js';
import { boundHeapGrowth } from './memory.js';
import type { Invocation, ParseOutcome } from './program.js';
import { renderError, renderResult, reportShortfall } from './render.js';

export async function main(argv: string[], io: IO, env: Record<string, string | undefined>): Promise<number> {
  let json = argv.includes('--json');
  let command: string | undefined;
  try {
    // The common one-shot line skips commander (argv.ts); everything else, and help, goes through it.
    const outcome: ParseOutcome =
      parseSimpleCommandLine(argv) ??
      (await import('./program.js')).parseCommandLine(argv, version(), { writeOut: (text) => void io.out(text) });
    if (outcome.kind === 'done') return ExitCode.ok;
    const config = resolveConfig(outcome.flags, env);
    json = config.json;
    if (outcome.kind === 'command') {
      command = outcome.invocation.spec.name;
      return await runOneShot(io, config, outcome.invocation);
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

async function runOneShot(io: IO, config: Config, invocation: Invocation): Promise<number> {
  if (invocation.spec.unbounded) boundHeapGrowth();
  const ctx = new Context(io, config);
  try {
    const result = await invocation.spec.run(ctx, invocation.options);
    await renderResult({ io, mode: io.outputMode(config.json), now: ctx.now() }, invocation.spec.name, result);
    return result.kind === 'ran' ? result.status : reportShortfall(io, result);
  } finally {
    await ctx.close();
  }
}

/** The package version, from package.json one or two folders up (dist/ from tsc, dist/bundle/ from esbuild). */
function version(): string {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'tenantbase') return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}
