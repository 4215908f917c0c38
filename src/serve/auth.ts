/**
 * Who may talk to the server. Bound to loopback, anyone on this machine may (like a local redis); bound to
 * anything else, every API request must carry `Authorization: Bearer <token>` with the token from the
 * environment, and the server refuses to start without one. A token set while on loopback is required too.
 * Without a token, requests must name a loopback host: a web page cannot then reach the API by pointing its
 * own domain at 127.0.0.1 (DNS rebinding).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { HttpError } from './http.js';
import { TOKEN_ENV } from './options.js';

export const MIN_TOKEN_LENGTH = 16;

export interface AuthPolicy {
  /** SHA-256 of the token, or null when none is required (loopback without a token). */
  tokenDigest: Buffer | null;
}

export function resolveAuth(host: string, env: Record<string, string | undefined>): AuthPolicy {
  const token = env[TOKEN_ENV];
  if (token === undefined || token === '') {
    if (!isLoopbackHost(host)) {
      throw new UsageError(
        `refusing to listen on ${host} without a token: set ${TOKEN_ENV} (at least ${MIN_TOKEN_LENGTH} characters, ` +
          'e.g. `openssl rand -hex 32`), or bind to 127.0.0.1',
      );
    }
    return { tokenDigest: null };
  }
  if (token.length < MIN_TOKEN_LENGTH) throw new UsageError(`${TOKEN_ENV} is too short: use at least ${MIN_TOKEN_LENGTH} characters`);
  return { tokenDigest: digest(token) };
}

/** Throws 401 (no or wrong token) or 403 (non-loopback Host header while no token is in use). */
export function authorize(req: IncomingMessage, policy: AuthPolicy): void {
  if (policy.tokenDigest === null) {
    const host = hostName(req.headers.host ?? '');
    if (!isLoopbackHost(host)) throw new HttpError(403, 'forbidden', `host ${JSON.stringify(host)} is not a loopback name`);
    return;
  }
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  // Compare digests: equal lengths for timingSafeEqual, and no early exit that leaks the token's length.
  if (!match || !timingSafeEqual(digest(match[1]!), policy.tokenDigest)) {
    throw new HttpError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer …)', {
      'www-authenticate': 'Bearer realm="tbase"',
    });
  }
}

export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^::ffff:127\./.test(name) || /^(0:){7}0*1$/.test(name);
  return false;
}

/** The host part of a Host header (`[::1]:8000` → `::1`, `localhost:8000` → `localhost`). */
function hostName(header: string): string {
  const bracketed = /^\[([^\]]*)\]/.exec(header);
  if (bracketed) return bracketed[1]!;
  return header.replace(/:\d*$/, '');
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
