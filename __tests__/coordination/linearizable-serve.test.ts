/**
 * Linearizability through `tbase serve`, whose concurrent requests share read rounds and write transactions
 * (src/serve/rounds.ts). Six HTTP clients hammer a handful of keys on one server, a batch client writes the same
 * keys from its own process (with the writes HTTP lacks: incr, --if-value), and a fault loop pauses, restarts and
 * flushes memcached and kills the batch client mid-call. The whole history — every HTTP request and every batch
 * line, invocation and response times from this process's clock — must be linearizable (the checker of
 * linearizable.test.ts), and a stale read planted into it must be rejected.
 *
 * Scale the run with TBASE_LIN_MS (default 12000 ms of traffic).
 */
import { performance } from 'node:perf_hooks';
import { BatchSeat, Faults, FAULT_KINDS, History, OneShotClient, Workload } from '../helpers/history-clients.js';
import { cleanupAfterAll, expectPlantedStaleReadRejected, readBackAndCheck } from '../helpers/history-probes.js';
import { HTTP_KINDS, HttpHistoryClient } from '../helpers/http-history-client.js';
import type { CheckResult, Operation } from '../helpers/linearizability.js';
import { startMemcached } from '../helpers/memcached.js';
import { removeTempDirs, tempDbPath } from '../helpers/temp.js';
import { startServer } from '../serve/server-process.js';

const RUN_MS = Number(process.env.TBASE_LIN_MS ?? 12_000);
const HOT_KEYS = ['k1', 'k2', 'k3'];
const QUIET_KEY = 'q';
const HTTP_CLIENTS = 6;

const cleanup = cleanupAfterAll(removeTempDirs);

interface Recording {
  history: Operation[];
  result: CheckResult;
  rounds: { reads: { rounds: number; items: number }; writes: { rounds: number; items: number } };
  oddities: string[];
  faults: Record<string, number>;
}

let recording: Promise<Recording> | undefined;
const scenario = () => (recording ??= record());

async function record(): Promise<Recording> {
  const memcached = await startMemcached();
  const target = { db: tempDbPath(), servers: memcached.address };
  const history = new History();
  const workload = new Workload(HOT_KEYS, QUIET_KEY, performance.now());
  const oneShot = new OneShotClient('oneshot', target);
  cleanup(() => oneShot.killAll());
  history.add(await oneShot.run(QUIET_KEY, { f: 'set', value: '0' }));

  const server = await startServer({ dbPath: target.db, env: { TBASE_SERVERS: memcached.address } });
  cleanup(() => server.stop());
  const clients = Array.from({ length: HTTP_CLIENTS }, (_, i) => new HttpHistoryClient(`http${i}`, server.url));
  const seat = new BatchSeat('batch', target);
  const faults = new Faults(memcached, [seat]);
  cleanup(async () => {
    seat.kill();
    faults.resume();
    await faults.memcached.stop();
  });

  const deadline = performance.now() + RUN_MS;
  await Promise.all([...clients.map((client) => client.drive(workload, history, deadline)), seat.drive(workload, history, deadline), faults.run(deadline)]);

  const { result } = await readBackAndCheck(history, oneShot, workload.keys);
  const health = (await (await fetch(`${server.url}/health`)).json()) as { rounds: Recording['rounds'] };
  return { history: history.ops, result, rounds: health.rounds, oddities: clients.flatMap((c) => c.oddities), faults: faults.counts };
}

test(
  'concurrent HTTP clients and a batch client under memcached faults: the history is linearizable',
  async () => {
    const { history, result, rounds, oddities, faults } = await scenario();
    const http = history.filter((op) => op.client.startsWith('http'));
    const figures = {
      operations: history.length,
      http: http.length,
      conflicts: history.filter((op) => op.output?.kind === 'conflict').length,
      rounds,
      faults,
      explored: result.explored,
    };
    console.log(`linearizable-serve: ${JSON.stringify(figures)}`);
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
    // Under memcached faults an HTTP answer is still a documented one (the store answers): none is an error.
    expect(oddities).toEqual([]);

    expect(http.length).toBeGreaterThan(500);
    for (const kind of HTTP_KINDS) expect({ kind, called: http.some((op) => op.input.f === kind) }).toEqual({ kind, called: true });
    expect(figures.conflicts).toBeGreaterThan(0);
    for (const kind of FAULT_KINDS) expect({ kind, happened: faults[kind]! > 0 }).toEqual({ kind, happened: true });
    // The server answered every HTTP request through its rounds.
    expect(rounds.reads.items + rounds.writes.items).toBeGreaterThanOrEqual(http.length);
  },
  RUN_MS + 180_000,
);

test(
  'the checker rejects a stale read planted in that history',
  async () => {
    const { history, result } = await scenario();
    expectPlantedStaleReadRejected(history, result, [...HOT_KEYS, QUIET_KEY]);
  },
  RUN_MS + 180_000,
);
