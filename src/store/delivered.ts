/**
 * Outbox rows memcached has acknowledged, deleted lazily. Deleting them is a transaction of its own (two trips to
 * SQLite and a commit); the next write transaction can do it for nothing, with its BEGIN. So acknowledged ids wait
 * here a few milliseconds: a busy process folds them into its next write, an idle one deletes them when the delay
 * is over, and a read of the outbox in this process (or closing it) deletes them first.
 *
 * Why waiting is safe: a row that is still there only makes a reader (of any process) send its tombstone again
 * (cache-aside.ts) — one more tombstone, never a stale copy. For the same reason a failed delete is dropped: the
 * rows stay in the outbox and the next reader replays and clears them.
 */

/** How long acknowledged ids wait for a write transaction to take them. */
const DELAY_MS = 10;
/** More than this many waiting are deleted at once (one statement's worth of numbers). */
const MAX_WAITING = 10_000;

export class DeliveredInvalidations {
  private ids: number[] = [];
  private timer: NodeJS.Timeout | null = null;

  /** `remove` deletes the rows with these ids (its own transaction); its failures are ignored (module comment). */
  constructor(private readonly remove: (ids: number[]) => Promise<void>) {}

  add(ids: number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.ids.push(id);
    if (this.ids.length > MAX_WAITING) return void this.flush();
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), DELAY_MS);
      this.timer.unref(); // closing the store flushes; the timer must not keep a finished process alive
    }
  }

  /** Every id waiting, for a write transaction to delete with its BEGIN. */
  take(): number[] {
    const ids = this.ids;
    this.ids = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return ids;
  }

  /** The ids a transaction took and rolled back: they wait again. */
  giveBack(ids: number[]): void {
    this.add(ids);
  }

  /** Deletes what waits now (before this process reads the outbox, and when the store closes). */
  async flush(): Promise<void> {
    const ids = this.take();
    if (ids.length > 0) await this.remove(ids).catch(() => undefined);
  }
}
