/**
 * The part both stores' notifiers share (notifier.ts for SQLite, postgres-notifier.ts): the set of listeners told
 * "the database may have changed", with the watching itself started when the first subscribes and stopped when the
 * last leaves, so a process that watches nothing pays nothing.
 */
import type { ChangeSource } from './store.js';

export abstract class ChangeListeners implements ChangeSource {
  private readonly listeners = new Set<() => void>();

  /** `listener` runs after any change may have been committed; the result unsubscribes. */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  protected get listening(): boolean {
    return this.listeners.size > 0;
  }

  protected notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  protected abstract start(): void;
  protected abstract stop(): void;
}
