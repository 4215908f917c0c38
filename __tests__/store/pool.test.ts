/** The pool record (pool.ts) and key placement (placement.ts): pure functions, no servers. */
import { cacheKey, placementOf } from '../../src/store/cache.js';
import { Placement } from '../../src/store/placement.js';
import { canonicalServers, decodePoolRecord, encodePoolRecord, HASHING, newPoolRecord, usesPool } from '../../src/store/pool.js';

describe('pool record', () => {
  const record = newPoolRecord(['10.0.0.2:11211', '10.0.0.1:11211'], 4);

  test('a process uses the record when its servers are the same set, in any order or spelling of case and port', () => {
    expect(record.servers).toEqual(['10.0.0.1:11211', '10.0.0.2:11211']);
    expect(usesPool(record, ['10.0.0.1:11211', '10.0.0.2:11211'])).toBe(true);
    expect(usesPool(record, ['10.0.0.2:11211', '10.0.0.1:011211'])).toBe(true);
    expect(usesPool(record, ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.1:11211'])).toBe(true);
    expect(canonicalServers(['Cache-A.example:11211', 'cache-a.EXAMPLE:11211'])).toEqual(['cache-a.example:11211']);
  });

  test('a subset, a superset, another server or another name of one server is not the pool', () => {
    expect(usesPool(record, ['10.0.0.1:11211'])).toBe(false);
    expect(usesPool(record, ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'])).toBe(false);
    expect(usesPool(record, ['10.0.0.1:11211', '10.0.0.2:11212'])).toBe(false);
    expect(usesPool(newPoolRecord(['127.0.0.1:11211'], 1), ['localhost:11211'])).toBe(false);
  });

  test('a record under another hashing scheme is never used', () => {
    expect(usesPool({ ...record, hashing: 'modulo' }, record.servers)).toBe(false);
  });

  test('round-trips through its stored text; unreadable text is no record', () => {
    expect(decodePoolRecord(encodePoolRecord(record))).toEqual({ servers: record.servers, hashing: HASHING, epoch: 4 });
    for (const text of ['', '{', '[]', '{"servers":"a","hashing":"x","epoch":1}', '{"servers":[],"hashing":"x","epoch":0}', '{"servers":[1],"hashing":"x","epoch":1}']) {
      expect(decodePoolRecord(text)).toBeNull();
    }
    expect(decodePoolRecord(null)).toBeNull();
  });
});

describe('placement', () => {
  const servers = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:11211`);
  const keys = Array.from({ length: 40_000 }, (_, i) => placementOf(cacheKey('0123456789abcdef01234567', 1, `tenant:${i}:config`)));

  test('4 -> 5 servers moves about a fifth of the keys, all of them to the new server (modulo moved four fifths)', () => {
    const four = new Placement(servers(4));
    const five = new Placement(servers(5));
    let moved = 0;
    let movedElsewhere = 0;
    let moduloMoved = 0;
    for (const [i, key] of keys.entries()) {
      const before = four.servers[four.indexOf(key)];
      const after = five.servers[five.indexOf(key)];
      if (before !== after) {
        moved++;
        if (after !== '10.0.0.5:11211') movedElsewhere++;
      }
      if (i % 4 !== i % 5) moduloMoved++; // what `hash % servers` does to evenly spread hashes
    }
    console.log(`placement 4 -> 5 servers, ${keys.length} keys: rendezvous moved ${(100 * moved / keys.length).toFixed(1)}%, modulo ${(100 * moduloMoved / keys.length).toFixed(1)}%`);
    expect(moved / keys.length).toBeGreaterThan(0.18);
    expect(moved / keys.length).toBeLessThan(0.22);
    expect(movedElsewhere).toBe(0);
  });

  test('keys spread evenly, and the order of the list changes nothing', () => {
    const five = new Placement(servers(5));
    const shuffled = new Placement([...servers(5)].reverse());
    const counts = new Map<string, number>();
    let disagree = 0;
    for (const key of keys) {
      const server = five.servers[five.indexOf(key)]!;
      if (shuffled.servers[shuffled.indexOf(key)] !== server) disagree++;
      counts.set(server, (counts.get(server) ?? 0) + 1);
    }
    expect(disagree).toBe(0);
    expect(counts.size).toBe(5);
    for (const count of counts.values()) expect(Math.abs(count / keys.length - 0.2)).toBeLessThan(0.01);
  });

  test('the epoch does not move a key; a one-server pool places everything on it', () => {
    const three = new Placement(servers(3));
    expect(three.indexOf(placementOf(cacheKey('ab', 1, 'k')))).toBe(three.indexOf(placementOf(cacheKey('ab', 9, 'k'))));
    expect(new Placement(['a:1']).indexOf('anything')).toBe(0);
  });
});
