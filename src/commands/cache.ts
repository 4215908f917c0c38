import type { CommandSpec } from './types.js';
import { requireArg } from './args.js';
import { parseServers } from '../config.js';
import { UsageError } from '../errors.js';

export interface CacheOptions {
  /** null shows the recorded pool; a list replaces it (a new epoch: the new pool starts cold). */
  setServers: string[] | null;
}

const USAGE = 'cache pool [set <host:port,…>]';

export const cacheCommand: CommandSpec<CacheOptions> = {
  name: 'cache',
  summary: 'show or change the memcached pool the database records (cache pool [set host:port,…])',
  args: [
    { name: 'subject', required: true, description: 'pool', choices: ['pool'] },
    { name: 'action', required: false, description: 'set: replace the recorded pool', choices: ['set'] },
    { name: 'servers', required: false, description: 'with set: the new pool, host:port,…' },
  ],
  options: [],
  examples: ['tbase cache pool', 'tbase cache pool set 10.0.0.5:11211,10.0.0.6:11211', 'tbase cache pool --json'],
  parse([subject, action, servers]) {
    if (requireArg(subject, 'subject', USAGE) !== 'pool') throw new UsageError(`unknown cache subject ${JSON.stringify(subject)}; usage: ${USAGE}`);
    if (action === undefined) return { setServers: null };
    if (action !== 'set') throw new UsageError(`unknown cache pool action ${JSON.stringify(action)}; usage: ${USAGE}`);
    return { setServers: parseServers(requireArg(servers, 'host:port,…', USAGE)) };
  },
  async run(ctx, { setServers }) {
    const store = await ctx.store();
    if (setServers === null) return { kind: 'pool', pool: await store.poolState(), change: null };
    const change = await store.changePool(setServers);
    return { kind: 'pool', pool: await store.poolState(), change };
  },
};
