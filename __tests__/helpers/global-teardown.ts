import type { MemcachedServer } from './memcached.ts';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __memcached?: MemcachedServer }).__memcached?.stop();
}
