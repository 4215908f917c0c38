/**
 * The change feed behind `watch` and `GET /watch`: every change of the selected keys, from a revision on, each
 * exactly once and in revision order (within a revision, key order), from the change log (store/history.ts).
 * It reads a page, yields it, and when it has caught up waits for the notifier (or for the next expiry among its
 * keys, which it then carries out itself, so an expiring key shows as an event when it expires, not when some
 * later write happens to purge it). When `signal` aborts it ends — after the rest of the revision it is in, so a
 * watcher resumed at the last revision it printed + 1 misses nothing of a revision with many keys.
 */
import { HistoryGoneError, StoreUnavailableError } from '../errors.js';
import type { Change, KeySelector } from '../store/changes.js';
import type { ChangeSource, Store } from '../store/store.js';

export interface FeedOptions {
  selector: KeySelector;
  /** The first revision to stream (inclusive); undefined: changes committed from now on. */
  fromRevision?: number;
  signal: AbortSignal;
  now: () => number;
}

const PAGE = 500;
/** Waits between reads while the store cannot be reached: doubling from the first, capped at the last. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;
/** Sorts after every key (keys are at most 1024 bytes of UTF-8): "after (R, LAST_KEY)" = from revision R + 1. */
const LAST_KEY = '\u{10FFFF}'.repeat(300);

export async function* changeFeed(store: Store, notifier: ChangeSource, options: FeedOptions): AsyncGenerator<Change> {
  const { selector, signal } = options;
  let dirty = true;
  const unsubscribe = notifier.subscribe(() => {
    dirty = true;
    wake?.();
  });
  let wake: (() => void) | null = null;
  try {
    // A position is "after (revision, key)": (F, '') is just before revision F, since no key is empty.
    let position = { revision: options.fromRevision ?? (await store.revision()) + 1, key: '' };
    /** The revision of the last change yielded: after a stop, only the rest of it still goes out. */
    let current: number | undefined;
    while (!signal.aborted || current !== undefined) {
      dirty = false;
      const page = await readPage(store, position, selector, signal);
      if (!page) return;
      // The first revision still wanted, whole or in part; if its changes were dropped, some would be missed.
      const wanted = position.key === LAST_KEY ? position.revision + 1 : position.revision;
      if (wanted <= page.compacted) throw new HistoryGoneError(wanted, page.compacted + 1);
      for (const change of page.changes) {
        if (signal.aborted && change.revision !== current) return;
        yield change;
        current = change.revision;
        position = { revision: change.revision, key: change.key };
      }
      if (signal.aborted && page.changes.length < PAGE) return;
      if (page.changes.length === PAGE || dirty) continue;
      // Caught up to the revision of that read: everything up to it is committed and was read, so the feed moves
      // past it (and never falls out of retention while other keys change).
      if (position.revision <= page.revision) position = { revision: page.revision, key: LAST_KEY };
      await new Promise<void>((resolve) => {
        const done = () => {
          wake = null;
          clearTimeout(expiry);
          signal.removeEventListener('abort', done);
          resolve();
        };
        wake = done;
        signal.addEventListener('abort', done);
        let expiry: NodeJS.Timeout | undefined;
        void store.nextExpiry(selector, options.now()).then((at) => {
          if (at === null || wake !== done) return;
          expiry = setTimeout(() => void store.expireDue(options.now()).catch(() => undefined).then(done), Math.max(0, at - options.now()) + 5);
        }, done);
        if (dirty || signal.aborted) done();
      });
    }
  } finally {
    unsubscribe();
  }
}

/**
 * A page of the change log; while the store cannot be reached (PostgreSQL restarting), it waits and reads again
 * from the same position, so nothing is missed and nothing repeats. Undefined: stopped while waiting.
 */
async function readPage(store: Store, position: { revision: number; key: string }, selector: KeySelector, signal: AbortSignal) {
  for (let wait = RETRY_FIRST_MS; ; wait = Math.min(RETRY_MAX_MS, wait * 2)) {
    try {
      return await store.changesAfter(position, selector, PAGE);
    } catch (error) {
      if (!(error instanceof StoreUnavailableError)) throw error;
      if (signal.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        signal.addEventListener('abort', done);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    }
  }
}
