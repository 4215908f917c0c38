import { statSync } from 'node:fs';
import type { CommandSpec } from './types.js';
import { requireArg } from './args.js';
import { openInputFile } from '../batch/lines.js';
import { readExport, type ExportFacts } from '../transfer/format.js';
import { startProgress } from '../transfer/progress.js';

export interface ImportOptions {
  /** A path, or '-' for stdin. */
  file: string;
}

/** Import from stdin is read whole before parsing (files are streamed). */
const MAX_STDIN_IMPORT_BYTES = 2 * 1024 * 1024 * 1024 - 1;
const PROGRESS_MIN_BYTES = 1024 * 1024;

export const importCommand: CommandSpec<ImportOptions> = {
  name: 'import',
  summary: 'load an export (FILE or - for stdin) in one transaction: all or nothing',
  unbounded: true,
  args: [{ name: 'file', required: true, description: 'a file written by `tbase export`, or - for stdin' }],
  options: [],
  examples: ['tbase import backup.json', 'tbase --db copy.db import - < backup.json'],
  parse([file]) {
    return { file: requireArg(file, 'file', 'import <FILE|->') };
  },
  async run(ctx, { file }) {
    let input: AsyncIterable<Buffer | string> | Iterable<Buffer | string>;
    let size: number;
    if (file === '-') {
      const bytes = await ctx.readValueFromStdin(MAX_STDIN_IMPORT_BYTES);
      input = [bytes];
      size = bytes.length;
    } else {
      input = await openInputFile(file, 'import file');
      size = statSync(file).size;
    }
    const store = await ctx.store().catch((error: unknown) => {
      if ('destroy' in input) (input as { destroy(): void }).destroy();
      throw error;
    });
    const progress = size >= PROGRESS_MIN_BYTES ? startProgress(ctx.io, 'import', size, 'bytes') : null;
    try {
      const facts: ExportFacts = { revision: 0 };
      const { count, overwritten, revision } = await store.importWrites(
        readExport(input, (bytes) => progress?.add(bytes), facts),
        () => facts.revision,
      );
      return { kind: 'imported', count, overwritten, revision };
    } finally {
      progress?.stop();
    }
  },
};
