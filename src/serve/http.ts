/**
 * Small HTTP helpers shared by the handlers: the error type that carries a status, JSON responses, the
 * error → status mapping (the HTTP side of errors.ts), and a request body reader with a hard size limit.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { ConflictError, HistoryGoneError, messageOf, NotFoundError, StorageError, UsageError } from '../errors.js';

/** An answer other than 2xx that a handler decided on; `code` is the machine-readable `error` field. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: OutgoingHttpHeaders = {},
  ) {
    super(message);
  }
}

/** The client went away mid-request: nothing to answer. */
export class ClientGoneError extends Error {}

export const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/**
 * Status, `error` name and message for any failure, the names matching the CLI's JSON errors where they
 * overlap (`not_found`, `usage`, `storage`).
 */
export function describeError(error: unknown): { status: number; body: Record<string, unknown>; headers: OutgoingHttpHeaders } {
  const message = messageOf(error);
  if (error instanceof HttpError) return { status: error.status, body: { ok: false, error: error.code, message }, headers: error.headers };
  if (error instanceof ConflictError) {
    // 412 with the key's current ETag (none when it is absent), so a client can read again and retry.
    const headers: OutgoingHttpHeaders = error.revision > 0 ? { etag: etagOf(error.revision) } : {};
    return { status: 412, body: { ok: false, error: 'conflict', key: error.key, revision: error.revision, message }, headers };
  }
  if (error instanceof HistoryGoneError) {
    // 410 Gone: a watch from a revision whose changes are no longer kept (`tbase watch` exits 4); `oldest` is
    // the first revision it could start from.
    return { status: 410, body: { ok: false, error: 'history_gone', revision: error.revision, oldest: error.oldest, message }, headers: {} };
  }
  if (error instanceof NotFoundError) return { status: 404, body: { ok: false, error: 'not_found', key: error.key, message }, headers: {} };
  if (error instanceof UsageError) return { status: 400, body: { ok: false, error: 'usage', message }, headers: {} };
  if (error instanceof StorageError) return { status: 500, body: { ok: false, error: 'storage', message }, headers: {} };
  return { status: 500, body: { ok: false, error: 'internal', message: 'internal error' }, headers: {} };
}

export function tooLarge(maxBytes: number): HttpError {
  // The rest of the body is not read: close the connection rather than drain up to 64 MiB we will not use.
  return new HttpError(413, 'too_large', `value is larger than ${maxBytes} bytes (64 MiB)`, { connection: 'close' });
}

/**
 * The whole request body, refusing more than `maxBytes`: a declared Content-Length over the limit is refused
 * before a byte is read (and before `100 Continue` is sent), a chunked body as soon as it passes the limit.
 * Must be called before the handler awaits anything, so no event is missed.
 */
export function readBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= maxBytes) return void chunks.push(chunk);
      req.pause();
      chunks.length = 0;
      settle(tooLarge(maxBytes));
    };
    const onEnd = () => settle(null);
    const onGone = () => settle(new ClientGoneError('client closed the request'));
    req.on('data', onData).on('end', onEnd).on('error', onGone).on('close', onGone);
  });
}

/** Writes with back-pressure; resolves false when the client has gone and writing should stop. */
export function write(res: ServerResponse, chunk: string | Buffer): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve(!res.destroyed);
    };
    res.on('drain', done).on('close', done);
  });
}

/** A key's revision as an HTTP entity tag: `"12"`. */
export function etagOf(revision: number): string {
  return `"${revision}"`;
}
