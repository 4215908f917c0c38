/**
 * The MemcachePool cases, run once per socket memjs can be given (memcache.test.ts: node:net's;
 * memcache-lean.test.ts: the lean socket made on Node's TCP handle, which one-shot commands use). A test file
 * that changes memjs's socket imports this module only after doing so: memjs takes node:net when it loads.
 */
import { MemcachePool } from '../../src/store/memcache.js';
import { CacheError } from '../../src/errors.js';
import { closingServer, halfReplyServer, racedCounterServer, rechunkingProxy, silentServer } from './fake-servers.js';
import { startMemcached } from './memcached.js';
import { testServers } from './temp.js';

/** Against servers that fail on purpose: the deadline is what these tests watch, so it is short. */
const options = { timeoutMs: 300, retryAfterMs: 1000 };
/**
 * Against a healthy memcached the deadline is not under test, and 300 ms is too short on a loaded machine (CI runs
 * many jest workers): a tick of 400 sets and the connection's handshake share one deadline, and once missed it.
 */
const healthy = { timeoutMs: 5000, retryAfterMs: 1000 };
let counter = 0;
const unique = () => `test-${process.pid}-${Date.now()}-${counter++}`;

/** An address where nothing listens: a memcached's, just after it stopped. */
async function refusingAddress(): Promise<string> {
  const memcached = await startMemcached();
  await memcached.stop();
  return memcached.address;
}

/** `transport` names the socket memjs is using, in the describe titles. */
export function describeMemcachePool(transport: string): void {
  describe(`MemcachePool against real memcached (${transport})`, () => {
    let pool: MemcachePool;
    beforeEach(() => {
      pool = new MemcachePool([testServers()], healthy);
    });
    afterEach(() => pool.close());

    test('get, set, add and increment', async () => {
      const key = unique();
      expect(await pool.get(key)).toBeNull();
      expect(await pool.add(key, Buffer.from('first'), 0)).toBe(true);
      expect(await pool.add(key, Buffer.from('second'), 0)).toBe(false);
      expect((await pool.get(key))?.toString()).toBe('first');
      await pool.set(key, Buffer.from('third'), 0);
      expect((await pool.get(key))?.toString()).toBe('third');
      const counterKey = unique();
      expect(await pool.increment(counterKey, 5)).toBe(5);
      expect(await pool.increment(counterKey, 2)).toBe(7);
      expect(pool.health()).toEqual({ [testServers()]: 'up' });
    });

    test('increment: counters created at `by`, several in one round, 64-bit values, a refusal fails that call only', async () => {
      const [a, b, big, text] = [unique(), unique(), unique(), unique()];
      // Issued in one tick: one round (memjs-rounds.ts writes each call's INCREMENT in one buffer), each answered with
      // its own counter's value.
      expect(await Promise.all([pool.increment(a, 1), pool.increment(b, 10), pool.increment(a, 2)])).toEqual([1, 10, 3]);
      expect(await pool.increment(big, 2 ** 40)).toBe(2 ** 40);
      expect(await pool.increment(big, 2 ** 40 + 5)).toBe(2 ** 41 + 5);
      expect((await pool.get(big))?.toString()).toBe(String(2 ** 41 + 5));
      await pool.set(text, Buffer.from('not a number'), 0);
      await expect(pool.increment(text, 1)).rejects.toThrow(/refused increment: MemJS INCREMENT: incr\/decr on a non-numeric value/);
      expect(pool.health()).toEqual({ [testServers()]: 'up' });
      expect(await pool.increment(a, 1)).toBe(4);
    });

    test('getMany: one round of many keys, answers in order, hits and misses, any bytes', async () => {
      const keys = Array.from({ length: 600 }, () => unique());
      const values = keys.map((_, i) => (i % 3 === 0 ? null : Buffer.from(Array.from({ length: 1 + (i % 50) }, (_, j) => (i * 7 + j) & 0xff))));
      await Promise.all(keys.map((key, i) => (values[i] ? pool.set(key, values[i]!, 0) : undefined)));
      const got = await pool.getMany(keys);
      expect(got).toHaveLength(keys.length);
      got.forEach((copy, i) => {
        if (values[i] === null) expect(copy).toBeNull();
        else expect(Buffer.compare(copy as Buffer, values[i]!)).toBe(0);
      });
    });

    test('getMany shares the connection with memjs\'s own requests: every reply reaches its caller', async () => {
      const keys = Array.from({ length: 300 }, () => unique());
      await Promise.all(keys.map((key) => pool.set(key, Buffer.from(`v-${key}`), 0)));
      // Interleave: memjs's get() and sets in flight alongside getMany rounds, all on one connection.
      const [many, singles, more] = await Promise.all([
        pool.getMany(keys),
        Promise.all(keys.slice(0, 50).map((key) => pool.get(key))),
        pool.getMany([...keys].reverse()),
      ]);
      expect(many.map((copy) => (copy as Buffer).toString())).toEqual(keys.map((key) => `v-${key}`));
      expect(singles.map((copy) => copy!.toString())).toEqual(keys.slice(0, 50).map((key) => `v-${key}`));
      expect(more.map((copy) => (copy as Buffer).toString())).toEqual([...keys].reverse().map((key) => `v-${key}`));
    });

    test('getMany reads replies in place: values of many chunks each, beside small ones, byte for byte', async () => {
      const keys = Array.from({ length: 12 }, () => unique());
      const values = keys.map((_, i) => Buffer.from(Array.from({ length: i % 3 === 0 ? 900 * 1024 + i : 10 + i }, (_, j) => (i * 31 + j * 7) & 0xff)));
      await pool.setMany(keys.map((key, i) => ({ key, value: values[i]!, ttlSeconds: 30 })));
      const got = await pool.getMany([...keys, unique()]);
      values.forEach((value, i) => expect(Buffer.compare(got[i] as Buffer, value)).toBe(0));
      expect(got.at(-1)).toBeNull();
    });

    test('getMany with every reply cut into pieces (1 to 40 bytes, mid-header and mid-value): every answer whole and in order', async () => {
      const proxy = await rechunkingProxy(testServers(), [1, 3, 24, 2, 40, 7, 23, 25, 5]);
      const split = new MemcachePool([proxy.address], healthy);
      try {
        const keys = Array.from({ length: 60 }, () => unique());
        const values = keys.map((key, i) => (i % 4 === 0 ? null : Buffer.from(`${key}:${'v'.repeat(i)}`)));
        await Promise.all(keys.map((key, i) => (values[i] ? pool.set(key, values[i]!, 0) : undefined)));
        // Two rounds and memjs's own calls in flight together on the one split connection.
        const [first, single, second] = await Promise.all([split.getMany(keys), split.get(keys[1]!), split.getMany([...keys].reverse())]);
        expect(first.map((copy) => copy?.toString() ?? null)).toEqual(values.map((value) => value?.toString() ?? null));
        expect(single?.toString()).toBe(values[1]!.toString());
        expect(second.map((copy) => copy?.toString() ?? null)).toEqual([...values].reverse().map((value) => value?.toString() ?? null));
        expect(split.health()[proxy.address]).toBe('up');
      } finally {
        split.close();
        await proxy.close();
      }
    });

    test('setMany: one round of sets, each stored or refused on its own (a value too large), the server still up', async () => {
      const keys = [unique(), unique(), unique()];
      const results = await pool.setMany([
        { key: keys[0]!, value: Buffer.from('T'), ttlSeconds: 3 },
        { key: keys[1]!, value: Buffer.alloc(2 * 1024 * 1024), ttlSeconds: 3 },
        { key: keys[2]!, value: Buffer.from([0, 255]), ttlSeconds: 3 },
      ]);
      expect(results[0]).toBe(true);
      expect(results[1]).toBeInstanceOf(CacheError);
      expect(results[2]).toBe(true);
      expect(await pool.getMany(keys)).toEqual([Buffer.from('T'), null, Buffer.from([0, 255])]);
      expect(pool.health()[testServers()]).toBe('up');
    });

    test('a value too large is refused without marking the server down', async () => {
      await expect(pool.set(unique(), Buffer.alloc(2 * 1024 * 1024), 0)).rejects.toBeInstanceOf(CacheError);
      expect(pool.health()[testServers()]).toBe('up');
      expect(await pool.get(unique())).toBeNull();
    });
  });


  describe(`MemcachePool faults (${transport})`, () => {
    test('a counter created by another process at the same moment ("not stored") is incremented again, not a fault', async () => {
      const server = await racedCounterServer(7n);
      const pool = new MemcachePool([server.address], options);
      try {
        expect(await pool.increment('tb:x!hits', 4)).toBe(7);
        expect(server.seen.increments).toBe(2);
        expect(pool.health()).toEqual({ [server.address]: 'up' });
      } finally {
        pool.close();
        await server.close();
      }
    });

    test('a server that accepts and never answers fails each call within the timeout, then is skipped', async () => {
      const server = await silentServer();
      const pool = new MemcachePool([server.address], options);
      const started = Date.now();
      await expect(pool.get('k')).rejects.toThrow(/did not answer get within 300 ms/);
      expect(Date.now() - started).toBeLessThan(300 + 500);
      const again = Date.now();
      await expect(pool.set('k', Buffer.from('v'), 0)).rejects.toThrow(/is down/);
      expect(Date.now() - again).toBeLessThan(50);
      expect(pool.health()[server.address]).toBe('down');
      pool.close();
      await server.close();
    });

    test('a server that closes the connection mid-request fails the call promptly', async () => {
      const server = await closingServer();
      const pool = new MemcachePool([server.address], options);
      const started = Date.now();
      await expect(pool.get('k')).rejects.toBeInstanceOf(CacheError);
      expect(Date.now() - started).toBeLessThan(300 + 500);
      pool.close();
      await server.close();
    });

    test.each(['getMany', 'setMany'] as const)('%s against a server that never answers, or closes mid-request: every key fails, within the timeout', async (round) => {
      for (const server of [await silentServer(), await closingServer()]) {
        const pool = new MemcachePool([server.address], options);
        const started = Date.now();
        const keys = ['a', 'b', 'c'];
        const results = round === 'getMany' ? await pool.getMany(keys) : await pool.setMany(keys.map((key) => ({ key, value: Buffer.from('T'), ttlSeconds: 3 })));
        expect(Date.now() - started).toBeLessThan(300 + 500);
        for (const result of results) expect(result).toBeInstanceOf(CacheError);
        expect(pool.health()[server.address]).toBe('down');
        pool.close();
        await server.close();
      }
    });

    test('a connection dropped in the middle of a reply: the round fails, and the half frame never reaches the next connection', async () => {
      const server = await halfReplyServer(Buffer.from('0123456789abcdefghij'));
      const pool = new MemcachePool([server.address], { timeoutMs: 300, retryAfterMs: 50 });
      try {
        for (const result of await pool.getMany(['a', 'b'])) expect(result).toBeInstanceOf(CacheError);
        expect(pool.health()[server.address]).toBe('down');
        await new Promise((resolve) => setTimeout(resolve, 80));
        expect((await pool.getMany(['a', 'b', 'c'])).map((copy) => copy?.toString())).toEqual(Array(3).fill('0123456789abcdefghij'));
        expect(pool.health()[server.address]).toBe('up');
      } finally {
        pool.close();
        await server.close();
      }
    });

    test('nothing listening: refused at once', async () => {
      const address = await refusingAddress();
      const pool = new MemcachePool([address], options);
      await expect(pool.get('k')).rejects.toThrow(/ECONNREFUSED/);
      pool.close();
    });

    test('connect() opens the connection before any request and never fails by itself', async () => {
      let connections = 0;
      const server = await silentServer(() => connections++);
      const pool = new MemcachePool([server.address], options);
      pool.connect();
      await new Promise((r) => setTimeout(r, 100));
      expect(connections).toBe(1); // the handshake is done: the first request will not pay for it
      expect(pool.health()[server.address]).toBe('unknown'); // nothing was asked yet
      await expect(pool.get('k')).rejects.toThrow(/did not answer get/);
      expect(connections).toBe(1); // the request went over the early connection
      pool.close();
      await server.close();
    });

    test('connect() to a server that refuses: no error until a call, which reports it', async () => {
      const address = await refusingAddress();
      const pool = new MemcachePool([address], options);
      pool.connect();
      await new Promise((r) => setTimeout(r, 100)); // the refusal arrives with nobody waiting: nothing may throw
      await expect(pool.get('k')).rejects.toThrow(/ECONNREFUSED/);
      expect(pool.health()[address]).toBe('down');
      pool.connect(); // inside the retry pause: does nothing
      await expect(pool.get('k')).rejects.toThrow(/is down/);
      pool.close();
    });

    test('a server that comes back is used again after the retry pause', async () => {
      const memcached = await startMemcached();
      const pool = new MemcachePool([memcached.address], { timeoutMs: healthy.timeoutMs, retryAfterMs: 200 });
      await pool.set('k', Buffer.from('v'), 0);
      await memcached.stop();
      await expect(pool.get('k')).rejects.toBeInstanceOf(CacheError);
      const back = await startMemcached(memcached.port);
      await new Promise((r) => setTimeout(r, 250));
      expect(await pool.get('k')).toBeNull(); // a fresh server: empty, but answering
      expect(pool.health()[back.address]).toBe('up');
      pool.close();
      await back.stop();
    });

    test('in a pool, one dead server costs only its own keys', async () => {
      const live = await startMemcached();
      const dead = await silentServer();
      const pool = new MemcachePool([live.address, dead.address], options);
      const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
      const results = await Promise.allSettled(keys.map((k) => pool.set(k, Buffer.from(k), 0)));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      expect(ok).toBeGreaterThan(5);
      expect(ok).toBeLessThan(35);
      expect(pool.health()).toEqual({ [live.address]: 'up', [dead.address]: 'down' });
      const served = await Promise.allSettled(keys.map((k) => pool.get(k)));
      expect(served.filter((r) => r.status === 'fulfilled' && r.value !== null).length).toBe(ok);
      pool.close();
      await dead.close();
      await live.stop();
    });
  });
}
