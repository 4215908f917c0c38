/** Safe defaults of `tbase serve`: loopback without a token, a bearer token anywhere else, no token no start. */
import { request } from 'node:http';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const TOKEN = 'test-token-0123456789abcdef';
const running: ServerProcess[] = [];
const start = async (...args: Parameters<typeof startServer>) => {
  const server = await startServer(...args);
  running.push(server);
  return server;
};

/** GET with an explicit Host header (fetch does not let a caller set one). */
function getWithHost(server: ServerProcess, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

afterEach(() => stopAll(running));
afterAll(removeTempDirs);

describe('tbase serve: authentication', () => {
  test('refuses to bind off loopback without TBASE_SERVE_TOKEN (exit 2), or with a short one', async () => {
    const refused = await start({ args: ['--host', '0.0.0.0'], env: { TBASE_SERVE_TOKEN: undefined }, expectExit: true });
    expect(await refused.exited).toBe(2);
    expect(refused.stderr()).toContain('refusing to listen on 0.0.0.0 without a token: set TBASE_SERVE_TOKEN');
    await expect(fetch(`${refused.url}/health`)).rejects.toThrow();

    const short = await start({ args: ['--host', '0.0.0.0'], env: { TBASE_SERVE_TOKEN: 'short' }, expectExit: true });
    expect(await short.exited).toBe(2);
    expect(short.stderr()).toContain('TBASE_SERVE_TOKEN is too short');
  });

  test('bound to 0.0.0.0 with a token: every API call needs it; the page assets do not', async () => {
    const server = await start({ args: ['--host', '0.0.0.0'], env: { TBASE_SERVE_TOKEN: TOKEN } });
    expect(server.stderr()).toContain('bearer token required');
    const call = (path: string, authorization?: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, { ...init, headers: authorization ? { authorization } : {} });

    const anonymous = await call('/health');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="tbase"');
    expect((await anonymous.json()).error).toBe('unauthorized');
    expect((await call('/keys')).status).toBe(401);
    expect((await call('/keys/k', undefined, { method: 'PUT', body: 'v' })).status).toBe(401);
    expect((await call('/health', `Bearer ${TOKEN}x`)).status).toBe(401);
    expect((await call('/health', `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`)).status).toBe(401);
    expect((await call('/health', TOKEN)).status).toBe(401);

    expect((await call('/keys/k', `Bearer ${TOKEN}`, { method: 'PUT', body: 'v' })).status).toBe(201);
    expect(await (await call('/keys/k', `bearer ${TOKEN}`)).text()).toBe('v');
    expect((await call('/health', `Bearer ${TOKEN}`)).status).toBe(200);
    // Nothing of the store was written without the token.
    expect((await (await call('/keys', `Bearer ${TOKEN}`)).json()).entries).toHaveLength(1);

    for (const asset of ['/', '/app.js', '/app.css']) expect((await call(asset)).status).toBe(200);
    // Any Host is fine once a token is required.
    expect(await getWithHost(server, '/', 'tbase.example:8000')).toBe(200);
  });

  test('a token set while on loopback is required too', async () => {
    const server = await start({ env: { TBASE_SERVE_TOKEN: TOKEN } });
    expect((await fetch(`${server.url}/health`)).status).toBe(401);
    expect((await fetch(`${server.url}/health`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  test('on loopback without a token, requests must name a loopback host (no DNS rebinding)', async () => {
    const server = await start({ env: { TBASE_SERVE_TOKEN: undefined } });
    expect(await getWithHost(server, '/health', `127.0.0.1:${server.port}`)).toBe(200);
    expect(await getWithHost(server, '/health', `localhost:${server.port}`)).toBe(200);
    expect(await getWithHost(server, '/health', `[::1]:${server.port}`)).toBe(200);
    expect(await getWithHost(server, '/health', `attacker.example:${server.port}`)).toBe(403);
    expect(await getWithHost(server, '/keys', '127.0.0.1.attacker.example')).toBe(403);
  });
});
