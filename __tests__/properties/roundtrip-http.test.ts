/**
 * The HTTP API round trip (docs/http-api.md): PUT /keys/{key} with any bytes, the key percent-encoded in the path,
 * then GET gives exactly those bytes back (from the store, then from the copy), and `?format=json` the key and
 * the value (base64 when not UTF-8). A path whose percent-encoding is not UTF-8 is refused with 400. One server
 * (the built bin) for all cases, against real memcached and SQLite.
 */
import { isUtf8 } from 'node:buffer';
import { checkProperty, fc } from '../helpers/pbt.js';
import { serverForFile } from '../serve/server-process.js';
import { keyArb, valueArb } from './arbitraries.js';

const server = serverForFile();

test('PUT then GET gives back the exact bytes, for any key in the URL path', async () => {
  const url = (key: string, query = '') => `${server().url}/keys/${encodeURIComponent(key)}${query}`;
  await checkProperty(
    'roundtrip-http: PUT/GET exact bytes',
    fc.asyncProperty(keyArb(), valueArb(), async (key, value) => {
      const put = await fetch(url(key), { method: 'PUT', body: new Uint8Array(value) });
      expect([201, 204]).toContain(put.status);
      for (let read = 0; read < 2; read++) {
        const got = await fetch(url(key));
        expect(got.status).toBe(200);
        expect(Buffer.from(await got.arrayBuffer()).equals(value)).toBe(true);
      }
      const json = (await (await fetch(url(key, '?format=json'))).json()) as { key: string; value: string; encoding?: string };
      expect(json.key).toBe(key);
      expect(json.encoding).toBe(isUtf8(value) ? undefined : 'base64');
      expect(Buffer.from(json.value, json.encoding === 'base64' ? 'base64' : 'utf8').equals(value)).toBe(true);
    }),
    { runs: 80 },
  );
}, 120_000);

test('a key whose percent-encoding is not UTF-8 is refused with 400', async () => {
  const invalid = fc.constantFrom('%80', '%FF', '%C0%AF', '%ED%A0%80', '%E2%82', '%F4%90%80%80');
  await checkProperty(
    'roundtrip-http: non-UTF-8 key refused',
    fc.asyncProperty(keyArb({ reserveBytes: 8 }), invalid, async (key, bad) => {
      const response = await fetch(`${server().url}/keys/${encodeURIComponent(key)}${bad}`, { method: 'PUT', body: 'v' });
      expect(response.status).toBe(400);
    }),
    { runs: 30 },
  );
});
