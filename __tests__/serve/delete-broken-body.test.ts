/**
 * Regression (found by properties/bad-http.test.ts): a DELETE whose chunked body was malformed got Node's
 * `400 Bad Request` — and the key was deleted all the same, as the handler ran from the request head alone. Now
 * the request is read in full before anything is deleted.
 */
import { connect } from 'node:net';
import { serverForFile } from './server-process.js';

const server = serverForFile();

function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data));
    socket.write(request);
  });
}

test('a DELETE with a broken chunked body is refused and deletes nothing', async () => {
  const { url, port } = server();
  expect((await fetch(`${url}/keys/k`, { method: 'PUT', body: 'v' })).status).toBe(201);
  const answer = await raw(port, 'DELETE /keys/k HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nv\r\n0\r\n\r\n');
  expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  // /health is answered after the store has finished anything the DELETE started.
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const after = await fetch(`${url}/keys/k`);
  expect(after.status).toBe(200);
  expect(await after.text()).toBe('v');
});

test('a DELETE with a well-formed body still deletes', async () => {
  const { port, url } = server();
  expect((await fetch(`${url}/keys/j`, { method: 'PUT', body: 'v' })).status).toBe(201);
  const answer = await raw(port, 'DELETE /keys/j HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc');
  expect(answer).toMatch(/^HTTP\/1\.1 204 /);
  expect((await fetch(`${url}/keys/j`)).status).toBe(404);
});
