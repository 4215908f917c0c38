/**
 * A short, bounded load run on loopback: many concurrent clients writing and reading their own keys through one
 * server while others list and poll health. It checks correctness under concurrency (every read after a write
 * answers that write; afterwards no cached copy differs from SQLite) and prints throughput and latency figures.
 * The figures are reported, not asserted: they depend on the machine.
 */
import { writeFileSync } from 'node:fs';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs } from '../helpers/temp.js';
import { startServer, stopAll, type ServerProcess } from './server-process.js';

const CLIENTS = 32;
const KEYS_PER_CLIENT = 8;
const MAX_REQUESTS = 4000;
const MAX_MS = 15_000;

const running: ServerProcess[] = [];
afterAll(async () => {
  await stopAll(running);
  removeTempDirs();
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

test('bounded concurrent load keeps read-after-write and leaves no stale copy', async () => {
  const server = await startServer();
  running.push(server);
  const latencies: number[] = [];
  const counts: Record<string, number> = {};
  const violations: string[] = [];
  let issued = 0;
  const started = performance.now();
  const deadline = started + MAX_MS;

  const timed = async (kind: string, path: string, init?: RequestInit): Promise<Response> => {
    const t0 = performance.now();
    const res = await fetch(`${server.url}${path}`, init);
    const body = await res.arrayBuffer();
    latencies.push(performance.now() - t0);
    counts[kind] = (counts[kind] ?? 0) + 1;
    return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers });
  };

  const client = async (id: number) => {
    const latest = new Map<string, string | null>();
    for (let round = 0; issued < MAX_REQUESTS && performance.now() < deadline; round++) {
      const key = `load:${id}:${round % KEYS_PER_CLIENT}`;
      const path = `/keys/${encodeURIComponent(key)}`;
      const choice = (round * 7 + id) % 10;
      issued += 2;
      if (choice < 6) {
        const value = `${id}/${round}/${'x'.repeat(round % 200)}`;
        const put = await timed('PUT', path, { method: 'PUT', body: value });
        if (put.status !== 201 && put.status !== 204) violations.push(`PUT ${key}: ${put.status}`);
        latest.set(key, value);
      } else if (choice < 8) {
        const del = await timed('DELETE', path, { method: 'DELETE' });
        const expected = latest.has(key) && latest.get(key) !== null ? 204 : 404;
        if (latest.has(key) && del.status !== expected) violations.push(`DELETE ${key}: ${del.status}, expected ${expected}`);
        latest.set(key, null);
      } else if (choice === 8) {
        await timed('GET /keys', `/keys?prefix=${encodeURIComponent(`load:${id}:`)}&limit=50`);
      } else {
        await timed('GET /health', '/health');
      }
      // Read-after-write: the read right after this client's own write must answer it.
      if (!latest.has(key)) continue;
      const got = await timed('GET', path);
      const want = latest.get(key);
      const text = got.status === 200 ? await got.text() : null;
      if (got.status !== (want === null ? 404 : 200) || (want !== null && text !== want)) {
        violations.push(`GET ${key}: ${got.status} ${JSON.stringify(text?.slice(0, 40))}, expected ${JSON.stringify(want?.slice(0, 40))}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
  const elapsedMs = performance.now() - started;

  // No stale survivor: what the server answers through memcached equals SQLite read without the cache.
  const truth = JSON.parse((await runTbase(['--no-cache', 'list', 'load:', '--json'], { env: server.env })).out) as {
    entries: { key: string; value: string }[];
  };
  const served = await Promise.all(
    truth.entries.map(async ({ key }) => (await fetch(`${server.url}/keys/${encodeURIComponent(key)}`)).text()),
  );
  const stale = truth.entries.filter((entry, i) => served[i] !== entry.value).map((entry) => entry.key);
  const health = await (await fetch(`${server.url}/health`)).json();

  const sorted = [...latencies].sort((a, b) => a - b);
  const figures = {
    clients: CLIENTS,
    requests: latencies.length,
    seconds: Number((elapsedMs / 1000).toFixed(2)),
    requestsPerSecond: Math.round(latencies.length / (elapsedMs / 1000)),
    latencyMs: {
      p50: Number(percentile(sorted, 50).toFixed(1)),
      p95: Number(percentile(sorted, 95).toFixed(1)),
      p99: Number(percentile(sorted, 99).toFixed(1)),
      max: Number((sorted.at(-1) ?? NaN).toFixed(1)),
    },
    byKind: counts,
    serverCounters: health.process,
    violations: violations.length,
    staleCopies: stale.length,
  };
  console.log(`tbase serve load run: ${JSON.stringify(figures)}`);
  if (process.env.TBASE_LOAD_REPORT) writeFileSync(process.env.TBASE_LOAD_REPORT, `${JSON.stringify(figures, null, 2)}\n`);

  expect(violations.slice(0, 10)).toEqual([]);
  expect(stale).toEqual([]);
  expect(latencies.length).toBeGreaterThan(CLIENTS * 4);
}, 60_000);
