/**
 * Batch mode: one command per input line, run in order while reading, so memory stays flat whatever the input
 * size. Each command's output is rendered as soon as it has run. Errors name the line; a missing key is an
 * answer, not a failure. Exit status: 0 when every command succeeded, else the highest code seen.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Config } from './config.js';
import { Context } from './context.js';
import { ExitCode, exitCodeOf, NotFoundError, UsageError } from './errors.js';
import type { IO } from './io.js';
import { createLineParser } from './program.js';
import { renderError, renderResult } from './render.js';
import { splitLine } from './grammar.js';

export interface BatchOptions {
  /** A path, or '-' for stdin. */
  file: string;
  /** Stop at the first command that fails. */
  bail: boolean;
}

export async function runBatch(io: IO, config: Config, options: BatchOptions): Promise<number> {
  const input = options.file === '-' ? io.stdin : await openInput(options.file);
  const ctx = new Context(io, config, { stdinIsCommandStream: options.file === '-' });
  const parseWords = createLineParser({ writeOut: (text) => void io.out(text) });
  const mode = io.outputMode(config.json);
  let worst: number = ExitCode.ok;
  let lineNumber = 0;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNumber++;
      let command: string | undefined;
      const render = { io, mode, now: ctx.now(), extra: { line: lineNumber } };
      try {
        const words = splitLine(line);
        if (!words) continue;
        words[0] = words[0]!.toLowerCase();
        const invocation = parseWords(words);
        if (!invocation) continue;
        command = invocation.spec.name;
        await renderResult(render, command, await invocation.spec.run(ctx, invocation.options));
      } catch (error) {
        if (error instanceof NotFoundError && mode !== 'json') {
          await io.out(mode === 'human' ? `${io.colour.dim('(not found)')}\n` : '\n');
          continue;
        }
        if (error instanceof NotFoundError) {
          await renderError({ ...render, io: quietIO(io) }, command, error);
          continue;
        }
        await renderError(render, command, error, `tbase: line ${lineNumber}`);
        worst = Math.max(worst, exitCodeOf(error));
        if (options.bail) break;
      }
    }
  } finally {
    await ctx.close();
  }
  return worst;
}

async function openInput(path: string) {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error) => reject(new UsageError(`cannot read batch file ${JSON.stringify(path)}: ${error.message}`)));
  });
  return stream;
}

/** A missing key in batch JSON is an answer: its object goes to stdout, but no error line to stderr. */
function quietIO(io: IO): IO {
  return Object.assign(Object.create(io) as IO, { err: () => undefined });
}
