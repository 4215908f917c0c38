/** Graceful shutdown: on SIGTERM/SIGINT in-flight requests finish, new ones are refused, the store is closed. */
import { Agent, request } from 'node:http';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const running: ServerProcess[] = [];
afterEach(() => stopAll(running));
afterAll(removeTempDirs);

describe('tbase serve: graceful shutdown', () => {
  test('SIGTERM lets an in-flight PUT finish, refuses new connections, closes idle ones, exits 0', async () => {
    const server = await startServer();
    running.push(server);
    // An idle keep-alive connection must not hold the shutdown up.
    const agent = new Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) =>
      request(`${server.url}/health`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject).end(),
    );

    // Half a request body: the server is waiting for the rest when the signal comes.
    const body = Buffer.from('0123456789');
    const inFlight = request(`${server.url}/keys/in-flight`, { method: 'PUT', headers: { 'content-length': body.length } });
    const answered = new Promise<number>((resolve, reject) => {
      inFlight.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      inFlight.on('error', reject);
    });
    inFlight.write(body.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 300));

    const started = Date.now();
    server.child.kill('SIGTERM');
    await server.waitForStderr('SIGTERM: finishing in-flight requests');
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    inFlight.end(body.subarray(5));
    expect(await answered).toBe(201);
    expect(await server.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(server.stderr()).toMatch(/tbase: stopped\n$/);
    agent.destroy();

    const stored = await runTbase(['get', '-n', 'in-flight'], { env: server.env });
    expect(stored.out).toBe('0123456789');
  });

  test('SIGINT stops an idle server at once with exit 0', async () => {
    const server = await startServer();
    running.push(server);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const started = Date.now();
    expect(await server.stop('SIGINT')).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(server.stderr()).toContain('tbase: stopped');
  });

  test('a second signal cuts a request that would otherwise hold the shutdown up', async () => {
    const server = await startServer();
    running.push(server);
    const stuck = request(`${server.url}/keys/stuck`, { method: 'PUT', headers: { 'content-length': 100 } });
    const failed = new Promise<string>((resolve) => {
      stuck.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      stuck.on('response', (res) => resolve(`status ${res.statusCode}`));
    });
    stuck.write('partial');
    await new Promise((r) => setTimeout(r, 300));
    server.child.kill('SIGTERM');
    await server.waitForStderr('finishing in-flight requests');
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(await failed).toBe('ECONNRESET');
    expect((await runTbase(['get', 'stuck'], { env: server.env })).code).toBe(1);
  });
});
