/**
 * `GET /watch` (Server-Sent Events) against the built `tbase serve`: events for writes made by other processes,
 * exact resumption (Last-Event-ID and from-revision), 410 for a start older than the kept history, the watcher
 * limit (503) and its slots, a client that stops reading dropped without the server's memory growing,
 * heartbeats, auth, shutdown with streams open, and a real browser EventSource reconnecting across a restart.
 */
import { existsSync, readFileSync } from 'node:fs';
import { get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { chromium } from 'playwright-core';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const running: ServerProcess[] = [];
const streams: Stream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  await stopAll(running);
});
afterAll(removeTempDirs);

async function serve(env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServer({ env });
  running.push(server);
  return server;
}

/** One SSE block as the client saw it: its fields (the last of each) and comment lines. */
interface Block {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
}

interface Stream {
  status: number;
  headers: IncomingHttpHeaders;
  /** The JSON body of a non-200 answer. */
  body: unknown;
  blocks: Block[];
  /** The blocks that are events (they carry data). */
  events(): { id: string; event: string; data: Record<string, unknown> }[];
  res: IncomingMessage;
  /** Resolves when the response ended or broke (with how). */
  ended: Promise<string>;
  waitFor(check: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens a stream; with `read: false` nothing is read from the socket (a client that stopped reading). */
function openWatch(server: ServerProcess, path: string, headers: Record<string, string> = {}, { read = true } = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = get(`${server.url}${path}`, { headers }, (res) => {
      const blocks: Block[] = [];
      let text = '';
      let body = '';
      const waiters = new Set<() => void>();
      const stream: Stream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: undefined,
        blocks,
        res,
        events: () =>
          blocks.filter((b) => b.data !== undefined).map((b) => ({ id: b.id ?? '', event: b.event ?? 'message', data: JSON.parse(b.data!) as Record<string, unknown> })),
        ended: new Promise((done) => {
          res.on('end', () => done('end'));
          res.on('aborted', () => done('aborted'));
          res.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
          res.on('close', () => done('close'));
        }),
        waitFor: (check, what, timeoutMs = 10_000) =>
          new Promise<void>((ok, fail) => {
            const timer = setTimeout(() => {
              waiters.delete(test);
              fail(new Error(`timed out waiting for ${what}; got ${blocks.length} blocks, last ${JSON.stringify(blocks.slice(-3))}`));
            }, timeoutMs);
            const test = () => {
              if (!check()) return;
              clearTimeout(timer);
              waiters.delete(test);
              ok();
            };
            waiters.add(test);
            test();
          }),
        close: () => req.destroy(),
      };
      streams.push(stream);
      if (res.statusCode !== 200) {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          stream.body = body === '' ? undefined : JSON.parse(body);
          resolve(stream);
        });
        return;
      }
      resolve(stream);
      if (!read) return;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        let end = text.indexOf('\n\n');
        while (end >= 0) {
          blocks.push(parseBlock(text.slice(0, end)));
          text = text.slice(end + 2);
          end = text.indexOf('\n\n');
        }
        for (const check of [...waiters]) check();
      });
    });
    req.on('error', reject);
  });
}

function parseBlock(text: string): Block {
  const block: Block = { comments: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      block.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id' || field === 'event' || field === 'data' || field === 'retry') block[field] = value;
  }
  return block;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function cli(server: ServerProcess, args: string[], options: { stdin?: string | Buffer; env?: Record<string, string> } = {}) {
  const run = await runTbase(args, { env: { ...server.env, ...options.env }, stdin: options.stdin });
  if (run.code !== 0) throw new Error(`tbase ${args.join(' ')}: exit ${run.code}: ${run.stderr}`);
  return run;
}

/** A write's `--json` answer. */
async function write(server: ServerProcess, ...args: string[]): Promise<Record<string, unknown>> {
  return JSON.parse((await cli(server, ['--json', ...args])).out) as Record<string, unknown>;
}

function vmKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('GET /watch: events', () => {
  test('CLI writes from another process arrive in revision order with ids, types and the watch --json data', async () => {
    const server = await serve();
    await write(server, 'set', 'before', 'x'); // revision 1: not streamed (a watch starts at "now")
    const watch = await openWatch(server, '/watch?prefix=w:');
    expect(watch.status).toBe(200);
    expect(watch.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(watch.headers['cache-control']).toBe('no-store');
    await watch.waitFor(() => watch.blocks.length >= 1, 'the opening block');
    // The opening block: the reconnection delay and the resume point "nothing of revision 2 yet", no event.
    expect(watch.blocks[0]).toEqual({ retry: '1000', id: '2.0', comments: [] });

    const a = await write(server, 'set', 'w:a', 'one');
    const b = await write(server, 'set', 'w:b', 'two', '--ttl', '1h');
    await write(server, 'set', 'other', 'not watched');
    const empty = await write(server, 'set', 'w:empty', '-', '--ttl', '2h'); // an empty value, from stdin
    const n = await write(server, 'incr', 'w:n', '5');
    const delA = await write(server, 'delete', 'w:a');
    const e = await write(server, 'set', 'w:e', 'short-lived', '--ttl', '1');
    // Its expiry is carried out (and streamed) by the watcher itself when due, with no other write.
    await watch.waitFor(() => watch.events().some((event) => event.event === 'expire'), 'the expiry', 5000);
    // A prefix delete is one revision holding several keys: one event per key, ids R, R.2, R.3 (key order).
    const wipe = await write(server, 'delete', '--prefix', 'w:');
    expect(wipe.count).toBe(3);
    await watch.waitFor(() => watch.events().some((event) => event.event === 'delete' && event.data.key === 'w:n'), 'the prefix delete');

    const events = watch.events();
    const ttlOf = (key: string) => events.find((event) => event.data.key === key && event.event === 'put')!.data.ttl as number;
    // The TTL is the seconds left when the event was sent.
    expect(ttlOf('w:b')).toBeGreaterThanOrEqual(3598);
    expect(ttlOf('w:empty')).toBeGreaterThanOrEqual(7198);
    const put = (answer: Record<string, unknown>, value: string, ttl: number | null) => ({
      type: 'put',
      key: answer.key,
      value,
      ttl,
      revision: answer.revision,
      createRevision: answer.createRevision,
      version: answer.version,
    });
    const expired = Number(e.revision) + 1;
    expect(events).toEqual([
      { id: String(a.revision), event: 'put', data: put(a, 'one', null) },
      { id: String(b.revision), event: 'put', data: put(b, 'two', ttlOf('w:b')) },
      { id: String(empty.revision), event: 'put', data: put(empty, '', ttlOf('w:empty')) },
      { id: String(n.revision), event: 'put', data: put(n, '5', null) },
      { id: String(delA.revision), event: 'delete', data: { type: 'delete', key: 'w:a', revision: delA.revision } },
      { id: String(e.revision), event: 'put', data: put(e, 'short-lived', 1) },
      { id: String(expired), event: 'expire', data: { type: 'expire', key: 'w:e', revision: expired } },
      { id: String(wipe.revision), event: 'delete', data: { type: 'delete', key: 'w:b', revision: wipe.revision } },
      { id: `${String(wipe.revision)}.2`, event: 'delete', data: { type: 'delete', key: 'w:empty', revision: wipe.revision } },
      { id: `${String(wipe.revision)}.3`, event: 'delete', data: { type: 'delete', key: 'w:n', revision: wipe.revision } },
    ]);
  });

  test('a binary value is base64 with encoding; ?key=K follows one key only', async () => {
    const server = await serve();
    const watch = await openWatch(server, '/watch?key=k%201');
    await watch.waitFor(() => watch.blocks.length >= 1, 'the opening block');
    await write(server, 'set', 'k 10', 'not this one');
    const one = await cli(server, ['--json', 'set', 'k 1', '-'], { stdin: Buffer.from([0xff, 0x00, 0x41]) });
    const answer = JSON.parse(one.out) as Record<string, unknown>;
    await watch.waitFor(() => watch.events().length >= 1, 'the put');
    await sleep(200);
    expect(watch.events()).toEqual([
      {
        id: String(answer.revision),
        event: 'put',
        data: { type: 'put', key: 'k 1', value: '/wBB', encoding: 'base64', ttl: null, revision: answer.revision, createRevision: answer.revision, version: 1 },
      },
    ]);
  });

  test('&keys-only leaves the value (and its encoding) out of put events, and only that', async () => {
    const server = await serve();
    const watch = await openWatch(server, '/watch?prefix=s:&keys-only=1');
    await watch.waitFor(() => watch.blocks.length >= 1, 'the opening block');
    const text = await write(server, 'set', 's:text', 'secret value', '--ttl', '1h');
    const binary = JSON.parse((await cli(server, ['--json', 'set', 's:bin', '-'], { stdin: Buffer.from([0xff, 0x00]) })).out) as Record<string, unknown>;
    const del = await write(server, 'delete', 's:text');
    await watch.waitFor(() => watch.events().length >= 3, 'three events');
    const [first, ...rest] = watch.events();
    expect(first!.data.ttl).toBeGreaterThanOrEqual(3598);
    expect([first, ...rest]).toEqual([
      { id: String(text.revision), event: 'put', data: { type: 'put', key: 's:text', ttl: first!.data.ttl, revision: text.revision, createRevision: text.revision, version: 1 } },
      { id: String(binary.revision), event: 'put', data: { type: 'put', key: 's:bin', ttl: null, revision: binary.revision, createRevision: binary.revision, version: 1 } },
      { id: String(del.revision), event: 'delete', data: { type: 'delete', key: 's:text', revision: del.revision } },
    ]);
    expect(watch.blocks.map((block) => block.data ?? '').join('')).not.toContain('secret');
    const bad = await openWatch(server, '/watch?prefix=s:&keys-only=maybe');
    expect([bad.status, (bad.body as { error: string }).error]).toEqual([400, 'usage']);
  });

  test('an expiring key shows as an expire event when it expires, with no other write', async () => {
    const server = await serve();
    const watch = await openWatch(server, '/watch?prefix=t:');
    await watch.waitFor(() => watch.blocks.length >= 1, 'the opening block');
    const set = await write(server, 'set', 't:1', 'v', '--ttl', '1');
    await watch.waitFor(() => watch.events().some((event) => event.event === 'expire'), 'the expiry', 5000);
    expect(watch.events().map((event) => [event.id, event.event, event.data.key])).toEqual([
      [String(set.revision), 'put', 't:1'],
      [String(Number(set.revision) + 1), 'expire', 't:1'],
    ]);
  });
});

describe('GET /watch: resuming', () => {
  /** Writes a history with single-key and multi-key revisions; returns the whole stream from revision 1. */
  async function history(server: ServerProcess) {
    await write(server, 'set', 'r:a', '1');
    await write(server, 'set', 'x', 'unwatched');
    await write(server, 'set', 'r:b', '2');
    await write(server, 'set', 'r:c', '3');
    await write(server, 'delete', '--prefix', 'r:'); // 3 keys, one revision
    await write(server, 'set', 'r:d', '4');
    await write(server, 'set', 'r:e', '5');
    await write(server, 'delete', '--prefix', 'r:'); // 2 keys
    const revision = (await write(server, 'set', 'r:f', '6')).revision;
    const full = await openWatch(server, '/watch?prefix=r:&from-revision=1');
    await full.waitFor(() => full.events().some((event) => event.data.revision === revision), 'the whole history');
    full.close();
    expect(full.blocks[0]!.id).toBe('1.0');
    return full.events();
  }

  /** Everything a stream sends until it has been quiet for a moment after `count` events. */
  async function eventsOf(server: ServerProcess, path: string, headers: Record<string, string>, count: number) {
    const watch = await openWatch(server, path, headers);
    expect(watch.status).toBe(200);
    await watch.waitFor(() => watch.events().length >= count && watch.blocks.length >= 1, `${count} events`);
    await sleep(150); // a repeat would come straight after
    watch.close();
    return { opening: watch.blocks[0]!, events: watch.events() };
  }

  test('Last-Event-ID resumes right after any event, also inside a multi-key revision: nothing lost, nothing repeated', async () => {
    const server = await serve();
    const full = await history(server);
    expect(full.map((event) => event.id)).toEqual(['1', '3', '4', '5', '5.2', '5.3', '6', '7', '8', '8.2', '9']);
    for (let k = 0; k < full.length; k++) {
      const { opening, events } = await eventsOf(server, '/watch?prefix=r:', { 'last-event-id': full[k]!.id }, full.length - k - 1);
      expect({ after: full[k]!.id, events }).toEqual({ after: full[k]!.id, events: full.slice(k + 1) });
      // The opening block names the point it resumed from, so a stream cut before its first event resumes there too.
      expect(opening.id).toBe(full[k]!.id);
    }
    // The opening id of a stream ("nothing of revision F yet") resumes at F.
    expect((await eventsOf(server, '/watch?prefix=r:', { 'last-event-id': '5.0' }, full.length - 3)).events).toEqual(full.slice(3));
    // Last-Event-ID wins over from-revision (an EventSource keeps from-revision in its URL).
    expect((await eventsOf(server, '/watch?prefix=r:&from-revision=1', { 'last-event-id': '8' }, 2)).events).toEqual(full.slice(9));
  });

  test('from-revision=N streams from revision N', async () => {
    const server = await serve();
    const full = await history(server);
    expect((await eventsOf(server, '/watch?prefix=r:&from-revision=5', {}, 8)).events).toEqual(full.slice(3));
    expect((await eventsOf(server, '/watch?prefix=r:&from-revision=2', {}, 10)).events).toEqual(full.slice(1));
  });

  test('a client that disconnects and resumes with its last id misses nothing written meanwhile', async () => {
    const server = await serve();
    const first = await openWatch(server, '/watch?prefix=m:');
    await first.waitFor(() => first.blocks.length >= 1, 'the opening block');
    for (let i = 0; i < 3; i++) await write(server, 'set', `m:${i}`, `v${i}`);
    await first.waitFor(() => first.events().length === 3, '3 events');
    first.close();
    const lastId = first.events().at(-1)!.id;
    for (let i = 3; i < 6; i++) await write(server, 'set', `m:${i}`, `v${i}`);
    await write(server, 'delete', '--prefix', 'm:');
    const { events } = await eventsOf(server, '/watch?prefix=m:', { 'last-event-id': lastId }, 9);
    expect(events.map((event) => `${event.event} ${event.data.key as string}`)).toEqual([
      'put m:3', 'put m:4', 'put m:5',
      'delete m:0', 'delete m:1', 'delete m:2', 'delete m:3', 'delete m:4', 'delete m:5',
    ]);
  });
});

describe('GET /watch: refusals', () => {
  test('a start older than the kept history is 410 history_gone with the oldest revision kept', async () => {
    const history = { TBASE_HISTORY_REVISIONS: '10' };
    const server = await serve(history);
    // Revisions 1-40 in one batch group (a transaction never trims past the revision it started from), then 41:
    // the history keeps 32-41.
    const lines = Array.from({ length: 40 }, (_, i) => `set h:${i} v${i}\n`).join('');
    await cli(server, ['batch', '-'], { stdin: lines, env: history });
    await cli(server, ['set', 'h:40', 'v40'], { env: history }); // the writer's retention trims
    const gone = await openWatch(server, '/watch?prefix=h:&from-revision=1');
    expect(gone.status).toBe(410);
    expect(gone.body).toEqual({ ok: false, error: 'history_gone', revision: 1, oldest: 32, message: 'revision 1 is no longer in the history; the oldest kept is 32' });
    const goneById = await openWatch(server, '/watch?prefix=h:', { 'last-event-id': '31' });
    expect(goneById.status).toBe(410);
    expect(goneById.body).toMatchObject({ error: 'history_gone', revision: 31, oldest: 32 });
    const kept = await openWatch(server, '/watch?prefix=h:&from-revision=32');
    expect(kept.status).toBe(200);
    await kept.waitFor(() => kept.events().length === 10, 'the 10 kept revisions');
    expect(kept.events().map((event) => event.data.key)).toEqual(Array.from({ length: 10 }, (_, i) => `h:${31 + i}`));
  });

  test('bad parameters are 400 usage errors; other methods 405; HEAD answers the headers only', async () => {
    const server = await serve();
    const cases: [string, Record<string, string>, RegExp][] = [
      ['/watch', {}, /missing key or prefix/],
      ['/watch?key=a&prefix=b', {}, /not both/],
      ['/watch?key=', {}, /key/],
      ['/watch?prefix=&from-revision=abc', {}, /bad from-revision/],
      ['/watch?prefix=&from-revision=0', {}, /revisions start at 1/],
      ['/watch?prefix=&from-revision=-1', {}, /bad from-revision/],
      ['/watch?prefix=', { 'last-event-id': 'abc' }, /bad Last-Event-ID/],
      ['/watch?prefix=', { 'last-event-id': '0' }, /bad Last-Event-ID/],
      ['/watch?prefix=', { 'last-event-id': '3.x' }, /bad Last-Event-ID/],
      // An id this database never gave (revisions never go backwards): the client is following another database.
      ['/watch?prefix=', { 'last-event-id': '99' }, /past this database's revision 0/],
      ['/watch?prefix=', { 'last-event-id': '1.1' }, /past this database's revision 0/],
    ];
    for (const [path, headers, message] of cases) {
      const answer = await openWatch(server, path, headers);
      expect({ path, headers, status: answer.status, error: (answer.body as { error: string }).error }).toEqual({ path, headers, status: 400, error: 'usage' });
      expect((answer.body as { message: string }).message).toMatch(message);
    }
    // The opening id of an empty database's stream is fine.
    const fresh = await openWatch(server, '/watch?prefix=', { 'last-event-id': '1.0' });
    expect(fresh.status).toBe(200);
    fresh.close();
    const put = await fetch(`${server.url}/watch?prefix=`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${server.url}/watch?prefix=`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  });

  test('the same token rules as the rest of the API', async () => {
    const token = 'watch-test-token-0123456789';
    const server = await serve({ TBASE_SERVE_TOKEN: token });
    const refused = await openWatch(server, '/watch?prefix=');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ ok: false, error: 'unauthorized' });
    const wrong = await openWatch(server, '/watch?prefix=', { authorization: 'Bearer not-the-token-at-all' });
    expect(wrong.status).toBe(401);
    const watch = await openWatch(server, '/watch?prefix=', { authorization: `Bearer ${token}` });
    expect(watch.status).toBe(200);
    await watch.waitFor(() => watch.blocks.length >= 1, 'the opening block');
    await write(server, 'set', 'authorised', 'yes');
    await watch.waitFor(() => watch.events().length === 1, 'the event');
    // Without a token, a non-loopback Host is refused (DNS rebinding), as for every API route.
    const tokenless = await serve();
    const rebound = await openWatch(tokenless, '/watch?prefix=', { host: 'evil.example:80' });
    expect(rebound.status).toBe(403);
  });
});

describe('GET /watch: limits', () => {
  test('beyond the watcher limit: 503 too_many_watchers; a client that disconnects frees its slot', async () => {
    const server = await serve({ TBASE_SERVE_MAX_WATCHERS: '2' });
    const one = await openWatch(server, '/watch?prefix=');
    const two = await openWatch(server, '/watch?key=k');
    expect([one.status, two.status]).toEqual([200, 200]);
    const three = await openWatch(server, '/watch?prefix=');
    expect(three.status).toBe(503);
    expect(three.headers['retry-after']).toBe('5');
    expect(three.body).toMatchObject({ ok: false, error: 'too_many_watchers' });
    // The refusal is only for streams: the rest of the API answers.
    expect((await fetch(`${server.url}/health`)).status).toBe(200);

    one.close();
    let again: Stream | undefined;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      again = await openWatch(server, '/watch?prefix=');
      if (again.status === 200) break;
      await sleep(50);
    }
    expect(again!.status).toBe(200);
    // Both remaining streams still work.
    await write(server, 'set', 'k', 'v');
    await again!.waitFor(() => again!.events().length === 1, 'the event on the new stream');
    await two.waitFor(() => two.events().length === 1, 'the event on the old stream');
    expect((await openWatch(server, '/watch?prefix=')).status).toBe(503);
  });

  test('a client that stops reading is dropped and the server does not buffer what it missed', async () => {
    const server = await serve({ TBASE_SERVE_WATCH_BUFFER_BYTES: String(256 << 10), TBASE_SERVE_WATCH_STALL_MS: '300' });
    const stalled = await openWatch(server, '/watch?prefix=s:', {}, { read: false });
    const other = await openWatch(server, '/watch?key=s:0'); // a client that reads, on the same server
    await other.waitFor(() => other.blocks.length >= 1, 'the opening block');
    const pid = server.child.pid!;
    const peakBefore = vmKiB(pid, 'VmHWM');

    // 48 MiB of changes from another process: 48 Ki sets of 1 KiB values, over 4096 keys.
    const KEYS = 4096;
    const WRITES = 48 * 1024;
    const value = 'v'.repeat(1024);
    let lines = '';
    for (let i = 0; i < WRITES; i++) lines += `set s:${i % KEYS} ${value}\n`;
    await cli(server, ['batch', '-'], { stdin: lines });
    await server.waitForStderr('dropped a watch client');
    expect(server.stderr()).toMatch(/tbase: notice: dropped a watch client \(127\.0\.0\.1 \/watch\?prefix=s:\) that stopped reading with \d+ bytes unread/);
    // Holding what the stalled client missed would take more than the 48 MiB of values (about 130 MiB, measured
    // with the limit lifted); the server holds at most the buffer limit and one page of the feed for it (the
    // growth seen is 25–53 MiB: what passed through before the sockets filled, and the garbage of it, which V8
    // collects when it pleases). The bound sits between that and the ~130 MiB of an unbounded buffer.
    const peakGrowthMiB = (vmKiB(pid, 'VmHWM') - peakBefore) / 1024;
    expect(peakGrowthMiB).toBeLessThan(90);

    // The reading client was not held back: every change of its key, in order.
    await other.waitFor(() => other.events().length === WRITES / KEYS, `${WRITES / KEYS} events`, 30_000);
    expect(other.events().map((event) => event.data.version)).toEqual(Array.from({ length: WRITES / KEYS }, (_, i) => i + 1));

    // The stalled client, reading again, gets what the sockets held and then the end: it was cut, far short of the
    // whole stream.
    let bytes = 0;
    stalled.res.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stalled.res.resume();
    const how = await stalled.ended;
    expect(['aborted', 'ECONNRESET', 'close']).toContain(how);
    expect(bytes).toBeLessThan((WRITES * 1024) / 2);
  }, 120_000);

  test('heartbeats: a `: ping` comment at the configured interval on a quiet stream', async () => {
    const server = await serve({ TBASE_SERVE_HEARTBEAT_MS: '100' });
    const watch = await openWatch(server, '/watch?prefix=');
    await watch.waitFor(() => watch.blocks.filter((b) => b.comments.includes('ping')).length >= 4, '4 pings', 3000);
    const pings = watch.blocks.filter((b) => b.comments.includes('ping'));
    expect(pings.every((b) => b.id === undefined && b.data === undefined && b.event === undefined)).toBe(true);
    expect(watch.events()).toEqual([]);
  });

  test('bad limits in the environment stop serve at start (exit 2)', async () => {
    const server = await startServer({ env: { TBASE_SERVE_MAX_WATCHERS: '0' }, expectExit: true });
    running.push(server);
    expect(await server.exited).toBe(2);
    expect(server.stderr()).toContain('TBASE_SERVE_MAX_WATCHERS must be a positive whole number');
  });

  test('SIGTERM ends open streams at once and exits 0', async () => {
    const server = await serve();
    const watches = await Promise.all([openWatch(server, '/watch?prefix='), openWatch(server, '/watch?key=a')]);
    await Promise.all(watches.map((w) => w.waitFor(() => w.blocks.length >= 1, 'the opening block')));
    const started = Date.now();
    server.child.kill('SIGTERM');
    expect(await Promise.all(watches.map((w) => w.ended))).toEqual(['end', 'end']);
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

const CHROMIUM = '/usr/bin/chromium';
const inBrowser = existsSync(CHROMIUM) || process.env.CI ? test : test.skip;

inBrowser('a browser EventSource resumes across a server restart without losing or repeating an event', async () => {
  const server = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/health`);
    await page.evaluate(() => {
      const seen: string[] = [];
      // What the EventSource went through (opens; errors with its readyState: 0 reconnecting, 2 given up), shown when
      // the test fails, since a browser that stops reconnecting says nothing else.
      const lifecycle: string[] = [];
      Object.assign(window, { seen, lifecycle });
      const started = Date.now();
      const source = new EventSource('/watch?prefix=b:');
      source.addEventListener('open', () => lifecycle.push(`${Date.now() - started} ms open`));
      source.addEventListener('error', () => lifecycle.push(`${Date.now() - started} ms error, readyState ${source.readyState}`));
      for (const type of ['put', 'delete', 'expire']) {
        source.addEventListener(type, (event) => {
          const { key, revision } = JSON.parse((event as MessageEvent<string>).data) as { key: string; revision: number };
          seen.push(`${(event as MessageEvent).lastEventId} ${type} ${key} ${revision}`);
        });
      }
    });
    const seen = () => page.evaluate(() => (window as unknown as { seen: string[] }).seen.slice());
    const until = async (count: number) => {
      const deadline = Date.now() + 15_000;
      while ((await seen()).length < count && Date.now() < deadline) await sleep(50);
      return seen();
    };
    await sleep(300); // the stream is open (the watch starts "now")
    await write(server, 'set', 'b:1', 'one');
    await write(server, 'set', 'b:2', 'two');
    expect(await until(2)).toEqual(['1 put b:1 1', '2 put b:2 2']);

    // Down: the stream ends; the browser keeps trying. Meanwhile three more revisions, one of them holding 3 keys.
    expect(await server.stop()).toBe(0);
    await write(server, 'set', 'b:3', 'three');
    await write(server, 'delete', '--prefix', 'b:');
    await write(server, 'set', 'b:4', 'four');
    const again = await startServer({ dbPath: server.dbPath, args: ['--port', String(server.port)] });
    running.push(again);
    const resumed = await until(7);
    const expected = ['1 put b:1 1', '2 put b:2 2', '3 put b:3 3', '4 delete b:1 4', '4.2 delete b:2 4', '4.3 delete b:3 4', '5 put b:4 5'];
    if (resumed.length !== expected.length) {
      const lifecycle = await page.evaluate(() => (window as unknown as { lifecycle: string[] }).lifecycle.slice());
      expect({ resumed, lifecycle, first: server.stderr(), again: again.stderr() }).toEqual({ resumed: expected });
    }
    expect(resumed).toEqual(expected);
    await sleep(300);
    expect((await seen()).length).toBe(7);
  } finally {
    await browser.close();
  }
}, 60_000);
