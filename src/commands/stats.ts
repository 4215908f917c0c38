import type { CommandSpec } from './types.js';
import { shownLocation } from '../store/location.js';

export const statsCommand: CommandSpec<Record<string, never>> = {
  name: 'stats',
  summary: 'store and cache state: keys, database size, cache up/down, hits/misses, servers',
  args: [],
  options: [],
  examples: ['tbase stats', 'tbase stats --json'],
  parse() {
    return {};
  },
  async run(ctx) {
    const stats = await (await ctx.store()).stats();
    return { kind: 'stats', stats, dbPath: shownLocation(ctx.config.db) };
  },
};
