import type { CommandSpec } from './types.js';
import { shownLocation } from '../store/location.js';
import { versions } from '../versions.js';

export const statsCommand: CommandSpec<Record<string, never>> = {
  name: 'stats',
  summary: 'store and cache state: keys, database size, cache up/down, hits/misses, servers; tbase, SQLite and Node versions',
  args: [],
  options: [],
  examples: ['tbase stats', 'tbase stats --json'],
  parse() {
    return {};
  },
  async run(ctx) {
    const [stats, built] = await Promise.all([(await ctx.store()).stats(), versions()]);
    return { kind: 'stats', stats, dbPath: shownLocation(ctx.config.db), versions: built };
  },
};
