// Baseline process for the batch get rows: memjs alone, no SQLite, no parsing — N gets of the given cache keys,
// `window` in flight at a time on one connection (the window tbase's batch reads use). Prints the hit count.
// Usage: node bench/raw-memjs.js <host:port> <key prefix> <N> <window>
import memjs from 'memjs';

const [address, prefix, n, window] = process.argv.slice(2);
const N = Number(n);
const W = Number(window);
const client = memjs.Client.create(address, { logger: { log() {} }, timeout: 5, retries: 0 });
let hits = 0;
for (let i = 0; i < N; i += W) {
  const calls = [];
  for (let j = i; j < Math.min(N, i + W); j++) calls.push(client.get(`${prefix}${j}`));
  for (const { value } of await Promise.all(calls)) if (value) hits++;
}
client.close();
process.stdout.write(`${hits}\n`);
