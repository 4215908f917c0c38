/**
 * Linearizability on PostgreSQL, across "hosts", under faults.
 *
 * One private PostgreSQL and a pool of two memcached servers, shared by several hosts: each host is a set of real
 * `tbase` processes with an environment and a working folder of their own (HOME, XDG_DATA_HOME, cwd), all given
 * the same `--db postgres://…` and TBASE_SERVERS=a,b (the pool the database records, set once with
 * `tbase cache pool set a,b`). Long-lived batch clients and one-shot clients hammer a few keys with
 * get/set/delete/conditional writes/incr while a fault script restarts PostgreSQL (a fast shutdown, and once a
 * crash with recovery), kills one memcached and later brings it back empty, flushes memcached, and SIGKILLs
 * clients mid-call. Every call's invocation and response times are recorded here, and the history must be
 * linearizable (the same checker and model as the SQLite test, linearizable.test.ts).
 *
 * A call that fails with exit 3 (storage error, "error" in the history) while PostgreSQL is away is an uncertain
 * call: a write may have committed before the connection went (COMMIT sent, answer lost), so the checker may
 * place it anywhere before its answer, or nowhere. The batch clients are never restarted because of a
 * PostgreSQL restart: they must reconnect by themselves and answer again.
 *
 * Scale the run with TBASE_LIN_PG_MS (default 15000 ms of traffic); TBASE_LIN_SAVE=<file> keeps the history.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BatchSeat,
  driveOneShots,
  flushAll,
  History,
  OneShotClient,
  OP_KINDS,
  Workload,
  type Target,
} from '../helpers/history-clients.js';
import type { CheckResult, Operation } from '../helpers/linearizability.js';
import { cleanupAfterAll, expectPlantedStaleReadRejected, readBackAndCheck, revisionGaps } from '../helpers/history-probes.js';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { postgresAvailable, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';

const RUN_MS = Number(process.env.TBASE_LIN_PG_MS ?? 15_000);
const HOT_KEYS = ['k1', 'k2', 'k3'];
const QUIET_KEY = 'q';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const between = (low: number, high: number) => low + Math.random() * (high - low);

// ---------------------------------------------------------------------------------------------
// Hosts.

interface Host {
  name: string;
  dir: string;
  /** What every tbase process of this host gets: its own HOME and XDG_DATA_HOME, the shared pool. */
  env: Record<string, string>;
  target: Target;
}

function makeHost(name: string, url: string, servers: string): Host {
  const dir = join(tempDir(), name);
  const env = { HOME: join(dir, 'home'), XDG_DATA_HOME: join(dir, 'data'), TBASE_SERVERS: servers };
  for (const folder of [env.HOME, env.XDG_DATA_HOME]) mkdirSync(folder, { recursive: true });
  return { name, dir, env, target: { db: url, env, cwd: dir } };
}

// ---------------------------------------------------------------------------------------------
// Faults.

type PgFaultKind = 'pg-restart' | 'pg-crash' | 'mc-kill' | 'mc-revive' | 'flush' | 'kill-batch' | 'kill-oneshot';
const PG_FAULT_KINDS: PgFaultKind[] = ['pg-restart', 'pg-crash', 'mc-kill', 'mc-revive', 'flush', 'kill-batch', 'kill-oneshot'];

/**
 * One round of the fault script (about 10 s): each kind at least once, PostgreSQL away three times (twice a fast
 * shutdown and restart, once a crash and recovery), memcached b dead between 'mc-kill' and 'mc-revive' (over the
 * crash), flushes and client kills in between. Rounds repeat until shortly before the deadline.
 */
const SCRIPT: PgFaultKind[] = ['flush', 'pg-restart', 'kill-batch', 'mc-kill', 'pg-crash', 'kill-oneshot', 'flush', 'mc-revive', 'pg-restart', 'kill-batch', 'flush'];

/** When PostgreSQL was away: from the moment the fault started to the moment it accepted connections again. */
interface Outage {
  kind: 'pg-restart' | 'pg-crash';
  from: number;
  to: number;
}

class PgFaults {
  readonly counts = Object.fromEntries(PG_FAULT_KINDS.map((kind) => [kind, 0])) as Record<PgFaultKind, number>;
  readonly outages: Outage[] = [];
  /** The memcached this script kills and revives (index 1 of the pool); the other one stays up. */
  dead = false;

  constructor(
    private readonly postgres: PostgresServer,
    readonly memcached: MemcachedServer[],
    private readonly seats: BatchSeat[],
    private readonly oneShots: OneShotClient[],
  ) {}

  /** Faults from `calmMs` after the start until `quietMs` before the deadline (the end is calm again). */
  async run(deadline: number, { calmMs = 1000, quietMs = 2500, gapMs = [400, 900] as [number, number] } = {}): Promise<void> {
    await sleep(calmMs);
    for (let step = 0; performance.now() < deadline - quietMs; step++) {
      await this.inject(SCRIPT[step % SCRIPT.length]!);
      await sleep(between(gapMs[0], gapMs[1]));
    }
  }

  async inject(kind: PgFaultKind): Promise<void> {
    switch (kind) {
      case 'pg-restart':
      case 'pg-crash': {
        const from = performance.now();
        if (kind === 'pg-crash') await this.postgres.kill();
        // A moment with PostgreSQL gone, so that clients do see refused connections.
        await sleep(between(100, 400));
        await this.postgres.restart();
        this.outages.push({ kind, from, to: performance.now() });
        break;
      }
      case 'mc-kill':
        if (this.dead) return;
        await this.memcached[1]!.stop();
        this.dead = true;
        break;
      case 'mc-revive':
        if (!this.dead) return;
        // Back on its port, empty: every copy and every tombstone it held is gone.
        this.memcached[1] = await startMemcached(this.memcached[1]!.port);
        this.dead = false;
        break;
      case 'flush':
        for (const server of this.dead ? this.memcached.slice(0, 1) : this.memcached) await flushAll(server.port);
        break;
      case 'kill-batch': {
        const seat = this.seats[Math.floor(Math.random() * this.seats.length)]!;
        seat.client.killMidCall();
        break;
      }
      case 'kill-oneshot':
        // Each one-shot driver always has a process running: this kills it wherever it is in its call.
        for (const client of this.oneShots) client.killAll();
        break;
    }
    this.counts[kind]++;
  }
}

// ---------------------------------------------------------------------------------------------

interface Recording {
  history: Operation[];
  hits: number;
  storageErrors: Operation[];
  faults: Record<PgFaultKind, number>;
  outages: Outage[];
  troubles: { client: string; problems: string[]; stderr: string }[];
  hosts: Host[];
  batchNames: string[];
  result: CheckResult;
  checkMs: number;
  runMs: number;
}

const cleanup = cleanupAfterAll(removeTempDirs);

let recording: Promise<Recording> | undefined;
const scenario = () => (recording ??= record());

async function record(): Promise<Recording> {
  const [postgres, a, b] = await Promise.all([startPostgres({ settings: { fsync: 'off' } }), startMemcached(), startMemcached()]);
  const memcached = [a, b];
  cleanup(() => postgres.stop());
  cleanup(() => Promise.all(memcached.map((server) => server.stop())));
  const servers = `${a.address},${b.address}`;

  const hosts = ['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((name) => makeHost(name, postgres.url, servers));
  // The pool, recorded once, from one host; every client on every host is configured with the same list.
  const pool = await runTbase(['--db', postgres.url, '--json', 'cache', 'pool', 'set', servers], { env: hosts[0]!.env });
  expect({ code: pool.code, stderr: pool.stderr }).toEqual({ code: 0, stderr: '' });
  const recorded = JSON.parse(pool.out) as { ok: boolean; using: boolean; recorded: { servers: string[] } };
  expect({ ok: recorded.ok, using: recorded.using, servers: [...recorded.recorded.servers].sort() }).toEqual({ ok: true, using: true, servers: [a.address, b.address].sort() });

  const history = new History();
  const workload = new Workload(HOT_KEYS, QUIET_KEY, performance.now());
  const oneShots = [new OneShotClient('oneshot-h5', hosts[4]!.target), new OneShotClient('oneshot-h6', hosts[5]!.target)];
  cleanup(() => oneShots.forEach((client) => client.killAll()));
  history.add(await oneShots[0]!.run(QUIET_KEY, { f: 'set', value: '0' }));

  const seats = hosts.slice(0, 4).map((host) => new BatchSeat(`batch-${host.name}`, host.target));
  const faults = new PgFaults(postgres, memcached, seats, oneShots);
  cleanup(() => seats.forEach((seat) => seat.kill()));

  const started = performance.now();
  const deadline = started + RUN_MS;
  await Promise.all([
    ...seats.map((seat) => seat.drive(workload, history, deadline)),
    ...oneShots.map((client) => driveOneShots(client, workload, history, deadline)),
    faults.run(deadline),
  ]);
  const runMs = Math.round(performance.now() - started);

  // After the storm, with both memcached servers up.
  if (faults.dead) await faults.inject('mc-revive');
  const { result, checkMs } = await readBackAndCheck(history, oneShots[0]!, workload.keys);
  return {
    history: history.ops,
    hits: history.hits,
    storageErrors: history.storageErrors,
    faults: faults.counts,
    outages: faults.outages,
    troubles: seats.flatMap((seat) => seat.troubles()),
    hosts,
    batchNames: seats.flatMap((seat) => [...seat.retired, seat.client].map((client) => client.name)),
    result,
    checkMs,
    runMs,
  };
}

const maybe = postgresAvailable() ? test : test.skip;

maybe(
  'hosts sharing one PostgreSQL and two memcached: every history is linearizable across PostgreSQL restarts, a dead memcached, flushes and killed clients',
  async () => {
    const { history, hits, storageErrors, faults, outages, troubles, hosts, batchNames, result, checkMs, runMs } = await scenario();

    const count = (predicate: (op: Operation) => boolean) => history.filter(predicate).length;
    const perKind = Object.fromEntries(OP_KINDS.map((kind) => [kind, count((op) => op.input.f === kind)]));
    const answered = (op: Operation) => op.output !== null && op.output.kind !== 'error';
    // Batch processes that failed with exit 3 and then answered again in the same process: they reconnected.
    const failedBatches = batchNames.filter((name) => storageErrors.some((op) => op.client === name));
    const reconnected = failedBatches.filter((name) => {
      const lastFailure = Math.max(...storageErrors.filter((op) => op.client === name).map((op) => op.ret!));
      return history.some((op) => op.client === name && op.call > lastFailure && answered(op));
    });
    const figures = {
      operations: history.length,
      keys: result.keys,
      perKind,
      hits,
      conflicts: count((op) => op.output?.kind === 'conflict'),
      unknown: count((op) => op.ret === null),
      errors: count((op) => op.output?.kind === 'error'),
      storageErrors: storageErrors.length,
      batchesReconnected: `${reconnected.length}/${failedBatches.length}`,
      oneShots: count((op) => op.client.startsWith('oneshot')),
      committedUnknown: revisionGaps(history),
      faults,
      outagesMs: outages.map((o) => Math.round(o.to - o.from)),
      explored: result.explored,
      runMs,
      checkMs,
    };
    console.log(`linearizable-postgres: 1 history, ${JSON.stringify(figures)}`);

    if (process.env.TBASE_LIN_SAVE) writeFileSync(process.env.TBASE_LIN_SAVE, JSON.stringify(history));
    if (!result.ok) {
      const file = `/tmp/tbase-linearizability-pg-${Date.now()}.json`;
      writeFileSync(file, JSON.stringify({ failures: result.failures, outages, history }, null, 1));
      console.error(`linearizable-postgres: history saved to ${file}`);
    }
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
    // A batch that dies on its own (also when PostgreSQL goes away), answers out of order or hangs is a bug.
    expect(troubles).toEqual([]);

    // The run must have exercised what it claims to.
    expect(figures.operations).toBeGreaterThan(600);
    for (const kind of OP_KINDS) expect({ kind, called: perKind[kind]! > 0 }).toEqual({ kind, called: true });
    for (const kind of OP_KINDS.filter((k) => k !== 'get')) {
      expect({ kind, wrote: history.some((op) => op.input.f === kind && op.output?.kind === 'written') }).toEqual({ kind, wrote: true });
    }
    expect(figures.hits).toBeGreaterThan(0);
    expect(figures.conflicts).toBeGreaterThan(0);
    expect(figures.unknown).toBeGreaterThan(0); // the killed batch clients' calls in flight
    expect(figures.committedUnknown).toBeLessThanOrEqual(count((op) => op.input.f !== 'get' && (op.ret === null || op.output?.kind === 'error')));
    expect(figures.oneShots).toBeGreaterThan(20);
    for (const kind of PG_FAULT_KINDS) expect({ kind, happened: faults[kind] > 0 }).toEqual({ kind, happened: true });
    expect(faults['pg-restart'] + faults['pg-crash']).toBeGreaterThanOrEqual(3);

    // Every PostgreSQL outage was felt (exit 3 answers while it lasted), and afterwards every host worked again:
    // each batch process that got exit 3 and was still being talked to answered later calls itself.
    for (const outage of outages) {
      const felt = storageErrors.some((op) => op.ret! >= outage.from && op.call <= outage.to + 1000);
      expect({ outage: outage.kind, felt }).toEqual({ outage: outage.kind, felt: true });
    }
    expect(failedBatches.length).toBeGreaterThan(0);
    const stranded = failedBatches.filter((name) => {
      const lastFailure = Math.max(...storageErrors.filter((op) => op.client === name).map((op) => op.ret!));
      // Calls after its last exit 3 that never answered successfully (it was killed, or the run ended, first: fine).
      return !reconnected.includes(name) && history.some((op) => op.client === name && op.call > lastFailure && op.output !== null);
    });
    expect(stranded).toEqual([]);
    // The script ends its faults a few seconds before the traffic stops: every host answers again after the last
    // outage (called once PostgreSQL accepted connections again).
    const lastOutage = Math.max(...outages.map((o) => o.to));
    for (const host of hosts) {
      const answers = count((op) => hostOf(op.client) === host.name && op.call > lastOutage && answered(op));
      expect({ host: host.name, answeredAfterLastOutage: answers > 0 }).toEqual({ host: host.name, answeredAfterLastOutage: true });
    }
    // The hosts used PostgreSQL: none of them made a SQLite database in its own data folder.
    for (const host of hosts) expect({ host: host.name, sqlite: existsSync(join(host.env.XDG_DATA_HOME!, 'tenantbase')) }).toEqual({ host: host.name, sqlite: false });
  },
  RUN_MS + 60_000,
);

maybe(
  'the checker rejects a stale read planted in that history',
  async () => {
    const { history, result } = await scenario();
    expectPlantedStaleReadRejected(history, result, [...HOT_KEYS, QUIET_KEY]);
  },
  RUN_MS + 60_000,
);

/** The host a client ran on: 'batch-h2#3' and 'oneshot-h5' name theirs last. */
function hostOf(client: string): string | undefined {
  return /-(h\d+)(#\d+)?$/.exec(client)?.[1];
}
