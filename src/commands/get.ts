import type { CommandSpec } from './types.js';
import { parseKey } from './args.js';
import { NotFoundError } from '../errors.js';

export interface GetOptions {
  key: string;
  /** False for `-n`: print the exact stored bytes and nothing else. */
  newline: boolean;
}

export const getCommand: CommandSpec<GetOptions> = {
  name: 'get',
  summary: 'print a value',
  args: [{ name: 'key', required: true, description: 'the key to read' }],
  options: [{ flags: '-n, --no-newline', description: 'print the exact stored bytes, no trailing newline' }],
  examples: ['tbase get greeting', 'tbase get -n photo > photo.jpg', 'tbase get greeting --json'],
  parse([key], opts) {
    return { key: parseKey(key, 'get <key> [-n]'), newline: opts.newline !== false };
  },
  async run(ctx, { key, newline }) {
    const { entry, source } = await (await ctx.store()).get(key);
    if (!entry) throw new NotFoundError(key);
    return { kind: 'value', key, entry, source, newline };
  },
};
