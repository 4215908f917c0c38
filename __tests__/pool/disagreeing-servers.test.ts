/**
 * Processes that disagree about the memcached pool (issue: "Coherence when processes disagree about the pool"),
 * through the built bin with two real memcached servers and one SQLite file. Before the pool record, a reader on
 * m1,m2 and a writer on m1 gave 10 stale reads in 20 (the writer's tombstones reached m1 only); a reordered list
 * gave 20 in 20. Now the database decides: whoever is not on the recorded pool answers from SQLite and leaves its
 * invalidations in the outbox, with one notice per process.
 */
import { BatchSession } from '../helpers/batch-session.js';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from '../serve/server-process.js';

const KEYS = Array.from({ length: 20 }, (_, i) => `key-${i}`);
const NOTICE = 'are not the pool this database records';
let m1: MemcachedServer;
let m2: MemcachedServer;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  [m1, m2] = await Promise.all([startMemcached(), startMemcached()]);
});
afterAll(async () => {
  await stopAll(servers);
  await Promise.all([m1.stop(), m2.stop()]);
  removeTempDirs();
});

const open: Reader[] = [];
afterEach(() => closeAll(open.splice(0)));

async function closeAll(readers: Reader[]): Promise<void> {
  await Promise.all(readers.map((reader) => reader.close()));
  servers.splice(0);
}

const lines = (verb: string, value = '') => KEYS.map((key) => `${verb} ${key}${value ? ` ${value}` : ''}`).join('\n');
const count = (text: string, part: string) => text.split(part).length - 1;

/** A reader's front: it reads every key once and says how many answers were `stale` and how many came from memcached. */
interface Reader {
  name: string;
  read(): Promise<{ values: string[]; hits: number }>;
  notices(): string;
  close(): Promise<unknown>;
}

function oneShotBatch(db: string, list: string): Reader {
  let err = '';
  return {
    name: 'one-shot batch',
    async read() {
      const run = await runTbase(['--json', '--servers', list], { stdin: lines('get'), env: { TBASE_DB: db } });
      err += run.stderr;
      const answers = run.out.trim().split('\n').map((l) => JSON.parse(l) as { value: string; source: string });
      return { values: answers.map((a) => a.value), hits: answers.filter((a) => a.source === 'cache').length };
    },
    notices: () => err,
    close: async () => undefined,
  };
}

function longBatch(db: string, list: string): Reader {
  const session = new BatchSession(['--json', '--servers', list], { TBASE_DB: db });
  let seen = 0;
  return {
    name: 'long-running batch',
    async read() {
      session.send(KEYS.map((key) => `get ${key}`));
      const answers = (await session.waitForLines(seen + KEYS.length)).slice(seen).map((l) => JSON.parse(l) as { value: string; source: string });
      seen += KEYS.length;
      return { values: answers.map((a) => a.value), hits: answers.filter((a) => a.source === 'cache').length };
    },
    notices: () => session.err,
    close: () => session.end(),
  };
}

async function serveReader(db: string, list: string): Promise<Reader> {
  const server = await startServer({ dbPath: db, env: { TBASE_SERVERS: list } });
  servers.push(server);
  return {
    name: 'serve',
    async read() {
      const answers = await Promise.all(KEYS.map(async (key) => (await fetch(`${server.url}/keys/${key}?format=json`)).json() as Promise<{ value: string; source: string }>));
      return { values: answers.map((a) => a.value), hits: answers.filter((a) => a.source === 'cache').length };
    },
    notices: () => server.stderr(),
    close: () => server.stop(),
  };
}

/** samePool: the two lists are one pool (a set: order does not matter), so both sides use memcached. */
type Variant = [name: string, readerList: () => string, writerList: () => string, samePool: boolean];
const variants: Variant[] = [
  ['writer on a subset (m1), readers on m1,m2', () => `${m1.address},${m2.address}`, () => m1.address, false],
  ['writer on a superset (m1,m2), readers on m1', () => m1.address, () => `${m1.address},${m2.address}`, false],
  ['the same servers in another order', () => `${m1.address},${m2.address}`, () => `${m2.address},${m1.address}`, true],
  ['one server under two names', () => `127.0.0.1:${m1.port},127.0.0.1:${m2.port}`, () => `localhost:${m1.port},127.0.0.1:${m2.port}`, false],
];

describe.each(variants)('%s', (_name, readerList, writerList, samePool) => {
  test('readers that recorded the pool never read an old value after the writer returns', async () => {
    const db = tempDbPath();
    const readerServers = readerList();
    // The readers' side records the pool (the first process to use memcached on the database does).
    expect((await runTbase(['--servers', readerServers, 'batch'], { stdin: lines('set', 'v1'), env: { TBASE_DB: db } })).code).toBe(0);
    const readers = [oneShotBatch(db, readerServers), longBatch(db, readerServers), await serveReader(db, readerServers)];
    open.push(...readers);
    for (const reader of readers) await reader.read(); // fills the copies on the readers' pool
    for (const reader of readers) expect((await reader.read()).hits).toBe(KEYS.length); // ... and they are served

    for (const value of ['v2', 'v3']) {
      const write = await runTbase(['--servers', writerList(), 'batch'], { stdin: lines('set', value), env: { TBASE_DB: db } });
      expect(write.code).toBe(0);
      for (const reader of readers) {
        const { values } = await reader.read();
        const stale = values.filter((v) => v !== value).length;
        expect({ reader: reader.name, stale }).toEqual({ reader: reader.name, stale: 0 });
      }
      // A one-shot `get` too.
      const get = await runTbase(['--servers', readerServers, 'get', 'key-7'], { env: { TBASE_DB: db } });
      expect(get.out).toBe(`${value}\n`);
      // Not on the pool: one notice naming both lists and the command that changes the pool.
      expect(count(write.stderr, NOTICE)).toBe(samePool ? 0 : 1);
      if (!samePool) expect(write.stderr).toContain(`tbase cache pool set ${writerList().split(',').sort().join(',')}`);
    }
    // The writer's invalidations were all delivered (by the readers, when not on the pool), nobody on it was told off.
    const stats = JSON.parse((await runTbase(['--json', '--servers', readerServers, 'stats'], { env: { TBASE_DB: db } })).out) as { pool: { using: boolean }; pendingInvalidations: number };
    expect(stats).toMatchObject({ pool: { using: true }, pendingInvalidations: 0 });
    await closeAll(readers);
    for (const reader of readers) expect(reader.notices()).not.toContain(NOTICE);
  }, 60_000);

  test('a reader that is not on the recorded pool answers from SQLite, with one notice per process', async () => {
    const db = tempDbPath();
    const writerServers = writerList();
    expect((await runTbase(['--servers', writerServers, 'batch'], { stdin: lines('set', 'v1'), env: { TBASE_DB: db } })).code).toBe(0);
    const readers = [oneShotBatch(db, readerList()), longBatch(db, readerList()), await serveReader(db, readerList())];
    open.push(...readers);
    for (const value of ['v1', 'v2']) {
      if (value !== 'v1') expect((await runTbase(['--servers', writerServers, 'batch'], { stdin: lines('set', value), env: { TBASE_DB: db } })).code).toBe(0);
      for (const reader of readers) {
        const { values, hits } = await reader.read();
        expect({ reader: reader.name, stale: values.filter((v) => v !== value).length }).toEqual({ reader: reader.name, stale: 0 });
        if (!samePool) expect({ reader: reader.name, hits }).toEqual({ reader: reader.name, hits: 0 }); // never a copy
      }
    }
    await closeAll(readers); // a process's stderr is complete once it has exited
    const [oneShot, ...longRunning] = readers;
    expect(count(oneShot!.notices(), NOTICE)).toBe(samePool ? 0 : 2); // two processes, one notice each
    for (const reader of longRunning) {
      expect({ reader: reader.name, notices: count(reader.notices(), NOTICE) }).toEqual({ reader: reader.name, notices: samePool ? 0 : 1 });
    }
    // The reader's invalidations (none here) and the writer's are all delivered: the outbox is empty on the pool.
    const stats = JSON.parse((await runTbase(['--json', '--servers', writerServers, 'stats'], { env: { TBASE_DB: db } })).out) as { pool: { using: boolean }; pendingInvalidations: number };
    expect(stats.pool.using).toBe(true);
    expect(stats.pendingInvalidations).toBe(0);
    await closeAll(readers);
  }, 60_000);
});
