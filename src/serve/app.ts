/**
 * The request entry point: the route table, the token check, and the one place where an error becomes an HTTP
 * answer (the HTTP counterpart of cli.ts's error boundary). Knows nothing of sockets or signals (server.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorize, type AuthPolicy } from './auth.js';
import { createApi, type ApiDeps } from './handlers.js';
import { ClientGoneError, describeError, sendJson } from './http.js';
import { page } from './page.js';
import { matchRoute, type Route } from './router.js';
import { createWatchStreams, type WatchLimits } from './watch-stream.js';

export interface AppDeps extends ApiDeps {
  auth: AuthPolicy;
  /** Unexpected failures (5xx) are reported here; the client only sees a short message. */
  onServerError: (error: unknown, req: IncomingMessage) => void;
  watchLimits?: WatchLimits;
  /** Operator notices that are not errors (a watch client dropped for not reading). */
  onNotice?: (message: string) => void;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface App {
  handle: RequestListener;
  /** Ends the open `/watch` streams and refuses new ones: they never finish by themselves (shutdown). */
  closeStreams(): void;
}

export function createApp(deps: AppDeps): App {
  const api = createApi(deps);
  const watch = createWatchStreams({
    store: deps.store,
    now: deps.now,
    limits: deps.watchLimits,
    onDropped: (req, bufferedBytes) =>
      deps.onNotice?.(`dropped a watch client (${req.socket.remoteAddress ?? '?'} ${req.url}) that stopped reading with ${bufferedBytes} bytes unread`),
  });
  const routes: Route[] = [
    { path: '/', methods: { GET: page.html }, public: true },
    { path: '/app.js', methods: { GET: page.script }, public: true },
    { path: '/app.css', methods: { GET: page.css }, public: true },
    { path: '/health', methods: { GET: api.health } },
    { path: '/keys', methods: { GET: api.list } },
    { path: '/keys/', keyed: true, methods: { GET: api.get, PUT: api.put, DELETE: api.delete } },
    { path: '/watch', methods: { GET: watch.handler } },
  ];

  const handle: RequestListener = async (req, res) => {
    try {
      const { route, handler, request } = matchRoute(routes, req, res);
      if (!route.public) authorize(req, deps.auth);
      await handler(request);
    } catch (error) {
      if (error instanceof ClientGoneError) return void res.destroy();
      const { status, body, headers } = describeError(error);
      if (status >= 500) deps.onServerError(error, req);
      // Mid-stream (a listing whose later page failed) the status line is gone: cut the response short, so the
      // client sees an incomplete body rather than a truncated document that parses.
      if (res.headersSent) return void res.destroy();
      sendJson(res, status, body, headers);
    }
  };
  return { handle, closeStreams: () => watch.closeAll() };
}
