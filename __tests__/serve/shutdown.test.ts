/** Graceful shutdown: on SIGTERM/SIGINT in-flight requests finish, new ones are refused, the store is closed. */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
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

  test('connections with no request under way close at once: a spare one, one mid-headers, a finished watch stream', async () => {
    const server = await startServer();
    running.push(server);
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => resolve(socket)).on('error', reject);
      });
    const heard = (socket: Socket) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      // Half the 10 s grace: a connection still open then is being waited for, not closed.
      const closed = new Promise<string>((resolve) => socket.once('close', () => resolve('closed by the server')));
      const waited = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 5 s'), 5000).unref());
      return { text: () => text, outcome: Promise.race([closed, waited]) };
    };
    // A browser opens a spare connection ahead of need and may send nothing on it for a long time.
    const spare = heard(await open());
    const midHeaders = await open();
    const partial = heard(midHeaders);
    midHeaders.write(`GET /health HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n`);
    const watchSocket = await open();
    const watch = heard(watchSocket);
    watchSocket.write(`GET /watch?prefix= HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\naccept: text/event-stream\r\n\r\n`);
    while (!watch.text().includes('retry:')) await new Promise((r) => setTimeout(r, 20));

    server.child.kill('SIGTERM');
    expect(await Promise.all([spare.outcome, partial.outcome, watch.outcome])).toEqual(Array(3).fill('closed by the server'));
    expect(await server.exited).toBe(0);
    expect(spare.text()).toBe('');
    expect(partial.text()).toBe('');
    // The stream ended cleanly (the last chunk of a chunked body), so a browser reconnects: to no server, or a new one.
    expect(watch.text()).toMatch(/\r\n0\r\n\r\n$/);
    expect(server.stderr()).not.toContain('shutting down');
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
