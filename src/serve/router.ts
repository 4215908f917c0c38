/**
 * Request line → route. Paths are matched on the raw request target, not a normalised URL: a key may hold `/`,
 * `..` or `%2F`, and `/keys/a%2F..%2Fb` must reach the key `a/../b`, not some other path.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UsageError } from '../errors.js';
import { HttpError } from './http.js';

export interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  /** The method, with HEAD answered like GET (Node drops the body). */
  method: string;
  query: URLSearchParams;
  /** The decoded key of `/keys/{key}` routes (not yet validated: handlers run parseKey). */
  key: string;
}

export type Handler = (request: Request) => Promise<void>;

export interface Route {
  /** The exact path; with `keyed`, the prefix whose remainder is the URL-encoded key. */
  path: string;
  keyed?: boolean;
  methods: Partial<Record<'GET' | 'PUT' | 'DELETE', Handler>>;
  /** Served without a token: static assets of the page, which carry no data. */
  public?: boolean;
}

export interface Match {
  route: Route;
  handler: Handler;
  request: Request;
}

export function matchRoute(routes: Route[], req: IncomingMessage, res: ServerResponse): Match {
  const target = req.url ?? '/';
  const queryAt = target.indexOf('?');
  const path = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));
  for (const route of routes) {
    if (route.keyed ? !path.startsWith(route.path) : path !== route.path) continue;
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const handler = route.methods[method as keyof Route['methods']];
    if (!handler) {
      const allowed = Object.keys(route.methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
      throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed here; use ${allowed.join(', ')}`, {
        allow: allowed.join(', '),
      });
    }
    const key = route.keyed ? decodeKey(path.slice(route.path.length)) : '';
    return { route, handler, request: { req, res, method, query, key } };
  }
  throw new HttpError(404, 'no_route', `no such route: ${path.length > 200 ? `${path.slice(0, 200)}…` : path}`);
}

function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new UsageError('key is not valid URL-encoded UTF-8');
  }
}
