import type { CommandSpec } from './types.js';
import { parseKey, parseRevision } from './args.js';
import { writeOne } from './write-result.js';
import { UsageError } from '../errors.js';

export type DeleteOptions =
  | { kind: 'key'; key: string; ifRevision: number | undefined }
  /** Every key starting with `prefix` ('' with --all), in one transaction. */
  | { kind: 'prefix'; prefix: string };

const usage = 'delete <key> [--if-revision N] | delete --prefix P | delete --all';

export const deleteCommand: CommandSpec<DeleteOptions> = {
  name: 'delete',
  aliases: ['del', 'rm'],
  summary: 'remove a key, or every key under a prefix (--prefix P, --all) in one transaction',
  args: [{ name: 'key', required: false, description: 'the key to remove' }],
  options: [
    { flags: '--if-revision <n>', description: 'only if the key is at revision n' },
    { flags: '--prefix <prefix>', description: 'remove every key starting with prefix; prints the count' },
    { flags: '--all', description: 'remove every key (the same as an empty --prefix)' },
  ],
  examples: ['tbase delete greeting', 'tbase rm session:42', 'tbase delete lock:a --if-revision 12', 'tbase delete --prefix session:'],
  parse([key], opts) {
    const prefix = opts.prefix === undefined ? undefined : String(opts.prefix);
    const all = opts.all === true;
    if (prefix !== undefined || all) {
      if (key !== undefined) throw new UsageError(`give a key or --prefix/--all, not both; usage: ${usage}`);
      if (opts.ifRevision !== undefined) throw new UsageError('--if-revision goes with one key, not with --prefix or --all');
      if (all && prefix !== undefined && prefix !== '') throw new UsageError('--all removes every key: give it without --prefix');
      if (!all && prefix === '') throw new UsageError('an empty prefix removes every key: say --all');
      return { kind: 'prefix', prefix: prefix ?? '' };
    }
    return {
      kind: 'key',
      key: parseKey(key, usage),
      ifRevision: opts.ifRevision === undefined ? undefined : parseRevision(opts.ifRevision, '--if-revision'),
    };
  },
  async run(ctx, options) {
    const store = await ctx.store();
    if (options.kind === 'prefix') {
      const { count, revision } = await store.deletePrefix(options.prefix);
      return { kind: 'deletedPrefix', prefix: options.prefix, count, revision };
    }
    const { key, ifRevision } = options;
    const write = { op: 'delete' as const, key, condition: ifRevision === undefined ? undefined : { kind: 'revision' as const, revision: ifRevision } };
    return (await writeOne(store, write)).answer;
  },
};
