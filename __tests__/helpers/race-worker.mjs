// One process of the cross-process race test, driving the compiled cache-aside store directly.
//   node race-worker.mjs writer <db> <servers> <ackDir> <ms> <key,…>   sets each key to increasing versions, acking each
//   node race-worker.mjs chaos  <db> <servers> <ackDir> <ms> <key,…>   random sets and deletes (no acks)
//   node race-worker.mjs reader <db> <servers> <ackDir> <ms> <key,…>   reads; a version older than the ack is a violation
// Prints one JSON line with its counters.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CacheAsideStore } from '../../dist/store/cache-aside.js';
import { MemcachePool } from '../../dist/store/memcache.js';
import { SqliteStore } from '../../dist/store/sqlite.js';

const [role, db, servers, ackDir, ms, keyList] = process.argv.slice(2);
const keys = keyList.split(',');
const deadline = Date.now() + Number(ms);
const store = await SqliteStore.open(db, 10000);
const policy = new CacheAsideStore(store, new MemcachePool(servers.split(','), { timeoutMs: 1000, retryAfterMs: 100 }), {
  now: Date.now,
  onCacheFault: () => undefined,
});
const ackPath = (key) => join(ackDir, Buffer.from(key).toString('hex'));
const readAck = (key) => {
  try {
    return Number(readFileSync(ackPath(key), 'utf8'));
  } catch {
    return 0;
  }
};
const pick = () => keys[Math.floor(Math.random() * keys.length)];
const result = { role, operations: 0, violations: 0, examples: [] };

if (role === 'writer') {
  const versions = new Map(keys.map((k) => [k, 0]));
  while (Date.now() < deadline) {
    const key = pick();
    const version = versions.get(key) + 1;
    versions.set(key, version);
    await policy.set(key, Buffer.from(String(version)), null);
    // Only after set() returned: from now on no reader anywhere may see an older version.
    writeFileSync(`${ackPath(key)}.tmp`, String(version));
    renameSync(`${ackPath(key)}.tmp`, ackPath(key));
    result.operations++;
  }
} else if (role === 'chaos') {
  while (Date.now() < deadline) {
    const key = pick();
    if (Math.random() < 0.3) await policy.delete(key);
    else await policy.set(key, Buffer.from(`chaos-${Math.random()}`), null);
    result.operations++;
  }
} else {
  while (Date.now() < deadline) {
    const key = pick();
    const acked = readAck(key);
    const { entry } = await policy.get(key);
    const seen = entry ? Number(entry.value.toString()) : 0;
    if (!Number.isNaN(seen) && seen < acked) {
      result.violations++;
      if (result.examples.length < 5) result.examples.push({ key, acked, seen });
    }
    result.operations++;
  }
}
Object.assign(result, policy.counters);
await policy.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
