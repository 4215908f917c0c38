/**
 * Revisions over HTTP: ETags, conditional PUT and DELETE (If-Match, If-None-Match), 304, against the built serve,
 * on each store (a SQLite file, a PostgreSQL schema).
 */
import { storeKinds } from '../helpers/stores.js';
import { serverForFile } from './server-process.js';

describe.each(storeKinds())('%s store', (kind) => {
  const server = serverForFile(async () => ({ dbPath: await kind.location() }));

  const keyUrl = (key: string) => `${server().url}/keys/${encodeURIComponent(key)}`;
  const put = (key: string, body: string, headers: Record<string, string> = {}) => fetch(keyUrl(key), { method: 'PUT', body, headers });
  const del = (key: string, headers: Record<string, string> = {}) => fetch(keyUrl(key), { method: 'DELETE', headers });

  test('reads carry the revision as ETag; If-None-Match with it answers 304', async () => {
    const created = await put('etag', 'one');
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag')!;
    expect(etag).toMatch(/^"\d+"$/);
    expect(await created.json()).toEqual({ ok: true, command: 'set', key: 'etag', ttl: null, revision: Number(etag.slice(1, -1)), createRevision: Number(etag.slice(1, -1)), version: 1 });
    const raw = await fetch(keyUrl('etag'));
    expect(raw.headers.get('etag')).toBe(etag);
    expect(await raw.text()).toBe('one');
    const json = await fetch(`${keyUrl('etag')}?format=json`);
    expect(json.headers.get('etag')).toBe(etag);
    expect(await json.json()).toMatchObject({ key: 'etag', value: 'one', revision: Number(etag.slice(1, -1)), version: 1 });
    const notModified = await fetch(keyUrl('etag'), { headers: { 'if-none-match': `"0", ${etag}` } });
    expect(notModified.status).toBe(304);
    expect((await fetch(keyUrl('etag'), { headers: { 'if-none-match': '"1"' } })).status).toBe(etag === '"1"' ? 304 : 200);
  });

  test('PUT If-Match "N" / If-None-Match * / If-Match *: decided in the store; 412 with the current ETag', async () => {
    expect((await put('cas', 'v1', { 'if-none-match': '*' })).status).toBe(201);
    const taken = await put('cas', 'v2', { 'if-none-match': '*' });
    expect(taken.status).toBe(412);
    const current = taken.headers.get('etag')!;
    expect(await taken.json()).toMatchObject({ ok: false, error: 'conflict', key: 'cas', revision: Number(current.slice(1, -1)) });
    const stale = await put('cas', 'v2', { 'if-match': '"1"' });
    expect(stale.status).toBe(current === '"1"' ? 204 : 412);
    const replaced = await put('cas', 'v3', { 'if-match': current });
    expect(replaced.status).toBe(204);
    const next = replaced.headers.get('etag')!;
    expect(Number(next.slice(1, -1))).toBeGreaterThan(Number(current.slice(1, -1)));
    expect((await put('cas', 'v4', { 'if-match': current })).status).toBe(412);
    expect(await (await fetch(keyUrl('cas'))).text()).toBe('v3');
    expect((await put('nothere', 'x', { 'if-match': '*' })).status).toBe(412);
    expect((await put('cas', 'v5', { 'if-match': '*' })).status).toBe(204);
    const badHeaders: Record<string, string>[] = [{ 'if-match': 'W/"3"' }, { 'if-match': '"a"' }, { 'if-none-match': '"3"' }, { 'if-match': '*', 'if-none-match': '*' }];
    for (const headers of badHeaders) {
      const bad = await put('cas', 'v6', headers);
      expect({ headers, status: bad.status }).toEqual({ headers, status: 400 });
    }
  });

  test('DELETE If-Match: 412 on another revision, 204 with the delete revision when it matches', async () => {
    const etag = (await put('gone', 'x')).headers.get('etag')!;
    const refused = await del('gone', { 'if-match': `"${Number(etag.slice(1, -1)) + 100}"` });
    expect(refused.status).toBe(412);
    expect(refused.headers.get('etag')).toBe(etag);
    const deleted = await del('gone', { 'if-match': etag });
    expect(deleted.status).toBe(204);
    expect(Number(deleted.headers.get('x-tbase-revision'))).toBe(Number(etag.slice(1, -1)) + 1);
    expect((await del('gone', { 'if-match': etag })).status).toBe(412);
    expect((await del('gone')).status).toBe(404);
  });
});
