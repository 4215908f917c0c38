/** The interactive REPL. Placeholder until the REPL issue lands: a terminal session runs like batch. */
import type { Config } from '../config.js';
import type { IO } from '../io.js';
import { runBatch } from '../batch.js';

export async function runRepl(io: IO, config: Config): Promise<number> {
  return runBatch(io, config, { file: '-', bail: false });
}
