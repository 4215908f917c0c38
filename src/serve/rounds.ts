/**
 * Coalescing for `tbase serve`: requests that arrive while a round is being prepared (or while the previous one
 * runs) share the next round, so N concurrent reads cost one outbox check, one pipelined memcached round and one
 * bulk SQLite read, and N concurrent writes one transaction and one fsync — the way batch mode already runs many
 * commands at once. docs/architecture.md ("Serve: coalesced reads and group commit") explains the rules.
 *
 * Why a request never sees an older state than it would alone: a request only joins a round that has not
 * started, so everything the round reads or writes happens after the request arrived, and the request is answered
 * only when its round is over (for writes: committed, fsynced and invalidated). A round is therefore one
 * linearization point inside every member's lifetime, members ordered by arrival.
 *
 * Why one member cannot fail the others: `run` answers each item on its own (a failed condition, a counter that
 * would overflow: per-item results). If a whole round of reads throws, each read runs again alone, so only the
 * one that cannot be done fails. A round of writes that throws is not retried: the error may come after the
 * commit (recording the pool, clearing the outbox), and running a committed `incr` again would count it twice;
 * its members fail as they would have alone against the same broken database.
 */

export interface RoundLimits {
  /** Items in one round at most: bounds one transaction, one memcached round and the memory they hold. */
  maxItems: number;
  /**
   * How long an item may queue behind a running round before a round of its own starts beside it: a slow round
   * (a large value, a memcached timeout) does not hold everyone else back for its whole length.
   */
  maxWaitMs: number;
  /**
   * Rounds running at once at most (the one in progress plus those started for items that waited too long). A
   * round that has released its slot (see `run`) no longer counts.
   */
  maxConcurrent: number;
  /** Whether a round that throws runs each member again alone (only for idempotent items: reads). */
  retryAlone: boolean;
}

interface Pending<I, O> {
  item: I;
  resolve: (answer: O) => void;
  reject: (error: unknown) => void;
}

export class Rounds<I, O> {
  private queue: Pending<I, O>[] = [];
  private running = 0;
  private scheduled = false;
  private waitTimer: NodeJS.Timeout | null = null;
  /** Rounds run and items answered (for tests and `stats`: how much coalescing happened). */
  readonly counts = { rounds: 0, items: 0, retriedAlone: 0 };

  constructor(
    /**
     * Runs one round: resolves to one answer per item, in order. It may call `release` before it is over, once
     * the part that must not overlap the next round is done (a write round, at its commit: the next transaction
     * may begin while this one's invalidations are delivered).
     */
    private readonly run: (items: I[], release: () => void) => Promise<O[]>,
    private readonly limits: RoundLimits,
  ) {}

  /** Queues `item` for the next round; resolves to its own answer once that round is over. */
  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running === 0) this.scheduleRound();
      else this.watchWait();
    });
  }

  /**
   * The first round starts on the next turn of the event loop, not at once: requests whose bytes arrived in
   * the same read of the sockets join it.
   */
  private scheduleRound(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.startRound();
    });
  }

  /** While a round runs, an item that waits longer than maxWaitMs gets a round of its own (within maxConcurrent). */
  private watchWait(): void {
    if (this.waitTimer || this.running >= this.limits.maxConcurrent) return;
    this.waitTimer = setTimeout(() => {
      this.waitTimer = null;
      if (this.queue.length > 0 && this.running < this.limits.maxConcurrent) this.startRound();
    }, this.limits.maxWaitMs);
    this.waitTimer.unref();
  }

  private startRound(): void {
    if (this.queue.length === 0) return;
    const members = this.queue.splice(0, this.limits.maxItems);
    this.running++;
    this.counts.rounds++;
    this.counts.items += members.length;
    if (this.queue.length > 0) this.watchWait(); // more arrived than one round takes
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.running--;
      if (this.queue.length === 0) return;
      // The queue filled while this round ran: the next round starts now (they arrived before it began).
      if (this.running === 0) this.startRound();
      else this.watchWait();
    };
    void this.settle(members, release).finally(release);
  }

  private async settle(members: Pending<I, O>[], release: () => void): Promise<void> {
    try {
      const answers = await this.run(members.map((member) => member.item), release);
      members.forEach((member, i) => member.resolve(answers[i]!));
    } catch (error) {
      if (members.length === 1 || !this.limits.retryAlone) return members.forEach((member) => member.reject(error));
      // Who caused it is unknown: each runs again alone, so only the item that cannot be done fails.
      this.counts.retriedAlone += members.length;
      await Promise.all(members.map((member) => this.settle([member], () => undefined)));
    }
  }
}
