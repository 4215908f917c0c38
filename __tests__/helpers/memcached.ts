/** Real memcached servers for tests (the implementation is shared with jest's global setup). */
export { freePort, memcachedBinary, startMemcached, type MemcachedServer } from './memcached.mjs';
