/**
 * The JSON API. Every read and write goes through the one shared CacheAsideStore, so the HTTP side keeps every
 * coherence rule of the CLI (the store serialises SQLite access on its connection; the policy is safe to share
 * between concurrent requests). JSON bodies are the CLI's `--json` objects, built by the same render helpers.
 */
import type { IncomingMessage } from 'node:http';
import { MAX_VALUE_BYTES, parseDuration, parseKey, parseRevision } from '../commands/args.js';
import { answerOf } from '../commands/write-result.js';
import { NotFoundError, UsageError } from '../errors.js';
import { entryFields, revisionFields, ttlSeconds } from '../render.js';
import type { CacheAsideStore, Lookup } from '../store/cache-aside.js';
import type { Condition, Entry, Write, WriteResult } from '../store/writes.js';
import { versions, type Versions } from '../versions.js';
import { etagOf, JSON_TYPE, readBody, sendJson, write } from './http.js';
import type { Handler } from './router.js';
import { Rounds, type RoundLimits } from './rounds.js';

/**
 * Round sizes (rounds.ts): a read round is one pipelined memcached round and one bulk SQLite read, a write round
 * one transaction. A read waits behind a running round for 2 ms at most before a second round starts beside it.
 * Write rounds take turns: their transactions would queue on the one connection anyway, so a second round beside
 * the first would only halve both. A write round gives the next its turn at its commit, so one round's
 * invalidations go out while the next commits.
 */
const READ_ROUNDS: RoundLimits = { maxItems: 256, maxWaitMs: 2, maxConcurrent: 4, retryAlone: true };
const WRITE_ROUNDS: RoundLimits = { maxItems: 128, maxWaitMs: 2, maxConcurrent: 1, retryAlone: false };

export interface ApiDeps {
  store: CacheAsideStore;
  now: () => number;
  dbPath: string;
  maxBodyBytes?: number;
  /** Override the round limits (tests force rounds of one, or long waits, to tell coalescing apart). */
  rounds?: { reads?: Partial<RoundLimits>; writes?: Partial<RoundLimits> };
}

export interface Api {
  health: Handler;
  list: Handler;
  get: Handler;
  put: Handler;
  delete: Handler;
}

export function createApi({ store, now, dbPath, maxBodyBytes = MAX_VALUE_BYTES, rounds = {} }: ApiDeps): Api {
  // Concurrent GETs share read rounds, concurrent PUTs and DELETEs share one transaction (rounds.ts).
  const reads = new Rounds<string, Lookup>((keys) => store.getMany(keys), { ...READ_ROUNDS, ...rounds.reads });
  const writes = new Rounds<Write, WriteResult>((batch, release) => store.write(batch, { onCommitted: release }), { ...WRITE_ROUNDS, ...rounds.writes });
  let built: Promise<Versions> | undefined; // read once: /health is polled
  return {
    /**
     * Up as long as SQLite answers; `status` says `degraded` while memcached is down (reads fall back).
     * `rounds` shows how much coalescing happened: requests answered and the rounds they took.
     */
    async health({ res }) {
      const [stats, runtime] = await Promise.all([store.stats(), (built ??= versions())]);
      const status = stats.cache === 'down' || stats.cache === 'unknown' ? 'degraded' : 'ok';
      const roundCounts = { reads: { ...reads.counts }, writes: { ...writes.counts } };
      sendJson(res, 200, { ok: true, status, database: dbPath, ...stats, versions: runtime, rounds: roundCounts });
    },

    /** `{"ok":true,"command":"list","entries":[…]}` written entry by entry: one page in memory at a time. */
    async list({ req, res, query }) {
      const prefix = query.get('prefix') ?? '';
      const limit = parseLimit(query.get('limit'));
      const keysOnly = flag(query, 'keys-only');
      const entries = store.list(prefix, limit, { keysOnly })[Symbol.asyncIterator]();
      // The first page is read before the status line, so a storage error can still be a proper 500.
      let next = await entries.next();
      res.writeHead(200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
      if (req.method === 'HEAD') {
        await entries.return?.(undefined);
        return void res.end();
      }
      const item = (entry: Entry) => JSON.stringify(keysOnly ? entry.key : entryFields(entry, now()));
      let open = await write(res, JSON.stringify({ ok: true, command: 'list', entries: [] }).slice(0, -2));
      let first = true;
      try {
        while (open && !next.done) {
          open = await write(res, first ? item(next.value) : `,${item(next.value)}`);
          first = false;
          if (open) next = await entries.next();
        }
      } finally {
        await entries.return?.(undefined); // the client left: stop paging through SQLite
      }
      if (open) res.end(']}\n');
    },

    /**
     * Raw bytes (`application/octet-stream`) or, with `?format=json`, the object of `tbase get KEY --json`. The
     * ETag is the key's revision; `If-None-Match` with it answers 304.
     */
    async get({ req, res, query, key: rawKey }) {
      const key = parseKey(rawKey, 'GET /keys/{key}');
      const format = query.get('format') ?? 'raw';
      if (format !== 'raw' && format !== 'json') throw new UsageError(`bad format ${JSON.stringify(format)}: use raw or json`);
      const { entry, source } = await reads.submit(key);
      if (!entry) throw new NotFoundError(key);
      const etag = etagOf(entry.revision);
      if (matchesAny(req.headers['if-none-match'], etag)) return void res.writeHead(304, { etag, 'cache-control': 'no-store' }).end();
      if (format === 'json') return sendJson(res, 200, { ok: true, command: 'get', ...entryFields(entry, now()), source }, { etag });
      const ttl = ttlSeconds(entry.expiresAt, now());
      res.writeHead(200, {
        etag,
        'content-type': 'application/octet-stream',
        'content-length': entry.value.length,
        'cache-control': 'no-store',
        'x-tbase-source': source,
        ...(ttl === null ? {} : { 'x-tbase-ttl': String(ttl) }),
      });
      res.end(entry.value);
    },

    /**
     * Body = the value, byte for byte. 201 (with the `tbase set --json` object) when new, 204 when replaced; both
     * with the new revision as ETag. `If-Match: "N"` / `If-Match: *` / `If-None-Match: *` make it conditional,
     * decided in the write transaction: 412 (with the current ETag) when not met.
     */
    async put({ req, res, query, key: rawKey }) {
      const key = parseKey(rawKey, 'PUT /keys/{key}');
      const ttlParam = query.get('ttl');
      const ttl = ttlParam === null ? null : parseDuration(ttlParam);
      const condition = conditionOf(req);
      const value = await readBody(req, res, maxBodyBytes);
      const expiresAt = ttl === null ? null : now() + ttl * 1000;
      const set: Write = { op: 'set', key, value, expiresAt, condition };
      const result = await writes.submit(set);
      const answer = answerOf(set, result);
      if (answer.kind !== 'stored') throw new Error('a set answered as something else');
      const etag = etagOf(answer.revisions.revision);
      if (result.status === 'applied' && result.existed) return void res.writeHead(204, { etag }).end();
      sendJson(res, 201, { ok: true, command: 'set', key, ttl, ...revisionFields(answer.revisions) }, { location: `/keys/${encodeURIComponent(key)}`, etag });
    },

    /** 204, with the delete's revision in `X-Tbase-Revision`; `If-Match: "N"` makes it conditional (412). */
    async delete({ req, res, key: rawKey }) {
      const key = parseKey(rawKey, 'DELETE /keys/{key}');
      const condition = conditionOf(req);
      // The whole request first: one whose body breaks off (a bad chunk, a client gone) is answered 400 by Node,
      // and must not delete anything behind that answer. Any body is read and ignored.
      await readBody(req, res, maxBodyBytes);
      const del: Write = { op: 'delete', key, condition };
      const answer = answerOf(del, await writes.submit(del));
      if (answer.kind !== 'deleted') throw new Error('a delete answered as something else');
      res.writeHead(204, { 'x-tbase-revision': String(answer.revision) }).end();
    },
  };
}

function parseLimit(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`bad limit ${JSON.stringify(raw)}: use a positive whole number`);
  }
  return n;
}

/** `?keys-only`, `?keys-only=1` and `?keys-only=true` are on; absent, `0` and `false` are off. */
export function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  if (['', '1', 'true', 'yes', 'on'].includes(value.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(value.toLowerCase())) return false;
  throw new UsageError(`bad ${name} ${JSON.stringify(value)}: use true or false`);
}

/**
 * The write condition of `If-Match` / `If-None-Match` (RFC 9110): `If-None-Match: *` = the key must not exist,
 * `If-Match: *` = it must exist, `If-Match: "N"` = it must be at revision N. One entity tag at most: a key has one
 * revision, and a list would only hide a client's mistake.
 */
function conditionOf(req: IncomingMessage): Condition | undefined {
  const ifMatch = req.headers['if-match']?.trim();
  const ifNoneMatch = req.headers['if-none-match']?.trim();
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new UsageError('give If-Match or If-None-Match, not both');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch !== '*') throw new UsageError('on a write, If-None-Match takes only *');
    return { kind: 'absent' };
  }
  if (ifMatch === undefined) return undefined;
  if (ifMatch === '*') return { kind: 'present' };
  const tag = /^"(\d+)"$/.exec(ifMatch);
  if (!tag) throw new UsageError(`bad If-Match ${JSON.stringify(ifMatch)}: use "N" (a revision, from an ETag) or *`);
  return { kind: 'revision', revision: parseRevision(tag[1], 'If-Match') };
}

/** Whether an If-None-Match header (a list of tags, or *) names `etag`; weak tags compare by their value. */
function matchesAny(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}
