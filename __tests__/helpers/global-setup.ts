/** One real memcached for the whole run; its address reaches every test through TBASE_TEST_SERVERS. */
import { startMemcached } from './memcached.ts';

export default async function globalSetup(): Promise<void> {
  const server = await startMemcached();
  process.env.TBASE_TEST_SERVERS = server.address;
  (globalThis as { __memcached?: typeof server }).__memcached = server;
}
