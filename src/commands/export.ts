import type { CommandSpec } from './types.js';
import { exportDocument } from '../transfer/format.js';
import { startProgress, type Progress } from '../transfer/progress.js';
import type { Entry } from '../store/store.js';

export interface ExportOptions {
  prefix: string;
}

/** Below this many entries a progress bar would only flicker. */
const PROGRESS_MIN_ENTRIES = 5000;

export const exportCommand: CommandSpec<ExportOptions> = {
  name: 'export',
  summary: 'print entries as a JSON document (binary values base64, TTLs kept), streamed',
  unbounded: true,
  args: [{ name: 'prefix', required: false, description: 'only keys starting with this' }],
  options: [],
  examples: ['tbase export > backup.json', 'tbase export user: > users.json'],
  parse([prefix]) {
    return { prefix: prefix ?? '' };
  },
  async run(ctx, { prefix }) {
    const store = await ctx.store();
    const total = ctx.io?.isStderrTTY ? await store.store.countLive(prefix, ctx.now()) : 0;
    return {
      kind: 'exported',
      chunks: (layout) => {
        const progress = total >= PROGRESS_MIN_ENTRIES ? startProgress(ctx.io, 'export', total, 'entries') : null;
        return exportDocument(counted(store.list(prefix), progress), layout, () => store.store.revision());
      },
    };
  },
};

async function* counted(entries: AsyncIterable<Entry>, progress: Progress | null): AsyncGenerator<Entry> {
  try {
    for await (const entry of entries) {
      progress?.add(1);
      yield entry;
    }
  } finally {
    progress?.stop();
  }
}
