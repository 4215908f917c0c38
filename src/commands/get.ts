import type { CommandSpec } from './types.js';
import { parseKey } from './args.js';
import { NotFoundError, UsageError } from '../errors.js';

export interface GetOptions {
  /** One key: its value; several: `key<TAB>value` lines for those found, in this order. */
  keys: string[];
  /** False for `-n`: print the exact stored bytes and nothing else (one key only). */
  newline: boolean;
}

const usage = 'get <key> [key…] [-n]';

export const getCommand: CommandSpec<GetOptions> = {
  name: 'get',
  summary: 'print a value; with several keys, key<TAB>value lines (one read round for all)',
  args: [{ name: 'key', required: true, variadic: true, description: 'the key (or keys) to read' }],
  options: [{ flags: '-n, --no-newline', description: 'print the exact stored bytes, no trailing newline' }],
  examples: ['tbase get greeting', 'tbase get -n photo > photo.jpg', 'tbase get greeting --json', 'tbase get host:a host:b host:c'],
  parse(args, opts) {
    const keys = (args.length === 0 ? [undefined] : args).map((key) => parseKey(key, usage));
    if (keys.length > 1 && opts.newline === false) throw new UsageError('-n prints one value byte for byte: give it one key');
    return { keys, newline: opts.newline !== false };
  },
  async run(ctx, { keys, newline }) {
    const store = await ctx.store();
    if (keys.length === 1) {
      const key = keys[0]!;
      const { entry, source } = await store.get(key);
      if (!entry) throw new NotFoundError(key);
      return { kind: 'value', key, entry, source, newline };
    }
    const lookups = await store.getMany(keys);
    const found: { entry: NonNullable<(typeof lookups)[number]['entry']>; source: 'cache' | 'store' }[] = [];
    const missing: string[] = [];
    lookups.forEach(({ entry, source }, i) => (entry ? found.push({ entry, source }) : missing.push(keys[i]!)));
    return { kind: 'values', found, missing };
  },
};
