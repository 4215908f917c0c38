/**
 * `tbase cache pool set` while long-running processes keep reading and writing, through the built bin with two real
 * memcached servers. The pool goes m1 → m1,m2 → m1 (epochs 1, 2, 3). A scripted part puts copies in memcached under
 * one epoch and writes the key under the next, from processes on either pool; a background load writes and reads
 * hot keys throughout and checks read-after-write: a read started after a write was acknowledged never returns an
 * older value.
 */
import { BatchSession } from '../helpers/batch-session.js';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from '../serve/server-process.js';

interface Answer {
  ok: boolean;
  value?: string;
  source?: string;
}

/** One request, one answer: a long-running `tbase batch --json`, or `tbase serve`, seen as a key-value client. */
interface Client {
  name: string;
  get(key: string): Promise<Answer>;
  set(key: string, value: string): Promise<void>;
  stderr(): string;
}

function batchClient(name: string, db: string, servers: string, sessions: BatchSession[]): Client {
  const session = new BatchSession(['--json', '--servers', servers], { TBASE_DB: db });
  sessions.push(session);
  let answered = 0;
  const ask = async (line: string) => {
    session.send([line]);
    const lines = await session.waitForLines(++answered);
    return JSON.parse(lines[answered - 1]!) as Answer;
  };
  return {
    name,
    get: (key) => ask(`get ${key}`),
    async set(key, value) {
      expect((await ask(`set ${key} ${value}`)).ok).toBe(true);
    },
    stderr: () => session.err,
  };
}

function serveClient(name: string, server: ServerProcess): Client {
  return {
    name,
    async get(key) {
      const res = await fetch(`${server.url}/keys/${key}?format=json`);
      return res.status === 404 ? { ok: false } : ((await res.json()) as Answer);
    },
    async set(key, value) {
      expect((await fetch(`${server.url}/keys/${key}`, { method: 'PUT', body: value })).ok).toBe(true);
    },
    stderr: () => server.stderr(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let m1: MemcachedServer;
let m2: MemcachedServer;
const sessions: BatchSession[] = [];
const servers: ServerProcess[] = [];

beforeAll(async () => {
  [m1, m2] = await Promise.all([startMemcached(), startMemcached()]);
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.end()));
  await stopAll(servers);
  await Promise.all([m1.stop(), m2.stop()]);
  removeTempDirs();
});

test('a pool change under load: no stale read, and every process follows the recorded pool', async () => {
  const db = tempDbPath();
  const one = m1.address;
  const both = `${m1.address},${m2.address}`;
  const setPool = async (list: string, epoch: number) => {
    const run = await runTbase(['--json', 'cache', 'pool', 'set', list], { env: { TBASE_DB: db } });
    expect(JSON.parse(run.out)).toMatchObject({ ok: true, changed: true, recorded: { epoch } });
  };
  expect((await runTbase(['--servers', one, 'set', 'q', '1'], { env: { TBASE_DB: db } })).code).toBe(0); // records m1

  const serveBoth = await startServer({ dbPath: db, env: { TBASE_SERVERS: both } });
  servers.push(serveBoth);
  const onOne = [batchClient('batch on m1', db, one, sessions)];
  const onBoth = [batchClient('batch on m1,m2', db, both, sessions), serveClient('serve on m1,m2', serveBoth)];
  const everyone = [...onOne, ...onBoth];
  const writerOnOne = batchClient('writer on m1', db, one, sessions);
  const writerOnBoth = batchClient('writer on m1,m2', db, both, sessions);

  // Background load: hot keys written by both sides and read by everyone, checked for read-after-write.
  const acked = new Map<string, number>();
  const violations: string[] = [];
  let stop = false;
  let reads = 0;
  let hotHits = 0;
  // Each hot key is written every second or two, so copies live a while between writes (a write's tombstone keeps
  // the key out of memcached for its 3 s) and a fresh epoch has none: reads hit as well as miss.
  const HOT = Array.from({ length: 24 }, (_, i) => `h${i}`);
  const pick = <T>(items: T[]) => items[Math.floor(Math.random() * items.length)]!;
  const hotWriter = async (client: Client, keys: string[]) => {
    for (let n = 1; !stop; n++) {
      const key = pick(keys);
      await client.set(key, String(n));
      acked.set(key, n);
      await sleep(60);
    }
  };
  const hotReader = async (client: Client) => {
    while (!stop) {
      const key = pick(HOT);
      const required = acked.get(key) ?? 0;
      const answer = await client.get(key);
      const seen = answer.ok ? Number(answer.value) : 0;
      reads++;
      if (answer.source === 'cache') hotHits++;
      if (seen < required) violations.push(`${client.name} read ${key}=${seen} after ${required} was acknowledged`);
    }
  };
  const hotOne = batchClient('hot writer on m1', db, one, sessions);
  const hotBoth = batchClient('hot writer on m1,m2', db, both, sessions);
  const hotReaders = [batchClient('hot reader on m1', db, one, sessions), batchClient('hot reader on m1,m2', db, both, sessions), serveClient('serve on m1,m2', serveBoth)];
  const load = Promise.all([
    hotWriter(hotOne, HOT.filter((_, i) => i % 2 === 0)),
    hotWriter(hotBoth, HOT.filter((_, i) => i % 2 === 1)),
    ...hotReaders.map(hotReader),
  ]);
  // Each epoch lasts a while under the load, beside the scripted steps.
  const EPOCH_MS = 1500;

  const expectEveryone = async (key: string, value: string) => {
    for (const client of everyone) expect({ client: client.name, key, value: (await client.get(key)).value }).toEqual({ client: client.name, key, value });
  };
  const sources = async (clients: Client[], key: string) => Promise.all(clients.map(async (c) => (await c.get(key)).source));

  // Epoch 1 (m1): the m1 side fills and hits `q`; the m1,m2 side is not on the pool and never reads a copy.
  await expectEveryone('q', '1');
  expect(await sources(onOne, 'q')).toEqual(['cache']);
  expect(await sources(onBoth, 'q')).toEqual(['store', 'store']);
  await sleep(EPOCH_MS);

  // Epoch 2 (m1,m2): the copy of q=1 on m1 stays in memcached, but no process may serve it after this write.
  await setPool(both, 2);
  await writerOnBoth.set('q', '2');
  await expectEveryone('q', '2');
  await writerOnBoth.set('r', '1'); // a fresh key: no tombstone, so the new pool's side fills and hits it
  await expectEveryone('r', '1');
  expect(await sources(onBoth, 'r')).toEqual(['cache', 'cache']);
  expect(await sources(onOne, 'r')).toEqual(['store']);
  await writerOnOne.set('r', '2'); // off the pool: its invalidation waits in the outbox for the m1,m2 side
  await expectEveryone('r', '2');
  await sleep(EPOCH_MS);

  // Epoch 3 (m1 again): copies made under epoch 1 (q=1 on m1) are never read again.
  await setPool(one, 3);
  await writerOnBoth.set('q', '3');
  await expectEveryone('q', '3');
  await writerOnOne.set('s', '1');
  await expectEveryone('s', '1');
  expect(await sources(onOne, 's')).toEqual(['cache']);
  expect(await sources(onBoth, 's')).toEqual(['store', 'store']);
  await sleep(EPOCH_MS);

  stop = true;
  await load;
  console.log(`pool change under load: ${reads} hot reads (${hotHits} from memcached), ${acked.size} hot keys, ${violations.length} stale`);
  expect(violations).toEqual([]);
  expect(reads).toBeGreaterThan(100);
  expect(hotHits).toBeGreaterThan(0);

  // Each long-running process said so when it found itself off the pool: once per recorded pool it was not on.
  const notices = (client: Client) => client.stderr().split('are not the pool this database records').length - 1;
  expect(notices(onOne[0]!)).toBe(1); // off during epoch 2
  expect(notices(onBoth[0]!)).toBe(2); // off during epochs 1 and 3
  expect(notices(onBoth[1]!)).toBe(2);
  const health = (await (await fetch(`${serveBoth.url}/health`)).json()) as { pool: { recorded: { epoch: number }; using: boolean }; cache: string };
  expect(health).toMatchObject({ pool: { recorded: { epoch: 3 }, using: false }, cache: 'off' });
}, 90_000);
