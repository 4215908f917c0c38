// One real memcached for the whole run; its address reaches every test through TBASE_TEST_SERVERS.
import { startMemcached } from './memcached.mjs';

export default async function globalSetup() {
  const server = await startMemcached();
  process.env.TBASE_TEST_SERVERS = server.address;
  globalThis.__memcached = server;
}
