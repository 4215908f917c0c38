import { cacheKey, placementOf } from '../../src/store/cache.js';
import { describeMemcachePool } from '../helpers/memcache-pool-cases.js';

describe('cacheKey', () => {
  test('keeps short printable keys readable and hashes everything memcached cannot take', () => {
    expect(cacheKey('ab12', 3, 'user:42')).toBe('tb:ab12.3:user:42');
    for (const key of ['with space', 'tab\tkey', 'ключ', '🔑', 'x'.repeat(300), 'nl\n']) {
      const k = cacheKey('ab12', 3, key);
      expect(k).toMatch(/^tb:ab12\.3#[A-Za-z0-9_-]{43}$/);
      expect(Buffer.byteLength(k)).toBeLessThanOrEqual(250);
    }
    expect(cacheKey('ab12', 1, 'a b')).not.toBe(cacheKey('ab12', 1, 'a  b'));
    expect(cacheKey('ab12', 1, 'k')).not.toBe(cacheKey('cd34', 1, 'k'));
    // Epochs never share a copy, and no key of one reads as a key of another or of the pre-epoch format.
    expect(cacheKey('ab12', 1, '2:k')).not.toBe(cacheKey('ab12', 12, 'k'));
    expect(cacheKey('ab12', 1, 'k')).not.toBe('tb:ab12:k');
  });

  test('placement ignores the epoch: a key keeps its server from one epoch to the next', () => {
    expect(placementOf(cacheKey('ab12', 1, 'user:42'))).toBe(placementOf(cacheKey('ab12', 977, 'user:42')));
    expect(placementOf(cacheKey('ab12', 1, 'ключ'))).toBe(placementOf(cacheKey('ab12', 2, 'ключ')));
    expect(placementOf(cacheKey('ab12', 1, 'a'))).not.toBe(placementOf(cacheKey('ab12', 1, 'b')));
  });
});

describeMemcachePool('node:net');
