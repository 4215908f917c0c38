import type { CommandSpec } from './types.js';
import { parseKey } from './args.js';
import { NotFoundError } from '../errors.js';

export interface TtlOptions {
  key: string;
}

export const ttlCommand: CommandSpec<TtlOptions> = {
  name: 'ttl',
  summary: 'print the seconds a key has left (-1: no expiry)',
  args: [{ name: 'key', required: true, description: 'the key to look at' }],
  options: [],
  examples: ['tbase ttl session:42', 'tbase ttl session:42 --json'],
  parse([key]) {
    return { key: parseKey(key, 'ttl <key>') };
  },
  async run(ctx, { key }) {
    const { entry } = await (await ctx.store()).get(key);
    if (!entry) throw new NotFoundError(key);
    return { kind: 'ttl', key, expiresAt: entry.expiresAt };
  },
};
