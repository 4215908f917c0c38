import type { CommandSpec } from './types.js';
import { parseLimit } from './args.js';

export interface ListOptions {
  prefix: string;
  limit: number | undefined;
  keysOnly: boolean;
}

export const listCommand: CommandSpec<ListOptions> = {
  name: 'list',
  aliases: ['ls'],
  summary: 'list entries in key order (streamed)',
  unbounded: true,
  args: [{ name: 'prefix', required: false, description: 'only keys starting with this' }],
  options: [
    { flags: '--limit <n>', description: 'at most n entries' },
    { flags: '--keys-only', description: 'print keys without values' },
  ],
  examples: ['tbase list', 'tbase ls user: --limit 10', 'tbase list --keys-only'],
  parse([prefix], opts) {
    return { prefix: prefix ?? '', limit: parseLimit(opts.limit), keysOnly: opts.keysOnly === true };
  },
  async run(ctx, { prefix, limit, keysOnly }) {
    const store = await ctx.store();
    return { kind: 'entries', entries: store.list(prefix, limit, { keysOnly }), keysOnly };
  },
};
