/**
 * `GET /watch?prefix=P` / `GET /watch?key=K`: the change feed (watch/feed.ts) as Server-Sent Events, the HTTP side
 * of `tbase watch`. Each change is one event: `event: put|delete|expire`, `data:` the object of
 * `tbase watch --json` (render.ts changeFields), `id:` where it stands in the history. With `&keys-only` the `put`
 * events leave out `value` and `encoding` (the monitoring page lists keys and shows a value only when clicked:
 * values of every change would otherwise reach every open page, up to 64 MiB each).
 *
 * Event ids are resume points, so a reconnecting EventSource (which sends the last id it saw as `Last-Event-ID`)
 * loses and repeats nothing:
 *   - `R` — the first (usually the only) change of revision R that this watch selects: the revision itself;
 *   - `R.2`, `R.3`, … — the further changes of a revision that holds several selected keys (a prefix delete, an
 *     import), in key order. A client cut off inside such a revision resumes inside it, after the last key it got.
 *     (Sending every key of R as `R` would force a choice on reconnection between losing the rest of R and
 *     repeating what was already sent; knowing which event is a revision's last would need a look ahead that
 *     holds the last event back until the next change.)
 *   - `F.0` — sent once when the stream opens, with no event (a block of `retry:` and `id:` only, which sets the
 *     browser's last id without dispatching anything): "nothing of revision F yet" (a resumed stream sends the
 *     point it resumes from). A client cut off before its first event resumes at F instead of at "now" (a gap) or
 *     at its `from-revision` (repeats).
 * `Last-Event-ID: R.n` (`R` = `R.1`) resumes with the (n+1)-th selected change of R; it is taken over
 * `?from-revision=N` (which an EventSource keeps in its URL). The positions count the changes of the keys the
 * request selects: a Last-Event-ID is meant for the URL whose stream gave it.
 *
 * Before the stream starts, failures are the API's JSON errors: 400 `usage` (bad parameters, or a Last-Event-ID
 * past the database's revision: an id from another database), 401/403 (auth.ts, the same token rules as every API
 * route; note a browser's EventSource cannot send a bearer token), 410 `history_gone` with `revision` and `oldest`
 * (the start is older than the kept history: exit 4 of `tbase watch`), 503 `too_many_watchers` or `shutting_down`
 * with Retry-After (EventSource does not retry a non-200). Once the stream is open, a failure cuts it (app.ts); a
 * reconnecting client then gets the proper status. A server shutdown ends every stream (after the rest of the
 * revision in progress) and the browser reconnects after `retry`.
 *
 * Limits (environment, read when `serve` starts): at most TBASE_SERVE_MAX_WATCHERS streams (256); a `: ping`
 * comment every TBASE_SERVE_HEARTBEAT_MS (15000) on a quiet stream, so proxies keep it open and a dead peer is
 * noticed; a client that lets more than TBASE_SERVE_WATCH_BUFFER_BYTES (1 MiB) pile up unread pauses its feed (no
 * more reads from SQLite for it), and if it then takes nothing for TBASE_SERVE_WATCH_STALL_MS (10000) it is dropped:
 * the connection is cut and its feed stops, so a client that stopped reading never grows the server's memory. A
 * client that disconnects stops its feed at once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseKey, parseRevision } from '../commands/args.js';
import { HistoryGoneError, UsageError } from '../errors.js';
import { changeFields } from '../render.js';
import type { CacheAsideStore } from '../store/cache-aside.js';
import type { KeySelector } from '../store/changes.js';
import { changeFeed } from '../watch/feed.js';
import { flag } from './handlers.js';
import { HttpError } from './http.js';
import type { Handler } from './router.js';

export interface WatchLimits {
  maxWatchers: number;
  heartbeatMs: number;
  /** Bytes written to a client but not yet taken by its socket, past which its feed pauses. */
  maxBufferedBytes: number;
  /** How long a paused client may take nothing before it is dropped. */
  stallMs: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = { maxWatchers: 256, heartbeatMs: 15_000, maxBufferedBytes: 1 << 20, stallMs: 10_000 };

const LIMIT_ENV: Record<keyof WatchLimits, string> = {
  maxWatchers: 'TBASE_SERVE_MAX_WATCHERS',
  heartbeatMs: 'TBASE_SERVE_HEARTBEAT_MS',
  maxBufferedBytes: 'TBASE_SERVE_WATCH_BUFFER_BYTES',
  stallMs: 'TBASE_SERVE_WATCH_STALL_MS',
};

/** How long a browser waits before reconnecting a stream that ended or broke (the SSE `retry:` field). */
const RETRY_MS = 1000;

export const EVENT_STREAM_TYPE = 'text/event-stream; charset=utf-8';

export function watchLimitsFrom(env: Record<string, string | undefined>): WatchLimits {
  const limits = { ...DEFAULT_WATCH_LIMITS };
  for (const name of Object.keys(LIMIT_ENV) as (keyof WatchLimits)[]) {
    const raw = env[LIMIT_ENV[name]];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${LIMIT_ENV[name]} must be a positive whole number`);
    limits[name] = n;
  }
  return limits;
}

export interface WatchDeps {
  store: CacheAsideStore;
  now: () => number;
  limits?: WatchLimits;
  /** A client was dropped for not reading (an operator notice; the client itself sees its connection cut). */
  onDropped?: (req: IncomingMessage, bufferedBytes: number) => void;
}

export interface WatchStreams {
  handler: Handler;
  /** Streams open now. */
  readonly open: number;
  /** Ends every open stream and refuses new ones (server shutdown: a stream would otherwise hold it up). */
  closeAll(): void;
}

/** Where a stream starts: a revision, and how many of its selected changes the client already has. */
interface Start {
  revision: number;
  skip: number;
  /** Given as Last-Event-ID (an id this server sent), not as from-revision (which may name a future revision). */
  fromEventId?: boolean;
}

export function createWatchStreams({ store, now, limits = DEFAULT_WATCH_LIMITS, onDropped }: WatchDeps): WatchStreams {
  const streams = new Set<AbortController>();
  let closed = false;

  const handler: Handler = async ({ req, res, query }) => {
    const selector = selectorOf(query);
    const asked = startOf(query, req.headers['last-event-id']);
    const keysOnly = flag(query, 'keys-only');
    if (req.method === 'HEAD') return void res.writeHead(200, streamHeaders()).end();
    if (closed) throw shuttingDown();
    if (streams.size >= limits.maxWatchers) {
      throw new HttpError(503, 'too_many_watchers', `the server already holds ${limits.maxWatchers} watch streams; try again later`, { 'retry-after': '5' });
    }
    // The slot is taken before anything is awaited, so concurrent requests cannot both take the last one.
    const controller = new AbortController();
    streams.add(controller);
    let gone = false; // the client left (a shutdown aborts too, but the client is still there)
    const stop = () => {
      gone = true;
      controller.abort();
    };
    res.on('close', stop);
    let heartbeat: NodeJS.Timeout | undefined;
    try {
      // One read, before the status line: whether the start is still in the history (410 if not), and where "now" is.
      const { revision: current, compacted } = await store.store.changesAfter({ revision: 0, key: '' }, selector, 0);
      const start = asked ?? { revision: current + 1, skip: 0 };
      if (start.revision <= compacted) throw new HistoryGoneError(start.revision, compacted + 1);
      if (asked?.fromEventId && (start.revision > current + 1 || (start.revision === current + 1 && start.skip > 0))) {
        // Revisions never go backwards: an id this database never gave comes from another one (a replaced file).
        throw new UsageError(`Last-Event-ID ${start.revision} is past this database's revision ${current}: it comes from another database`);
      }
      if (gone) return;
      if (closed) throw shuttingDown();

      res.writeHead(200, streamHeaders());
      res.write(`retry: ${RETRY_MS}\nid: ${eventId(start.revision, start.skip)}\n\n`);
      heartbeat = setInterval(() => {
        // Only on a quiet stream: bytes still waiting mean the connection is not idle (or the client is stalled).
        if (!res.destroyed && res.writableLength === 0) res.write(': ping\n\n');
      }, limits.heartbeatMs);

      const feed = changeFeed(store.store, store.store.notifier, { selector, fromRevision: start.revision, signal: controller.signal, now });
      let revision = 0;
      let nth = 0;
      // After a shutdown's abort the feed still gives the rest of the revision it is in (watch/feed.ts), so a client
      // resuming by hand at its last revision + 1, as `tbase watch --from-revision` is resumed, misses nothing.
      for await (const change of feed) {
        if (gone) break;
        nth = change.revision === revision ? nth + 1 : 1;
        revision = change.revision;
        if (revision === start.revision && nth <= start.skip) continue;
        const data = keysOnly ? withoutValue(changeFields(change, now())) : changeFields(change, now());
        res.write(`id: ${eventId(revision, nth)}\nevent: ${change.type}\ndata: ${JSON.stringify(data)}\n\n`);
        if (res.writableLength <= limits.maxBufferedBytes) continue;
        const outcome = await drained(res, limits.stallMs, controller.signal);
        if (outcome === 'drained') continue;
        if (outcome === 'stalled') {
          onDropped?.(req, res.writableLength);
          res.destroy(); // end() would queue behind what the client never read, holding the memory
        }
        break;
      }
      if (!res.destroyed) res.end();
    } finally {
      clearInterval(heartbeat);
      res.off('close', stop);
      streams.delete(controller);
    }
  };

  return {
    handler,
    get open() {
      return streams.size;
    },
    closeAll() {
      closed = true;
      for (const controller of streams) controller.abort();
    },
  };
}

function shuttingDown(): HttpError {
  return new HttpError(503, 'shutting_down', 'the server is shutting down', { 'retry-after': '1' });
}

/** The resume point after the `nth` selected change of `revision` (module comment): `R.0`, `R`, `R.2`, … */
function eventId(revision: number, nth: number): string {
  return nth === 1 ? `${revision}` : `${revision}.${nth}`;
}

/** An event's data for `keys-only`: every field but the value (and its encoding), in the same order. */
function withoutValue(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([name]) => name !== 'value' && name !== 'encoding'));
}

function streamHeaders() {
  // x-accel-buffering: nginx would otherwise hold events back in its buffer.
  return { 'content-type': EVENT_STREAM_TYPE, 'cache-control': 'no-store', 'x-accel-buffering': 'no' };
}

/** `?key=K` or `?prefix=P` (`?prefix=` for every key), like `tbase watch <key>` / `--prefix P`. */
function selectorOf(query: URLSearchParams): KeySelector {
  const key = query.get('key');
  const prefix = query.get('prefix');
  if (key !== null && prefix !== null) throw new UsageError('give key or prefix, not both');
  if (prefix !== null) return { prefix };
  if (key === null) throw new UsageError('missing key or prefix: GET /watch?key=K or /watch?prefix=P (prefix= for every key)');
  return { key: parseKey(key, 'GET /watch?key=K') };
}

/** The start the client asked for: `Last-Event-ID` (resume after it) over `?from-revision=N`; undefined = from now. */
function startOf(query: URLSearchParams, lastEventId: string | string[] | undefined): Start | undefined {
  if (typeof lastEventId === 'string' && lastEventId.trim() !== '') {
    const match = /^(\d+)(?:\.(\d+))?$/.exec(lastEventId.trim());
    const revision = match ? Number(match[1]) : NaN;
    const skip = match?.[2] === undefined ? 1 : Number(match[2]);
    if (!match || !Number.isSafeInteger(revision) || revision < 1 || !Number.isSafeInteger(skip)) {
      throw new UsageError(`bad Last-Event-ID ${JSON.stringify(lastEventId)}: use an event id of this stream (R or R.n)`);
    }
    return { revision, skip, fromEventId: true };
  }
  const from = query.get('from-revision');
  if (from === null) return undefined;
  const revision = parseRevision(from, 'from-revision');
  if (revision === 0) throw new UsageError('revisions start at 1: use from-revision=1 for the whole kept history');
  return { revision, skip: 0 };
}

/**
 * Waits while a client has more than the limit unread: 'drained' once its socket took everything, 'stalled' if it
 * took nothing for `stallMs`, 'closed' if it went away or the stream was stopped.
 */
function drained(res: ServerResponse, stallMs: number, signal: AbortSignal): Promise<'drained' | 'stalled' | 'closed'> {
  return new Promise((resolve) => {
    let waiting = res.writableLength;
    const check = setInterval(() => {
      const now = res.writableLength;
      if (now === 0) finish('drained');
      else if (now >= waiting) finish('stalled');
      waiting = now;
    }, stallMs);
    const onDrain = () => finish('drained');
    const onClose = () => finish('closed');
    function finish(outcome: 'drained' | 'stalled' | 'closed') {
      clearInterval(check);
      res.off('drain', onDrain).off('close', onClose);
      signal.removeEventListener('abort', onClose);
      resolve(outcome);
    }
    res.on('drain', onDrain).on('close', onClose);
    signal.addEventListener('abort', onClose);
    if (res.destroyed || signal.aborted) finish('closed');
  });
}
