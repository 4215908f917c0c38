/**
 * `tbase serve` flags → typed options. Kept apart from the server so the commander tree can parse them without
 * loading anything of the HTTP side (cli.ts imports the server only when `serve` was asked for).
 */
import { UsageError } from '../errors.js';

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8000;
/** The environment variable holding the bearer token; required when bound to anything but loopback. */
export const TOKEN_ENV = 'TBASE_SERVE_TOKEN';

export interface ServeOptions {
  host: string;
  /** 0 asks the system for a free port (the address actually bound is printed on stderr). */
  port: number;
}

export function parseServeOptions(opts: { host?: unknown; port?: unknown }): ServeOptions {
  const host = opts.host === undefined ? DEFAULT_HOST : String(opts.host).trim();
  if (host === '') throw new UsageError('--host is empty');
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port: parsePort(opts.port) };
}

function parsePort(raw: unknown): number {
  if (raw === undefined) return DEFAULT_PORT;
  const text = String(raw);
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port > 65535) {
    throw new UsageError(`bad --port ${JSON.stringify(text)}: use a whole number from 0 to 65535`);
  }
  return port;
}
