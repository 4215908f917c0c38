/**
 * `tbase lock NAME -- CMD`: take the lease, run CMD (no shell) while holding it, give it back.
 *  - The lease is renewed every ttl/3. If the store says it is no longer ours (it ran out and another process took
 *    it), or renewals keep failing (the store cannot be reached) until less than one renewal period of the last
 *    confirmed lease is left, CMD can no longer be trusted to be alone: it gets SIGTERM, then SIGKILL after a grace
 *    period. A store that is away for a moment (PostgreSQL restarting) costs nothing.
 *  - SIGTERM, SIGHUP and SIGQUIT sent to tbase are passed on to CMD, and so is SIGINT unless stdin is a terminal:
 *    there Ctrl-C reaches CMD from the terminal itself (it is in the same foreground process group), and a second
 *    copy would read as "press again to force quit" to many programs. The lease is released once CMD has exited,
 *    whatever the signal, so a signal to tbase never leaves CMD running without the lease.
 *  - CMD gets TBASE_LOCK_NAME and TBASE_LOCK_REVISION, the fencing token: a later holder always has a higher one,
 *    so a resource CMD writes to can refuse a holder whose token is older than one it has seen.
 *  - A holder killed with -9 renews no more: its lease runs out after at most the TTL and the lock is free.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { LockHeldError, StoreUnavailableError, UsageError } from '../errors.js';
import type { IO } from '../io.js';
import type { Lease } from '../store/locks.js';
import type { Store } from '../store/store.js';

export interface LockRun {
  name: string;
  ttlMs: number;
  /** How long to wait for a held lock; 0: fail at once (exit 4). */
  waitMs: number;
  command: string[];
}

/** The longest a CMD that lost its lease may take to stop after SIGTERM before it is killed. */
const MAX_GRACE_MS = 10_000;
/** How often a waiting process tries again (it also wakes when the database changes). */
const RETRY_MS = 250;
/** Node's longest timer (about 24.8 days): a longer one would fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export async function runLocked(store: Store, io: IO | undefined, run: LockRun, now: () => number): Promise<number> {
  const lease = await acquire(store, run, now);
  let lost = false;
  const child = spawn(run.command[0]!, run.command.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, TBASE_LOCK_NAME: run.name, TBASE_LOCK_REVISION: String(lease.revision) },
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve(error));
  });
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT'];
  if (!io?.isStdinTTY) forwarded.push('SIGINT');
  // On a terminal tbase must still outlive Ctrl-C, to release the lease after CMD: it ignores SIGINT there.
  const ignore = () => undefined;
  for (const signal of forwarded) process.on(signal, forward);
  if (io?.isStdinTTY) process.on('SIGINT', ignore);
  let killer: NodeJS.Timeout | undefined;
  const every = Math.min(MAX_TIMER_MS, Math.max(50, Math.floor(run.ttlMs / 3)));
  /** The lease is certainly ours until then: the expiry of the last renewal the store confirmed. */
  let confirmedUntil = lease.expiresAt;
  const renewer = setInterval(() => {
    const sent = now();
    void store.renewLease(lease, run.ttlMs, sent).then(
      (held) => (held ? (confirmedUntil = sent + run.ttlMs) : loseLease()),
      () => now() + every >= confirmedUntil && loseLease(),
    );
  }, every);
  const loseLease = () => {
    if (lost) return;
    lost = true;
    io?.err(`${io.errColour.red('tbase:')} lost the lease on lock ${JSON.stringify(run.name)}; stopping the command`);
    child.kill('SIGTERM');
    killer = setTimeout(() => child.kill('SIGKILL'), Math.min(MAX_GRACE_MS, Math.max(1000, run.ttlMs / 3)));
  };
  try {
    const outcome = await exited;
    if (outcome instanceof Error) {
      const why = (outcome as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such command' : outcome.message;
      throw new UsageError(`cannot run ${JSON.stringify(run.command[0])}: ${why}`);
    }
    if (outcome.code !== null) return outcome.code;
    return 128 + (constants.signals[outcome.signal!] ?? 0); // as a shell reports a command ended by a signal
  } finally {
    clearInterval(renewer);
    clearTimeout(killer);
    for (const signal of forwarded) process.off(signal, forward);
    process.off('SIGINT', ignore);
    if (!lost) await store.releaseLease(lease).catch(() => false);
  }
}

/**
 * Takes the lease, waiting up to waitMs for a holder to let go (or for its lease to run out). A store that cannot
 * be reached for a moment (PostgreSQL restarting) is waited for too, within the same waitMs.
 */
async function acquire(store: Store, run: LockRun, now: () => number): Promise<Lease> {
  const owner = randomBytes(12).toString('hex');
  const deadline = now() + run.waitMs;
  for (;;) {
    const outcome = await store.acquireLease(run.name, owner, run.ttlMs, now()).catch((error: unknown) => {
      if (error instanceof StoreUnavailableError && now() < deadline) return null;
      throw error;
    });
    if (outcome === null) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MS, Math.max(0, deadline - now()))));
      continue;
    }
    if (outcome.taken) return outcome.lease;
    const left = deadline - now();
    if (left <= 0) throw new LockHeldError(run.name, outcome.holder.revision, outcome.holder.expiresAt - now());
    // Wake at the holder's expiry, when the database changes (a release), or after a short pause.
    await new Promise<void>((resolve) => {
      const off = store.notifier.subscribe(() => done());
      const timer = setTimeout(() => done(), Math.min(left, RETRY_MS, Math.max(0, outcome.holder.expiresAt - now()) + 1));
      function done() {
        off();
        clearTimeout(timer);
        resolve();
      }
    });
  }
}
