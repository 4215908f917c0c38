/** The HTTP API of the built `tbase serve`, against real memcached and SQLite, side by side with the CLI. */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { freePort } from '../helpers/memcached.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const MiB = 1024 * 1024;
const running: ServerProcess[] = [];
let server: ServerProcess;

const url = (path: string) => `${server.url}${path}`;
const keyUrl = (key: string, query = '') => url(`/keys/${encodeURIComponent(key)}${query}`);
const put = (key: string, body: string | Buffer, query = '') =>
  fetch(keyUrl(key, query), { method: 'PUT', body: body as string | Uint8Array<ArrayBuffer> });
const cli = (...args: string[]) => runTbase(args, { env: server.env });

/** Sends `head` as is over a socket and returns everything the server sent before closing. */
function raw(head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1', () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.setTimeout(10000, () => socket.destroy());
  });
}

beforeAll(async () => {
  server = await startServer();
  running.push(server);
});

afterAll(async () => {
  await stopAll(running);
  removeTempDirs();
});

describe('tbase serve: JSON API', () => {
  test('GET /health reports status, cache state and key count', async () => {
    await put('health:one', 'x');
    const res = await fetch(url('/health'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = await res.json();
    expect(body).toMatchObject({ ok: true, status: 'ok', cache: 'up', database: server.dbPath });
    expect(body.keys).toBeGreaterThanOrEqual(1);
    expect(body.servers).toEqual({ [server.env.TBASE_SERVERS!]: 'up' });
    expect(body.versions).toEqual({ tbase: expect.stringMatching(/^\d+\.\d+\.\d+/), sqlite: expect.stringMatching(/^3\./), node: process.versions.node }); // as stats --json
  });

  test('PUT creates (201) then replaces (204); GET answers raw bytes or JSON; DELETE 204 then 404', async () => {
    const created = await put('crud', 'first');
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe('/keys/crud');
    expect(await created.json()).toEqual({ ok: true, command: 'set', key: 'crud', ttl: null, revision: expect.any(Number), createRevision: expect.any(Number), version: 1 });
    const replaced = await put('crud', 'second');
    expect(replaced.status).toBe(204);
    expect(await replaced.text()).toBe('');

    const got = await fetch(keyUrl('crud'));
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('application/octet-stream');
    expect(got.headers.get('x-tbase-source')).toMatch(/^(cache|store)$/);
    expect(await got.text()).toBe('second');
    // (Served from SQLite while the replacement's tombstone lives: the protocol refuses fills for a few seconds.)
    const json = await (await fetch(keyUrl('crud', '?format=json'))).json();
    expect(json).toEqual({ ok: true, command: 'get', key: 'crud', value: 'second', ttl: null, revision: expect.any(Number), createRevision: expect.any(Number), version: 2, source: expect.stringMatching(/^(cache|store)$/) });

    expect((await fetch(keyUrl('crud'), { method: 'DELETE' })).status).toBe(204);
    const again = await fetch(keyUrl('crud'), { method: 'DELETE' });
    expect(again.status).toBe(404);
    expect(await again.json()).toEqual({ ok: false, error: 'not_found', key: 'crud', message: 'key not found: "crud"' });
    const missing = await fetch(keyUrl('crud'));
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toBe('not_found');
  });

  test('binary values round-trip byte for byte (raw, JSON base64, and through the CLI)', async () => {
    const value = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(64 * 1024)]);
    expect((await put('bin', value)).status).toBe(201);
    expect(Buffer.from(await (await fetch(keyUrl('bin'))).arrayBuffer()).equals(value)).toBe(true);
    const json = await (await fetch(keyUrl('bin', '?format=json'))).json();
    expect(json.encoding).toBe('base64');
    expect(Buffer.from(json.value, 'base64').equals(value)).toBe(true);
    const fromCli = await cli('get', '-n', 'bin');
    expect(fromCli.code).toBe(0);
    expect(fromCli.stdout.equals(value)).toBe(true);
    // Empty values are values.
    expect((await put('empty', Buffer.alloc(0))).status).toBe(201);
    const empty = await fetch(keyUrl('empty'));
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-length')).toBe('0');
  });

  test('unicode and awkward keys work URL-encoded, and the CLI sees the same keys', async () => {
    const keys = ['ключ', '東京/タワー', '🔑 with spaces?&#%+=', 'a/../b', 'tab\there', 'x'.repeat(1024)];
    for (const [i, key] of keys.entries()) expect((await put(key, `v${i}`)).status).toBe(201);
    for (const [i, key] of keys.entries()) {
      expect(await (await fetch(keyUrl(key))).text()).toBe(`v${i}`);
      const fromCli = await cli('get', '-n', key);
      expect(fromCli.out).toBe(`v${i}`);
    }
    // A literal slash is part of the key too (like consul kv).
    expect(await (await fetch(url('/keys/%E6%9D%B1%E4%BA%AC/%E3%82%BF%E3%83%AF%E3%83%BC'))).text()).toBe('v1');
    // Read-after-write across processes: the server cached "v0"; the CLI's write must be seen at once.
    expect((await (await fetch(keyUrl('ключ', '?format=json'))).json()).source).toBe('cache');
    expect((await cli('set', 'ключ', 'from the CLI')).code).toBe(0);
    expect(await (await fetch(keyUrl('ключ'))).text()).toBe('from the CLI');
    expect((await cli('delete', 'ключ')).code).toBe(0);
    expect((await fetch(keyUrl('ключ'))).status).toBe(404);
  });

  test('?ttl= takes the CLI durations; a bad TTL is 400 and stores nothing', async () => {
    const res = await put('ttl:2h', 'v', '?ttl=2h');
    expect(await res.json()).toEqual({ ok: true, command: 'set', key: 'ttl:2h', ttl: 7200, revision: expect.any(Number), createRevision: expect.any(Number), version: 1 });
    const got = await fetch(keyUrl('ttl:2h'));
    expect(Number(got.headers.get('x-tbase-ttl'))).toBeGreaterThan(7100);
    const json = await (await fetch(keyUrl('ttl:2h', '?format=json'))).json();
    expect(json.ttl).toBeLessThanOrEqual(7200);
    expect(json.ttl).toBeGreaterThan(7100);
    for (const bad of ['0', '-5', 'abc', '1.5', '', '5y']) {
      const refused = await put('ttl:bad', 'v', `?ttl=${encodeURIComponent(bad)}`);
      expect(refused.status).toBe(400);
      expect((await refused.json()).error).toBe('usage');
    }
    expect((await fetch(keyUrl('ttl:bad'))).status).toBe(404);
  });

  test('GET /keys streams the entries of `tbase list --json`, with prefix, limit and keys-only', async () => {
    for (const key of ['list:b', 'list:a', 'list:c', 'lisu']) await put(key, `value of ${key}`);
    await put('list:bin', Buffer.from([0xff, 0x00]));
    const res = await fetch(url('/keys?prefix=list%3A'));
    expect(res.status).toBe(200);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    const text = await res.text();
    const fromCli = await cli('list', 'list:', '--json');
    expect(text).toBe(fromCli.out);
    expect(JSON.parse(text).entries.map((e: { key: string }) => e.key)).toEqual(['list:a', 'list:b', 'list:bin', 'list:c']);
    expect(JSON.parse(text).entries[2]).toEqual({ key: 'list:bin', value: '/wA=', encoding: 'base64', ttl: null, revision: expect.any(Number), createRevision: expect.any(Number), version: 1 });

    const limited = await (await fetch(url('/keys?prefix=list:&limit=2&keys-only'))).json();
    expect(limited).toEqual({ ok: true, command: 'list', entries: ['list:a', 'list:b'] });
    const none = await (await fetch(url('/keys?prefix=nothing-here'))).json();
    expect(none).toEqual({ ok: true, command: 'list', entries: [] });
    for (const bad of ['limit=0', 'limit=-1', 'limit=x', 'keys-only=maybe']) {
      expect((await fetch(url(`/keys?${bad}`))).status).toBe(400);
    }
  });

  test('unknown routes are 404, wrong methods 405 with Allow, bad input 400; HEAD works', async () => {
    const nope = await fetch(url('/nope'));
    expect(nope.status).toBe(404);
    expect((await nope.json()).error).toBe('no_route');
    const post = await fetch(keyUrl('x'), { method: 'POST', body: 'v' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE');
    const deleteAll = await fetch(url('/keys'), { method: 'DELETE' });
    expect(deleteAll.status).toBe(405);
    expect(deleteAll.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(url('/health'), { method: 'PATCH' })).status).toBe(405);
    expect((await fetch(keyUrl('x', '?format=xml'))).status).toBe(400);
    expect((await fetch(url('/keys/%E0%A4%A'))).status).toBe(400); // broken percent-encoding
    expect((await fetch(url('/keys/%FF'))).status).toBe(400); // not UTF-8
    const empty = await fetch(url('/keys/'));
    expect(empty.status).toBe(400);
    expect((await empty.json()).message).toBe('key is empty');

    await put('head', 'twelve bytes');
    const head = await fetch(keyUrl('head'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('12');
    expect(await head.text()).toBe('');
  });

  test('limits: keys up to 1024 bytes, values up to 64 MiB; more is 400 / 413 and nothing is stored', async () => {
    const longKey = 'é'.repeat(512); // 1024 bytes
    expect((await put(longKey, 'v')).status).toBe(201);
    const tooLong = await put(`${longKey}x`, 'v');
    expect(tooLong.status).toBe(400);
    expect((await tooLong.json()).message).toBe('key is 1025 bytes; the limit is 1024');

    const max = randomBytes(64 * MiB);
    expect((await put('big:max', max)).status).toBe(201);
    const back = Buffer.from(await (await fetch(keyUrl('big:max'))).arrayBuffer());
    expect(back.length).toBe(max.length);
    expect(back.equals(max)).toBe(true);

    // Declared too large: refused before a byte of the body is read.
    const declared = await raw(
      `PUT /keys/big%3Adeclared HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${64 * MiB + 1}\r\n\r\n`,
    );
    expect(declared).toMatch(/^HTTP\/1\.1 413 /);
    expect(declared).toContain('"error":"too_large"');

    // Chunked (no length): refused as soon as it passes the limit.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(keyUrl('big:chunked'), { method: 'PUT', headers: { 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(MiB);
      let sent = 0;
      const pump = () => {
        while (sent < 65 && !req.destroyed) {
          sent++;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!req.destroyed) req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect((await fetch(keyUrl('big:chunked'))).status).toBe(404);
    expect((await fetch(keyUrl('big:declared'))).status).toBe(404);
  });
});

describe('tbase serve: memcached unreachable', () => {
  test('answers from SQLite, reports itself degraded, and says so once on stderr', async () => {
    const deadPort = await freePort(); // nothing listens there
    const degraded = await startServer({ env: { TBASE_SERVERS: `127.0.0.1:${deadPort}` } });
    running.push(degraded);
    const at = (path: string) => `${degraded.url}${path}`;
    expect((await fetch(at('/keys/k'), { method: 'PUT', body: 'still works' })).status).toBe(201);
    for (let i = 0; i < 3; i++) expect(await (await fetch(at('/keys/k'))).text()).toBe('still works');
    const health = await (await fetch(at('/health'))).json();
    expect(health).toMatchObject({ ok: true, status: 'degraded', cache: 'down', keys: 1, pendingInvalidations: 0 });
    expect(degraded.stderr().match(/cache unavailable, answering from SQLite/g)).toHaveLength(1);
  });
});
