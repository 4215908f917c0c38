/**
 * Tells watchers that the database may have changed, without busy work: this process's own commits are reported
 * by the store (onCommit); other processes' commits are seen through an inotify watch on the WAL file (every
 * commit writes it), with `PRAGMA data_version` polled as a slow fallback (another file system, a missed event).
 * One notifier serves every watcher of a store (`tbase serve` holds many), and runs only while one listens.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { SqliteStore } from './sqlite.js';

/** The fallback poll: how late a change can be seen when the WAL watch tells nothing. */
const POLL_MS = 250;

export class ChangeNotifier {
  private readonly listeners = new Set<() => void>();
  private version: number | null = null;
  private poller: NodeJS.Timeout | null = null;
  private walWatcher: FSWatcher | null = null;
  private checking = false;

  constructor(private readonly store: SqliteStore) {}

  /** `listener` runs after any change may have been committed; the result unsubscribes. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  private start(): void {
    this.store.onCommit = () => this.notify();
    void this.check();
    this.poller = setInterval(() => void this.check(), POLL_MS);
    this.poller.unref();
    try {
      this.walWatcher = watch(`${this.store.path}-wal`, { persistent: false }, () => void this.check());
      this.walWatcher.on('error', () => undefined);
    } catch {
      // No WAL file to watch (yet): the poll still sees every change.
    }
  }

  private stop(): void {
    this.store.onCommit = undefined;
    if (this.poller) clearInterval(this.poller);
    this.walWatcher?.close();
    this.poller = null;
    this.walWatcher = null;
    this.version = null;
  }

  /** Asks SQLite whether another connection committed since the last look. */
  private async check(): Promise<void> {
    if (this.checking) return;
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
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
