import type { CommandContext, CommandSpec } from './types.js';
import { parseDuration, requireArg } from './args.js';
import { StoreUnavailableError, UsageError } from '../errors.js';

export interface LockOptions {
  name: string;
  ttlMs: number;
  waitMs: number;
  command: string[];
}

const usage = 'lock <name> [--ttl D] [--wait D] -- <cmd> [args…]';
/** The lease a holder keeps renewing every third of it; a holder that dies frees the lock within it. */
const DEFAULT_TTL_SECONDS = 30;

export const lockCommand: CommandSpec<LockOptions> = {
  name: 'lock',
  summary: 'run a command (no shell) while holding a lease on NAME; exits with its status',
  args: [
    { name: 'name', required: true, description: 'the lock (a name of its own: never a key)' },
    { name: 'cmd', required: true, variadic: true, description: 'the command and its arguments, after --' },
  ],
  options: [
    { flags: '--ttl <duration>', description: `the lease, renewed every third of it (default ${DEFAULT_TTL_SECONDS}s)` },
    { flags: '--wait <duration>', description: 'wait this long for a held lock (default 0: exit 4 at once)' },
  ],
  examples: ['tbase lock nightly-report -- ./report.sh --full', 'tbase lock deploy --wait 5m --ttl 1m -- make deploy'],
  parse([name, ...command], opts) {
    const lockName = requireArg(name, 'name', usage);
    if (lockName === '') throw new UsageError('lock name is empty');
    if (command.length === 0 || command[0] === undefined || command[0] === '') throw new UsageError(`missing the command to run; usage: ${usage}`);
    return {
      name: lockName,
      ttlMs: (opts.ttl === undefined ? DEFAULT_TTL_SECONDS : parseDuration(String(opts.ttl))) * 1000,
      waitMs: opts.wait === undefined || String(opts.wait).trim() === '0' ? 0 : parseDuration(String(opts.wait)) * 1000,
      command: command as string[],
    };
  },
  async run(ctx, options) {
    // --wait also covers a store that cannot be reached yet (PostgreSQL restarting): the wait starts now.
    const started = Date.now();
    const { store } = await openWithin(ctx, options.waitMs);
    const waitMs = Math.max(0, options.waitMs - (Date.now() - started));
    // Loaded here: the lease runner needs node:crypto and node:child_process, which no other command's start-up pays for.
    const { runLocked } = await import('../lock/run-locked.js');
    return { kind: 'ran', status: await runLocked(store, ctx.io, { ...options, waitMs }, () => ctx.now()) };
  },
};

/** The store, tried again every RETRY_MS while it cannot be reached, for up to `waitMs`. */
async function openWithin(ctx: CommandContext, waitMs: number) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await ctx.store();
    } catch (error) {
      if (!(error instanceof StoreUnavailableError) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MS, deadline - Date.now())));
    }
  }
}

const RETRY_MS = 250;
