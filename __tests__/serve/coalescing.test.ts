/**
 * Coalesced reads and group commit seen from HTTP clients of the built `tbase serve` (src/serve/rounds.ts): many
 * requests at once, each answered for itself; a conditional race with exactly one winner; clients that vanish
 * mid-request, without harm to the requests sharing their round.
 */
import { connect } from 'node:net';
import { runTbase } from '../helpers/tbase.js';
import { serverForFile } from './server-process.js';

const server = serverForFile();
const url = (key: string) => `${server().url}/keys/${encodeURIComponent(key)}`;

interface Rounds {
  reads: { rounds: number; items: number };
  writes: { rounds: number; items: number };
}
const roundCounts = async (): Promise<Rounds> => ((await (await fetch(`${server().url}/health`)).json()) as { rounds: Rounds }).rounds;

test('64 concurrent PUTs and then 64 concurrent GETs of distinct keys: every answer is its own', async () => {
  const before = await roundCounts();
  const keys = Array.from({ length: 64 }, (_, i) => `many:${i}`);
  const puts = await Promise.all(keys.map((key) => fetch(url(key), { method: 'PUT', body: `value of ${key}` })));
  expect(puts.map((res) => res.status)).toEqual(keys.map(() => 201));
  // Revisions are distinct and gap-free across the rounds these PUTs took.
  const revisions = puts.map((res) => Number(res.headers.get('etag')!.replace(/"/g, ''))).sort((a, b) => a - b);
  expect(revisions).toEqual(revisions.map((_, i) => revisions[0]! + i));
  const gets = await Promise.all(keys.map(async (key) => (await fetch(url(key))).text()));
  expect(gets).toEqual(keys.map((key) => `value of ${key}`));
  const after = await roundCounts();
  expect(after.writes.items - before.writes.items).toBe(64);
  expect(after.reads.items - before.reads.items).toBe(64);
  console.log(`coalescing: 64 PUTs took ${after.writes.rounds - before.writes.rounds} write rounds, 64 GETs ${after.reads.rounds - before.reads.rounds} read rounds`);
});

test('32 concurrent If-None-Match: * PUTs of one key: exactly one is created, the others get 412 with its ETag', async () => {
  const attempts = Array.from({ length: 32 }, (_, i) => `writer ${i}`);
  const answers = await Promise.all(attempts.map((body) => fetch(url('race'), { method: 'PUT', body, headers: { 'if-none-match': '*' } })));
  const statuses = answers.map((res) => res.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(1);
  expect(statuses.filter((s) => s === 412)).toHaveLength(31);
  const winner = attempts[statuses.indexOf(201)]!;
  const winnerTag = answers[statuses.indexOf(201)]!.headers.get('etag');
  for (const res of answers.filter((r) => r.status === 412)) {
    expect(res.headers.get('etag')).toBe(winnerTag);
    expect(await res.json()).toMatchObject({ ok: false, error: 'conflict', key: 'race', revision: Number(winnerTag!.replace(/"/g, '')) });
  }
  // The winner's value, from the server and from a separate process (a copy in memcached must be the winner's too).
  expect(await (await fetch(url('race'))).text()).toBe(winner);
  expect((await runTbase(['get', 'race'], { env: server().env })).stdout.toString()).toBe(`${winner}\n`);
});

test('If-Match races on one revision: one PUT wins, every other one fails alone, the DELETEs in the same rounds apply', async () => {
  const first = await fetch(url('cas'), { method: 'PUT', body: 'start' });
  const tag = first.headers.get('etag')!;
  await Promise.all(['d1', 'd2', 'd3'].map((key) => fetch(url(key), { method: 'PUT', body: key })));
  const [puts, deletes] = await Promise.all([
    Promise.all(Array.from({ length: 16 }, (_, i) => fetch(url('cas'), { method: 'PUT', body: `next ${i}`, headers: { 'if-match': tag } }))),
    Promise.all(['d1', 'd2', 'd3'].map((key) => fetch(url(key), { method: 'DELETE' }))),
  ]);
  expect(puts.map((r) => r.status).sort()).toEqual([204, ...Array(15).fill(412)]);
  expect(deletes.map((r) => r.status)).toEqual([204, 204, 204]);
  for (const key of ['d1', 'd2', 'd3']) expect((await fetch(url(key))).status).toBe(404);
});

/** Opens a raw connection, sends `request`, and destroys the socket without reading an answer. */
function sendAndVanish(request: string): Promise<void> {
  const { port } = new URL(server().url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(request, () => {
        socket.destroy();
        resolve();
      });
    });
    socket.on('error', reject);
  });
}

test('a client gone mid-body writes nothing; one gone after a whole request is written or not, never half; the round-mates are answered', async () => {
  const neighbours = Array.from({ length: 16 }, (_, i) => `mate:${i}`);
  const [, , answers] = await Promise.all([
    sendAndVanish('PUT /keys/half HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly ten b'),
    sendAndVanish('PUT /keys/whole HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nwhole'),
    Promise.all(neighbours.map((key) => fetch(url(key), { method: 'PUT', body: key }))),
  ]);
  expect(answers.map((r) => r.status)).toEqual(neighbours.map(() => 201));
  expect((await fetch(url('half'))).status).toBe(404);
  // The whole request may or may not have been read before the socket went: if it was written, it is all there.
  const whole = await fetch(url('whole'));
  expect([200, 404]).toContain(whole.status);
  if (whole.status === 200) expect(await whole.text()).toBe('whole');
  for (const key of neighbours) expect(await (await fetch(url(key))).text()).toBe(key);
  expect((await fetch(`${server().url}/health`)).status).toBe(200);
});
