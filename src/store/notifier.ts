/**
 * Tells watchers that a SQLite database may have changed, without busy work: this process's own commits are reported
 * by the store (onCommit); other processes' commits are seen through an inotify watch on the WAL file (every
 * commit writes it), with `PRAGMA data_version` polled as a slow fallback (another file system, a missed event).
 * One notifier serves every watcher of a store (`tbase serve` holds many), and runs only while one listens.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { SqliteStore } from './sqlite.js';
import { ChangeListeners } from './listeners.js';

/** The fallback poll: how late a change can be seen when the WAL watch tells nothing. */
const POLL_MS = 250;
/**
 * Looks again after a WAL event: the event fires while the writer is still writing, before its commit is
 * visible, so the first look often sees nothing new (a lone write then waited for the 250 ms poll).
 */
const RECHECK_AFTER_MS = [3, 15, 60];

export class SqliteNotifier extends ChangeListeners {
  private version: number | null = null;
  private poller: NodeJS.Timeout | null = null;
  private walWatcher: FSWatcher | null = null;
  private checking = false;
  /** A look was asked for while one was running: look again when it ends. */
  private again = false;
  private readonly rechecks = new Set<NodeJS.Timeout>();

  constructor(private readonly store: SqliteStore) {
    super();
  }

  protected start(): void {
    this.store.onCommit = () => this.notify();
    void this.check();
    // Not unref'd: while anyone listens (a `watch`), the process must stay up even with nothing else to do.
    this.poller = setInterval(() => void this.check(), POLL_MS);
    try {
      this.walWatcher = watch(`${this.store.path}-wal`, { persistent: false }, () => this.onWalEvent());
      this.walWatcher.on('error', () => undefined);
    } catch {
      // No WAL file to watch (yet): the poll still sees every change.
    }
  }

  private onWalEvent(): void {
    void this.check();
    for (const delay of RECHECK_AFTER_MS) {
      const timer = setTimeout(() => {
        this.rechecks.delete(timer);
        void this.check();
      }, delay);
      timer.unref();
      this.rechecks.add(timer);
    }
  }

  protected stop(): void {
    this.store.onCommit = undefined;
    for (const timer of this.rechecks) clearTimeout(timer);
    this.rechecks.clear();
    if (this.poller) clearInterval(this.poller);
    this.walWatcher?.close();
    this.poller = null;
    this.walWatcher = null;
    this.version = null;
  }

  /** Asks SQLite whether another connection committed since the last look. */
  private async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      const version = await this.store.dataVersion();
      const changed = this.version !== null && version !== this.version;
      this.version = version;
      if (changed) this.notify();
    } catch {
      // A read that failed now will be tried at the next poll; the watcher's own read reports real errors.
    } finally {
      this.checking = false;
      if (this.again) {
        this.again = false;
        void this.check();
      }
    }
  }
}
