/**
 * Model-based test of the HTTP API (`tbase serve` of the built bin, `npm run build` first), every answer compared
 * with the reference model (helpers/model.ts through helpers/front-model.ts): status, ETag, X-Tbase-Revision,
 * X-Tbase-TTL, Location and body of
 *  - PUT /keys/K (?ttl, If-Match: "N" | *, If-None-Match: *), GET /keys/K (raw bytes or ?format=json, If-None-Match
 *    → 304), DELETE /keys/K (If-Match), GET /keys?prefix&limit&keys-only — values text or binary bytes, keys the odd
 *    pool of front-arbitraries.ts, URL-encoded (sometimes with `/` left as is, which the API keeps in the key);
 *  - concurrent requests: a few fired at once; their answers must be those of one order of them (linearizable:
 *    every order is tried on a fork of the model and the one that explains them all is kept);
 *  - another process writing (a one-shot `tbase set`/`delete`/`incr` on the same database): the server must see it
 *    on the next request;
 *  - memcached faults: the server runs against a memcached of this file's own, which a command flushes
 *    (flush_all) or freezes (SIGSTOP) for a few requests, then thaws (SIGCONT), sometimes waiting out the cache
 *    breaker (2 s) so the next requests meet memcached again with the copies it held: answers stay the model's.
 * The HTTP API has no prefix delete (docs/http-api.md): prefix deletes are covered by model-batch.test.ts.
 * One server per sequence on a fresh database (a revision count from 0); TTL expiry is skipped (TTLs of an hour
 * or more; the store-level model test covers expiry with a fake clock), TTL values are checked within bounds.
 */
import { FrontModel, expectMatch, linearize, type Condition, type Entry, type Window, type Write } from '../helpers/front-model.js';
import { keyArb, prefixArb, resolveRevision, revisionRefArb, stepArb, ttlArb, valueArb, type RevisionRef } from '../helpers/front-arbitraries.js';
import { flushAll } from '../helpers/history-clients.js';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from '../serve/server-process.js';

let memcached: MemcachedServer;
beforeAll(async () => {
  memcached = await startMemcached();
});
afterAll(async () => {
  memcached.process.kill('SIGCONT');
  await memcached.stop();
  removeTempDirs();
});

type Precondition = { header: 'if-match'; ref: RevisionRef | '*' } | { header: 'if-none-match' };

type RequestSpec =
  | { kind: 'put'; key: string; value: Buffer; ttl?: { text: string; seconds: number }; condition?: Precondition; rawSlash: boolean }
  | { kind: 'get'; key: string; format: 'raw' | 'json'; ifNoneMatch?: RevisionRef | '*'; rawSlash: boolean }
  | { kind: 'delete'; key: string; ifMatch?: RevisionRef | '*'; rawSlash: boolean }
  | { kind: 'list'; prefix?: string; limit?: number; keysOnly: boolean };

/** A request with its revisions resolved: what goes on the wire. */
interface Request {
  spec: RequestSpec;
  method: 'GET' | 'PUT' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

const bytesArb = fc.oneof({ weight: 3, arbitrary: valueArb.map((v) => Buffer.from(v)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)) });
const refOrAnyArb = fc.oneof({ weight: 4, arbitrary: revisionRefArb }, { weight: 1, arbitrary: fc.constant('*' as const) });

const requestArb: fc.Arbitrary<RequestSpec> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('put' as const),
      key: keyArb,
      value: bytesArb,
      ttl: fc.option(ttlArb, { nil: undefined }),
      condition: fc.option(fc.oneof(refOrAnyArb.map((ref): Precondition => ({ header: 'if-match', ref })), fc.constant<Precondition>({ header: 'if-none-match' })), { nil: undefined }),
      rawSlash: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('get' as const),
      key: keyArb,
      format: fc.constantFrom('raw' as const, 'json' as const),
      ifNoneMatch: fc.option(fc.constantFrom<RevisionRef | '*'>('current', 'older', '*'), { nil: undefined, freq: 4 }),
      rawSlash: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb, ifMatch: fc.option(refOrAnyArb, { nil: undefined }), rawSlash: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('list' as const), prefix: fc.option(prefixArb, { nil: undefined }), limit: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }), keysOnly: fc.boolean() }),
  },
);

function keyPath(key: string, rawSlash: boolean): string {
  const encoded = encodeURIComponent(key);
  return `/keys/${rawSlash ? encoded.replace(/%2F/g, '/') : encoded}`;
}

function tagOf(ref: RevisionRef | '*', model: FrontModel, key: string): string {
  return ref === '*' ? '*' : `"${resolveRevision(ref, model, key)}"`;
}

function resolveRequest(spec: RequestSpec, model: FrontModel): Request {
  switch (spec.kind) {
    case 'put': {
      const headers: Record<string, string> = {};
      const c = spec.condition;
      if (c?.header === 'if-none-match') headers['if-none-match'] = '*';
      if (c?.header === 'if-match') headers['if-match'] = tagOf(c.ref, model, spec.key);
      const path = keyPath(spec.key, spec.rawSlash) + (spec.ttl ? `?ttl=${spec.ttl.text}` : '');
      return { spec, method: 'PUT', path, headers, body: spec.value };
    }
    case 'get': {
      const headers: Record<string, string> = spec.ifNoneMatch === undefined ? {} : { 'if-none-match': tagOf(spec.ifNoneMatch, model, spec.key) };
      return { spec, method: 'GET', path: keyPath(spec.key, spec.rawSlash) + (spec.format === 'json' ? '?format=json' : ''), headers };
    }
    case 'delete':
      return { spec, method: 'DELETE', path: keyPath(spec.key, spec.rawSlash), headers: spec.ifMatch === undefined ? {} : { 'if-match': tagOf(spec.ifMatch, model, spec.key) } };
    case 'list': {
      const query = new URLSearchParams();
      if (spec.prefix !== undefined) query.set('prefix', spec.prefix);
      if (spec.limit !== undefined) query.set('limit', String(spec.limit));
      if (spec.keysOnly) query.set('keys-only', '1');
      return { spec, method: 'GET', path: `/keys?${query}`, headers: {} };
    }
  }
}

// ---- answers ------------------------------------------------------------------------------------------------------

/** What a test compares of an HTTP answer. */
interface Answer {
  status: number;
  etag: string | null;
  revisionHeader: number | null;
  ttlHeader: number | null;
  location: string | null;
  /** Parsed JSON for JSON answers; else the raw bytes as base64. */
  body: unknown;
}

async function send(url: string, request: Request): Promise<Answer> {
  const res = await fetch(url + request.path, { method: request.method, headers: request.headers, body: request.body ? new Uint8Array(request.body) : undefined });
  const bytes = Buffer.from(await res.arrayBuffer());
  const header = (name: string) => res.headers.get(name);
  const number = (name: string) => (header(name) === null ? null : Number(header(name)));
  const json = header('content-type')?.startsWith('application/json') === true;
  return {
    status: res.status,
    etag: header('etag'),
    revisionHeader: number('x-tbase-revision'),
    ttlHeader: number('x-tbase-ttl'),
    location: header('location'),
    body: json ? JSON.parse(bytes.toString('utf8')) : { raw: bytes.toString('base64') },
  };
}

function entryJson(model: FrontModel, entry: Entry, window: Window) {
  const { key, value, revision, createRevision, version } = entry;
  const text = Buffer.from(value.toString('utf8')).equals(value);
  return { key, value: text ? value.toString('utf8') : value.toString('base64'), encoding: text ? undefined : 'base64', ttl: model.ttlRange(entry, window), revision, createRevision, version };
}

const tag = (revision: number) => `"${revision}"`;

/** The condition a request's headers make (as the API reads them: docs/http-api.md). */
function conditionOf(headers: Record<string, string>): Condition | undefined {
  if (headers['if-none-match'] === '*') return { kind: 'absent' };
  const ifMatch = headers['if-match'];
  if (ifMatch === undefined) return undefined;
  if (ifMatch === '*') return { kind: 'present' };
  return { kind: 'revision', revision: Number(ifMatch.slice(1, -1)) };
}

/** Applies the request to `model` and says what the API must answer (the fields of Answer it fixes). */
function expectedAnswer(request: Request, model: FrontModel, window: Window): Record<string, unknown> {
  const { spec, headers } = request;
  switch (spec.kind) {
    case 'list': {
      const entries = model.list(spec.prefix).slice(0, spec.limit);
      return { status: 200, body: { ok: true, command: 'list', entries: entries.map((e) => (spec.keysOnly ? e.key : entryJson(model, e, window))) } };
    }
    case 'get': {
      const entry = model.get(spec.key);
      if (!entry) return { status: 404, body: { ok: false, error: 'not_found' } };
      const inm = headers['if-none-match'];
      if (inm === '*' || inm === tag(entry.revision)) return { status: 304, etag: tag(entry.revision) };
      if (spec.format === 'json') return { status: 200, etag: tag(entry.revision), body: { ok: true, command: 'get', ...entryJson(model, entry, window) } };
      return { status: 200, etag: tag(entry.revision), ttlHeader: model.ttlRange(entry, window), body: { raw: entry.value.toString('base64') } };
    }
    case 'put':
    case 'delete': {
      const condition = conditionOf(headers);
      const write: Write =
        spec.kind === 'put'
          ? { op: 'set', key: spec.key, value: spec.value, expiresAt: spec.ttl ? window.sentMs + spec.ttl.seconds * 1000 : null, condition }
          : { op: 'delete', key: spec.key, condition };
      const result = model.apply(write, window);
      switch (result.status) {
        case 'conflict':
          return { status: 412, etag: result.current > 0 ? tag(result.current) : null, body: { ok: false, error: 'conflict', key: spec.key, revision: result.current } };
        case 'missing':
          return { status: 404, body: { ok: false, error: 'not_found' } };
        case 'invalid':
          throw new Error('a put or delete cannot be an invalid counter step');
        case 'applied': {
          if (spec.kind === 'delete') return { status: 204, revisionHeader: result.revision };
          if (result.existed) return { status: 204, etag: tag(result.revision) };
          const after = result.after!;
          const body = { ok: true, command: 'set', key: spec.key, ttl: spec.ttl?.seconds ?? null, revision: after.revision, createRevision: after.createRevision, version: after.version };
          return { status: 201, etag: tag(result.revision), location: `/keys/${encodeURIComponent(spec.key)}`, body };
        }
      }
    }
  }
}

// ---- commands -----------------------------------------------------------------------------------------------------

interface Real {
  server: ServerProcess;
}
type Box = { model: FrontModel };
type HttpCommand = fc.AsyncCommand<Box, Real>;

function shown(request: Request): string {
  return `${request.method} ${request.path}${Object.entries(request.headers).map(([n, v]) => ` ${n}: ${v}`).join('')}`;
}

/** One request, answered before the next. */
class Send implements HttpCommand {
  private shown = '';
  constructor(private readonly spec: RequestSpec) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    const request = resolveRequest(this.spec, box.model);
    this.shown = shown(request);
    const sentMs = Date.now();
    const answer = await send(real.server.url, request);
    expectMatch(this.shown, answer, expectedAnswer(request, box.model, { sentMs, answeredMs: Date.now() }));
  }
  toString = () => this.shown || `send(${this.spec.kind} ${'key' in this.spec ? JSON.stringify(this.spec.key) : ''})`;
}

/** A few requests fired at once: their answers must be those of some order of them. */
class Concurrently implements HttpCommand {
  private shown: string[] = [];
  constructor(private readonly specs: RequestSpec[]) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    // Each request's revisions are named from the model before any of them: which one wins is the point.
    const requests = this.specs.map((spec) => resolveRequest(spec, box.model));
    this.shown = requests.map(shown);
    const sentMs = Date.now();
    const answers = await Promise.all(requests.map((request) => send(real.server.url, request)));
    const window = { sentMs, answeredMs: Date.now() };
    box.model = linearize(box.model, answers, (fork, i) => expectedAnswer(requests[i]!, fork, window));
  }
  toString = () => `concurrently(${JSON.stringify(this.shown.length ? this.shown : this.specs.map((s) => s.kind))})`;
}

type CliWrite = { kind: 'set'; key: string; value: string } | { kind: 'delete'; key: string } | { kind: 'incr'; key: string; by: bigint };

/** Another process writes the database (one-shot `tbase`): the server must see it on the next request. */
class OtherProcessWrites implements HttpCommand {
  constructor(private readonly op: CliWrite) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    const { op } = this;
    const args = op.kind === 'set' ? [op.key, op.value] : op.kind === 'incr' ? [op.key, String(op.by)] : [op.key];
    const argv = [op.kind, ...(args.some((a) => a.startsWith('-')) ? ['--'] : []), ...args];
    const sentMs = Date.now();
    const r = await runTbase(['--json', ...argv], { env: real.server.env });
    const window = { sentMs, answeredMs: Date.now() };
    const write: Write = op.kind === 'set' ? { op: 'set', key: op.key, value: Buffer.from(op.value), expiresAt: null } : op.kind === 'incr' ? { op: 'incr', key: op.key, by: op.by } : { op: 'delete', key: op.key };
    const result = box.model.apply(write, window);
    const code = { applied: 0, missing: 1, invalid: 2, conflict: 4 }[result.status];
    expectMatch(`exit status of tbase ${JSON.stringify(argv)} (${r.stderr})`, r.code, code);
    expectMatch(`tbase ${JSON.stringify(argv)}`, JSON.parse(r.out), { ok: code === 0, command: op.kind, ...(code === 2 ? { error: 'usage' } : { key: op.key }) });
    await new Send({ kind: 'get', key: op.key, format: 'json', rawSlash: false }).run(box, real);
  }
  toString = () => `other process: tbase ${this.op.kind} ${JSON.stringify(this.op.key)}`;
}

/** memcached emptied under the server: every copy and every tombstone gone. */
class FlushMemcached implements HttpCommand {
  check = () => true;
  async run(): Promise<void> {
    await flushAll(memcached.port);
  }
  toString = () => 'flush_all';
}

/**
 * memcached frozen (SIGSTOP: connections stay open, nothing answers, its copies are kept) for a few requests, then
 * thawed; with `waitOutBreaker`, the next commands reach memcached again and meet the copies it held.
 */
class FreezeMemcached implements HttpCommand {
  constructor(
    private readonly during: RequestSpec[],
    private readonly waitOutBreaker: boolean,
  ) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    memcached.process.kill('SIGSTOP');
    try {
      for (const spec of this.during) await new Send(spec).run(box, real);
    } finally {
      memcached.process.kill('SIGCONT');
    }
    if (this.waitOutBreaker) await new Promise((resolve) => setTimeout(resolve, 2100)); // context.ts: retryAfterMs 2000
  }
  toString = () => `freeze memcached for ${this.during.length} requests${this.waitOutBreaker ? ', then wait out the breaker' : ''}`;
}

const cliWriteArb: fc.Arbitrary<CliWrite> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: keyArb, value: valueArb }),
  fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
  fc.record({ kind: fc.constant('incr' as const), key: keyArb, by: stepArb }),
);

const one = requestArb.map((spec) => new Send(spec));
const concurrent = fc.array(requestArb.filter((s) => s.kind !== 'list'), { minLength: 2, maxLength: 4 }).map((specs) => new Concurrently(specs));
/** fc.commands picks its arbitraries evenly: repeats weigh them (a one-shot process costs ~0.5 s, a request ~5 ms). */
const commandsArb = fc.commands(
  [
    one,
    one,
    one,
    one,
    concurrent,
    concurrent,
    cliWriteArb.map((op) => new OtherProcessWrites(op)),
    fc.constant(null).map(() => new FlushMemcached()),
    // A quarter of the freezes wait out the breaker (2 s): enough to meet memcached's old copies, not to dominate.
    fc.tuple(fc.array(requestArb, { minLength: 1, maxLength: 3 }), fc.nat(3)).map(([during, n]) => new FreezeMemcached(during, n === 0)),
  ],
  { maxCommands: 25, size: 'max' },
);

test('the HTTP API answers every request as the model does, through memcached faults and other writers', async () => {
  await checkProperty(
    'model: HTTP API of the built bin',
    fc.asyncProperty(commandsArb, async (commands) => {
      const server = await startServer({ env: { TBASE_SERVERS: memcached.address, TBASE_CACHE_TIMEOUT_MS: '200' } });
      const box = { model: new FrontModel() };
      try {
        await fc.asyncModelRun(() => ({ model: box, real: { server } }), commands);
        // The whole state at the end, and the database revision (/health carries `tbase stats`).
        const window = { sentMs: Date.now(), answeredMs: 0 };
        const list = await send(server.url, { spec: { kind: 'list', keysOnly: false }, method: 'GET', path: '/keys', headers: {} });
        const health = await send(server.url, { spec: { kind: 'list', keysOnly: false }, method: 'GET', path: '/health', headers: {} });
        window.answeredMs = Date.now();
        expectMatch('final list', list.body, { entries: box.model.list().map((e) => entryJson(box.model, e, window)) });
        expectMatch('final revision', health.body, { revision: box.model.revision });
      } finally {
        memcached.process.kill('SIGCONT');
        await stopAll([server]);
      }
    }),
    { runs: 30 },
  );
}, 180_000);
