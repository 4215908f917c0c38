import type { CommandSpec } from './types.js';
import { parseKey } from './args.js';
import { NotFoundError } from '../errors.js';

export interface DeleteOptions {
  key: string;
}

export const deleteCommand: CommandSpec<DeleteOptions> = {
  name: 'delete',
  aliases: ['del', 'rm'],
  summary: 'remove a key',
  args: [{ name: 'key', required: true, description: 'the key to remove' }],
  options: [],
  examples: ['tbase delete greeting', 'tbase rm session:42'],
  parse([key]) {
    return { key: parseKey(key, 'delete <key>') };
  },
  async run(ctx, { key }) {
    if (!(await (await ctx.store()).delete(key))) throw new NotFoundError(key);
    return { kind: 'deleted', key };
  },
};
