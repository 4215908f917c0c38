import type { CommandSpec } from './types.js';
import { parseKey, parseRevision } from './args.js';
import { UsageError } from '../errors.js';
import type { Change, KeySelector } from '../store/changes.js';
import { changeFeed } from '../watch/feed.js';
import { stopOnInterrupt } from '../watch/stop.js';

export interface WatchOptions {
  selector: KeySelector;
  /** The first revision to stream (inclusive); undefined: from now on. */
  fromRevision: number | undefined;
}

const usage = 'watch <key> | watch --prefix P [--from-revision N]';

export const watchCommand: CommandSpec<WatchOptions> = {
  name: 'watch',
  summary: 'stream changes (from every process) as they commit, in revision order, until interrupted',
  unbounded: true,
  args: [{ name: 'key', required: false, description: 'the key to watch' }],
  options: [
    { flags: '--prefix <prefix>', description: 'watch every key starting with prefix ("" for all keys)' },
    { flags: '--from-revision <n>', description: 'start at revision n (a resumed watch: the last revision seen + 1)' },
  ],
  examples: ['tbase watch config', 'tbase watch --prefix job: --json', 'tbase watch --prefix job: --from-revision 1042'],
  parse([key], opts) {
    const prefix = opts.prefix === undefined ? undefined : String(opts.prefix);
    if (key !== undefined && prefix !== undefined) throw new UsageError(`give a key or --prefix, not both; usage: ${usage}`);
    if (key === undefined && prefix === undefined) throw new UsageError(`missing <key> or --prefix; usage: ${usage}`);
    const fromRevision = opts.fromRevision === undefined ? undefined : parseRevision(opts.fromRevision, '--from-revision');
    if (fromRevision === 0) throw new UsageError('revisions start at 1: use --from-revision 1 for the whole kept history');
    return { selector: prefix !== undefined ? { prefix } : { key: parseKey(key, usage) }, fromRevision };
  },
  async run(ctx, { selector, fromRevision }) {
    const { store } = await ctx.store();
    const stopper = stopOnInterrupt(ctx.io);
    const feed = changeFeed(store, store.notifier, { selector, fromRevision, signal: stopper.signal, now: () => ctx.now() });
    return { kind: 'watch', events: untilStopped(feed, stopper.dispose), stopped: stopper.signal, now: () => ctx.now() };
  },
};

async function* untilStopped(feed: AsyncGenerator<Change>, dispose: () => void): AsyncGenerator<Change> {
  try {
    yield* feed;
  } finally {
    dispose();
  }
}
