/**
 * A long-running REPL (the built bin in tmux) while other processes write on another server list and change the
 * pool: it never shows an old value, says once that it is off the pool, and follows the record back.
 */
import { join } from 'node:path';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir } from '../helpers/temp.js';
import { TmuxSession } from '../repl/tmux.js';

let m1: MemcachedServer;
let m2: MemcachedServer;
let session: TmuxSession | undefined;

beforeAll(async () => {
  [m1, m2] = await Promise.all([startMemcached(), startMemcached()]);
});
afterAll(async () => {
  session?.kill();
  await Promise.all([m1.stop(), m2.stop()]);
  removeTempDirs();
});

const NOTICE = 'are not the pool this database records';
const lastLine = (screen: string) => screen.split('\n').at(-1) ?? '';

test('the REPL on m1 while the pool goes m1 -> m1,m2 -> m1 and writers on m1,m2 write', async () => {
  const db = tempDbPath();
  const both = `${m1.address},${m2.address}`;
  const tbase = (servers: string, ...args: string[]) => runTbase(['--servers', servers, ...args], { env: { TBASE_DB: db } });
  expect((await tbase(m1.address, 'set', 'k', 'v1')).code).toBe(0); // records m1
  session = TmuxSession.start(['--db', db, '--servers', m1.address], { TBASE_HISTORY: join(tempDir(), 'history') });
  expect(await session.waitForPrompt()).toContain(`cache     up ${m1.address}`);
  await session.run('timing on');
  expect(await session.run('get k')).toMatch(/^v1\n.*cache miss/);
  expect(await session.run('get k')).toMatch(/^v1\n.*cache hit/);

  // A writer off the pool: its invalidation waits in the outbox, and the REPL replays it before reading.
  const offPool = await tbase(both, 'set', 'k', 'v2');
  expect(offPool.stderr).toContain(NOTICE);
  expect(await session.run('get k')).toMatch(/^v2\n/);

  // The pool moves to m1,m2: the REPL notices at its next read, answers from SQLite, and says so once.
  expect((await tbase(both, 'cache', 'pool', 'set', both)).code).toBe(0);
  const off = await session.run('get k');
  expect(off).toMatch(/(^|\n)v2\n/);
  expect(off.split(NOTICE).length - 1).toBe(1);
  expect(lastLine(session.screen())).toBe('tbase (no cache)>');
  expect((await tbase(both, 'set', 'k', 'v3')).code).toBe(0); // on the pool now
  const again = await session.run('get k');
  expect(again).toMatch(/^v3\n/);
  expect(again).not.toContain(NOTICE);
  expect(await session.run('cache pool')).toMatch(/pool epoch {2,}2\n[\s\S]*pool in use {2,}no/);

  // And back to m1 (epoch 3): the REPL uses memcached again, never the copy of v1 it made under epoch 1.
  expect((await tbase(m1.address, 'cache', 'pool', 'set', m1.address)).code).toBe(0);
  expect(await session.run('get k')).toMatch(/^v3\n.*cache miss/);
  expect(lastLine(session.screen())).toBe('tbase>');
  expect(await session.run('get k')).toMatch(/^v3\n.*cache hit/);
  session.press('C-d');
  expect(await session.exitStatus()).toBe(0);
}, 60_000);
