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

export interface AppDeps extends ApiDeps {
  auth: AuthPolicy;
  /** Unexpected failures (5xx) are reported here; the client only sees a short message. */
  onServerError: (error: unknown, req: IncomingMessage) => void;
}

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function createApp(deps: AppDeps): RequestListener {
  const api = createApi(deps);
  const routes: Route[] = [
    { path: '/', methods: { GET: page.html }, public: true },
    { path: '/app.js', methods: { GET: page.script }, public: true },
    { path: '/app.css', methods: { GET: page.css }, public: true },
    { path: '/health', methods: { GET: api.health } },
    { path: '/keys', methods: { GET: api.list } },
    { path: '/keys/', keyed: true, methods: { GET: api.get, PUT: api.put, DELETE: api.delete } },
  ];

  return async (req, res) => {
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
}
