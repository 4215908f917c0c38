/**
 * `tbase serve`: the process around the app. Opens the store once (so a bad database fails at start, exit 3),
 * listens, and on SIGINT/SIGTERM shuts down gracefully: stop accepting, let in-flight requests finish (up to a
 * grace period), then close memjs and SQLite. A second signal cuts the remaining connections at once.
 *
 * One CacheAsideStore serves every request: it is the same policy object the CLI uses, its SQLite connection
 * queues statements (a transaction owns it from BEGIN to COMMIT) and its cache calls are independent, so
 * concurrent requests keep every coherence rule with other processes as well as with each other.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config.js';
import { cacheNotice, Context } from '../context.js';
import { messageOf, UsageError, type CacheError } from '../errors.js';
import type { IO } from '../io.js';
import { createApp } from './app.js';
import { trackConnections, type Connections } from './connections.js';
import { resolveAuth } from './auth.js';
import type { ServeOptions } from './options.js';
import { watchLimitsFrom } from './watch-stream.js';
import { shownLocation } from '../store/location.js';

export interface ServeRuntime {
  /** How long in-flight requests may take to finish after a shutdown signal. */
  graceMs?: number;
  /** Resolves when the server should stop; by default the first SIGINT or SIGTERM. */
  stopSignal?: (onSecond: () => void) => Promise<string>;
}

const CACHE_NOTICE_INTERVAL_MS = 60_000;

export async function runServe(
  io: IO,
  config: Config,
  options: ServeOptions,
  env: Record<string, string | undefined>,
  runtime: ServeRuntime = {},
): Promise<number> {
  const auth = resolveAuth(options.host, env);
  const watchLimits = watchLimitsFrom(env);
  let lastCacheNotice = -Infinity;
  const ctx = new Context(io, config, {
    // A server lives long: repeat the notice while the cache stays down, but at most once a minute.
    onCacheFault: (error: CacheError) => {
      if (Date.now() - lastCacheNotice < CACHE_NOTICE_INTERVAL_MS) return;
      lastCacheNotice = Date.now();
      io.err(cacheNotice(io, config, error.message));
    },
  });
  try {
    const store = await ctx.store();
    const app = createApp({
      store,
      now: ctx.now,
      dbPath: shownLocation(config.db),
      auth,
      watchLimits,
      onNotice: (message) => io.err(`${io.errColour.yellow('tbase: notice:')} ${message}`),
      onServerError: (error, req) => io.err(`${io.errColour.red('tbase: error:')} ${req.method} ${req.url}: ${messageOf(error)}`),
    });
    const onRequest = (req: IncomingMessage, res: ServerResponse) => {
      connections.track(req, res);
      void app.handle(req, res);
    };
    const server = createServer({ keepAliveTimeout: 5000 }, onRequest);
    const connections = trackConnections(server);
    server.on('checkContinue', onRequest); // answer `Expect: 100-continue` ourselves: a too-large PUT gets 413 first
    // CONNECT (a proxy's tunnel) is not for this server: answered 405 like any other method it does not take,
    // where Node alone would drop the connection without a word.
    server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      const body = `${JSON.stringify({ ok: false, error: 'method_not_allowed', message: 'CONNECT is not allowed here' })}\n`;
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nallow: GET, HEAD, PUT, DELETE\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
    const address = await listen(server, options);
    server.on('error', (error) => io.err(`${io.errColour.red('tbase: error:')} ${messageOf(error)}`)); // e.g. EMFILE
    io.err(
      `tbase: serving http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/ ` +
        `(database ${shownLocation(config.db)}, cache ${store.cacheEnabled ? config.servers.join(',') : 'off'}` +
        `${auth.tokenDigest ? ', bearer token required' : ''}); Ctrl-C stops`,
    );

    const graceMs = runtime.graceMs ?? 10_000;
    const signal = await (runtime.stopSignal ?? waitForSignal)(() => {
      io.err('tbase: second signal: closing open connections now');
      server.closeAllConnections();
    });
    io.err(`tbase: ${signal}: finishing in-flight requests (up to ${graceMs / 1000} s), then closing the store`);
    app.closeStreams(); // watch streams never finish by themselves: end them (an EventSource reconnects later)
    await shutDown(server, connections, graceMs);
    await ctx.close();
    io.err('tbase: stopped');
    return 0;
  } finally {
    await ctx.close();
  }
}

function listen(server: Server, { host, port }: ServeOptions): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EACCES' ? 'permission denied' : error.message;
      reject(new UsageError(`cannot listen on ${host}:${port}: ${why}`));
    });
    server.listen({ host, port }, () => resolve(server.address() as AddressInfo));
  });
}

/** Stop accepting, close idle connections, and wait for the rest to finish; cut them after `graceMs`. */
function shutDown(server: Server, connections: Connections, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    connections.closeIdle();
  });
}

function waitForSignal(onSecond: () => void): Promise<string> {
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals) => {
      process.off('SIGINT', first).off('SIGTERM', first);
      process.once('SIGINT', onSecond).once('SIGTERM', onSecond);
      resolve(signal);
    };
    process.on('SIGINT', first).on('SIGTERM', first);
  });
}
