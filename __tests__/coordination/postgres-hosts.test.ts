/**
 * `watch` and `lock` across hosts sharing one PostgreSQL, with PostgreSQL restarted under them.
 *
 * A "host" is a set of real `tbase` processes with an environment and a working folder of their own (HOME,
 * XDG_DATA_HOME, cwd), all given the same TBASE_DB=postgres://… (a schema per test: ?schema=…) and the same
 * TBASE_SERVERS pool of two private memcached servers. Nothing is shared between hosts but PostgreSQL and
 * memcached: a watcher on host A learns of host B's writes through PostgreSQL alone (LISTEN/NOTIFY and the change
 * log), and a lock is exclusive across hosts through PostgreSQL alone.
 *
 *  - watch: `tbase watch --prefix job: --json` on host A prints, exactly once and in order, every change that
 *    batch writes from host B and one-shot writes (prefix deletes among them) from host C commit, while
 *    PostgreSQL restarts (fast shutdown) and crashes (recovery) mid-stream. The watcher is never restarted: it
 *    must ride out both outages and lose nothing. Writes that failed with exit 3 during an outage may or may not
 *    have committed: the change log decides, read back afterwards with `--from-revision` replays, which must
 *    equal the live stream and be gap-free; every write that was answered must be in the stream as answered.
 *  - lock: holders on four hosts never overlap (their critical sections log start/end lines to one file), even
 *    while PostgreSQL restarts, and waiters wait out an outage within their --wait; fencing tokens (TBASE_LOCK_REVISION) strictly increase; a holder killed with -9
 *    frees the lock within its TTL plus a margin, and waiters on other hosts then take it one at a time.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BatchSession } from '../helpers/batch-session.js';
import { alive, killLeftovers, readText, startTbase, trackPidFile, waitFor } from '../helpers/locks.js';
import { startMemcached, type MemcachedServer } from '../helpers/memcached.js';
import { postgresAvailable, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDir } from '../helpers/temp.js';
import { canonical, firstDifference, jsonCommand, killWatchers, seededRandom, sleep, Watcher, type WatchEvent } from '../helpers/watchers.js';

const describePg = postgresAvailable() ? describe : describe.skip;

let postgres: PostgresServer;
let memcached: MemcachedServer[] = [];
const batches: BatchSession[] = [];

beforeAll(async () => {
  if (!postgresAvailable()) return;
  [postgres, ...memcached] = await Promise.all([startPostgres({ settings: { fsync: 'off' } }), startMemcached(), startMemcached()]);
});

afterEach(async () => {
  for (const batch of batches.splice(0)) batch.kill();
  await killWatchers();
  await killLeftovers();
});

afterAll(async () => {
  await postgres?.stop();
  await Promise.all(memcached.map((server) => server.stop()));
  removeTempDirs();
});

interface Host {
  name: string;
  dir: string;
  env: Record<string, string>;
}

/** A host of its own: HOME, XDG_DATA_HOME and cwd under a fresh folder; the shared database (schema) and pool. */
function makeHost(name: string, schema: string): Host {
  const dir = join(tempDir(), name);
  const env = {
    HOME: join(dir, 'home'),
    XDG_DATA_HOME: join(dir, 'data'),
    TBASE_DB: `${postgres.url}?schema=${schema}`,
    TBASE_SERVERS: memcached.map((server) => server.address).join(','),
    TEST_HOST: name,
  };
  for (const folder of [env.HOME, env.XDG_DATA_HOME]) mkdirSync(folder, { recursive: true });
  return { name, dir, env };
}

/** A PostgreSQL outage as the test saw it: from the start of the fault to the server accepting connections again. */
interface Outage {
  kind: 'restart' | 'crash';
  from: number;
  to: number;
}

async function outage(kind: Outage['kind']): Promise<Outage> {
  const from = Date.now();
  if (kind === 'crash') await postgres.kill();
  await sleep(200); // a moment with nothing listening: clients see refused connections
  await postgres.restart();
  return { kind, from, to: Date.now() };
}

// ---------------------------------------------------------------------------------------------------------------

/** What a writer was told about one of its writes (only writes that were answered with success). */
interface Answered {
  from: string;
  revision: number;
  /** The changes it made to watched keys: a put's value, or a delete (a prefix delete names no keys: count only). */
  put?: { key: string; value: string };
  delete?: string;
  prefixDelete?: { prefix: string; count: number };
}

const JOB_KEYS = ['job:a', 'job:b', 'job:c', 'job:d'];
const X_KEYS = ['job:x1', 'job:x2', 'job:x3'];
const COUNTERS = ['job:n1', 'job:n2'];

/** The line a batch writer sends next, from a seeded mix: puts, deletes, counters, other keys, prefix deletes. */
function batchLine(random: () => number, n: number): string {
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const roll = random();
  if (roll < 0.35) return `set ${pick(JOB_KEYS)} b${n}`;
  if (roll < 0.5) return `set ${pick(X_KEYS)} b${n}`;
  if (roll < 0.58) return `delete ${pick([...JOB_KEYS, ...X_KEYS])}`;
  if (roll < 0.72) return `incr ${pick(COUNTERS)} ${1 + Math.floor(random() * 5)}`;
  if (roll < 0.74) return 'delete --prefix job:x';
  if (roll < 0.9) return `set other:${Math.floor(random() * 3)} b${n}`;
  return `set ${pick(JOB_KEYS)} b${n} --if-absent`;
}

/** Reads a `--json` answer (batch line or one-shot) into what it says was written; null when nothing was. */
function answered(body: Record<string, unknown>, from: string, line: string): Answered | null {
  if (body.ok !== true || typeof body.revision !== 'number') return null;
  const words = line.split(' ');
  const revision = body.revision;
  if (words[0] === 'delete' && words[1] === '--prefix') {
    return (body.count as number) > 0 ? { from, revision, prefixDelete: { prefix: words[2]!, count: body.count as number } } : null;
  }
  if (words[0] === 'delete') return { from, revision, delete: words[1]! };
  if (words[0] === 'incr') return { from, revision, put: { key: words[1]!, value: String(body.value) } };
  if (words[0] === 'set') return { from, revision, put: { key: words[1]!, value: words[2]! } };
  throw new Error(`unexpected write ${line}`);
}

describePg('watch across hosts', () => {
  test('a watcher on host A sees every revision of hosts B and C exactly once, in order, across a PostgreSQL restart and a crash', async () => {
    const started = Date.now();
    const seed = Number(process.env.TBASE_WATCH_SEED ?? Date.now() % 100000);
    const [a, b, c] = ['a', 'b', 'c'].map((name) => makeHost(name, 'watch')) as [Host, Host, Host];
    const answers: Answered[] = [];
    const storageErrors: string[] = [];

    // Host C makes the database and records the pool once.
    const pool = await runTbase(['cache', 'pool', 'set', c.env.TBASE_SERVERS!], { env: c.env, cwd: c.dir });
    expect({ code: pool.code, stderr: pool.stderr }).toEqual({ code: 0, stderr: '' });

    let oneShots = 0;
    const oneShot = async (line: string): Promise<Record<string, unknown>> => {
      oneShots++;
      const { code, body } = await jsonCommand(line.split(' '), c.env, { cwd: c.dir, timeoutMs: 30_000 });
      const write = answered(body, `host c: ${line}`, line);
      if (write) answers.push(write);
      if (code === 3) storageErrors.push(`host c: ${line}`);
      else if (code !== 0 && !(code === 1 && line.startsWith('delete'))) throw new Error(`host c: tbase ${line} exited ${code}: ${JSON.stringify(body)}`);
      return body;
    };

    // The watcher prints nothing until something changes: host C writes markers until it shows one.
    const watcher = new Watcher(['watch', '--prefix', 'job:', '--json'], a.env, { cwd: a.dir });
    const shows = (w: Watcher, value: string) => w.events.some((event) => event.key === 'job:mark' && event.value === value);
    const mark = async (label: string, watchers: Watcher[]) => {
      for (let n = 1; n <= 20; n++) {
        const value = `${label}-${n}`;
        await oneShot(`set job:mark ${value}`);
        const deadline = Date.now() + 2000;
        while (Date.now() < deadline && !watchers.every((w) => shows(w, value))) await sleep(20);
        if (watchers.every((w) => shows(w, value))) return value;
      }
      throw new Error(`the watchers never showed a ${label} marker: ${watchers.map((w) => w.stderr).join('; ')}`);
    };
    await mark('ready', [watcher]);

    // Host B: one long-lived batch, fed chunks of lines, each chunk after the answers to the last.
    const writer = new BatchSession(['--json'], b.env, { cwd: b.dir });
    batches.push(writer);
    const sent: string[] = [];
    let writing = true;
    const random = seededRandom(seed);
    const batchDone = (async () => {
      while (writing) {
        const chunk = Array.from({ length: 1 + Math.floor(random() * 4) }, () => batchLine(random, sent.length + 1));
        sent.push(...chunk);
        writer.send(chunk);
        await writer.waitForLines(sent.length, 30_000);
        await sleep(10 + Math.floor(random() * 30));
      }
    })();

    // Host C and the faults.
    const outages: Outage[] = [];
    const conductor = (async () => {
      for (let round = 0; round < 2; round++) {
        await oneShot(`set job:x1 c${round}`);
        await oneShot(`set job:x2 c${round}`);
        await oneShot('delete --prefix job:x');
        await oneShot(`incr job:n1 ${round + 1}`);
        await oneShot(`set other:c c${round}`);
        // PostgreSQL goes away while host B writes and host A watches.
        outages.push(await outage(round === 0 ? 'restart' : 'crash'));
        await oneShot(`set job:c after-outage-${round}`);
        await oneShot(`delete job:c`);
        await sleep(700);
      }
    })();
    try {
      await conductor;
      await sleep(500);
    } finally {
      writing = false;
    }
    await batchDone;
    // Missing keys and failed conditions are answers; exit 3 answers (the outages) make the batch's status 3.
    const failedB = writer.lines.some((line) => (JSON.parse(line) as { error?: string }).error === 'storage');
    expect(await writer.end()).toBe(failedB ? 3 : 0);
    writer.lines.forEach((line, i) => {
      const body = JSON.parse(line) as Record<string, unknown>;
      expect(body.line).toBe(i + 1);
      if (body.error === 'storage') storageErrors.push(`host b line ${i + 1}: ${sent[i]}`);
      else if (body.ok !== true) expect(`${sent[i]}: ${String(body.error)}`).toMatch(/^(delete .*: not_found|set .* --if-absent: conflict)$/);
      const write = answered(body, `host b line ${i + 1}: ${sent[i]}`, sent[i]!);
      if (write) answers.push(write);
    });

    // The end: a marker the watcher shows, then it stops. It never stopped before: both outages were ridden out.
    expect(watcher.running).toBe(true);
    const end = await mark('end', [watcher]);
    const live = watcher.events;
    expect(await watcher.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
    const endRevision = live.find((event) => event.key === 'job:mark' && event.value === end)!.revision;

    // Exactly once, in order: (revision, key) strictly increasing.
    for (let i = 1; i < live.length; i++) {
      const [p, q] = [live[i - 1]!, live[i]!];
      expect({ at: i, ordered: p.revision < q.revision || (p.revision === q.revision && Buffer.compare(Buffer.from(p.key), Buffer.from(q.key)) < 0) }).toEqual({ at: i, ordered: true });
    }

    // The change log, read back from host C after the fact: the same events from the watcher's first revision on.
    const first = live[0]!.revision;
    const replay = await replayed(['--prefix', 'job:', '--from-revision', String(first)], c, endRevision);
    expect(firstDifference(live, replay)).toBeNull();
    // Every revision of the database, 1 to the end, is in the log exactly once: nothing lost to an outage, no gap.
    const everything = await replayed(['--prefix', '', '--from-revision', '1'], c, endRevision);
    const revisions = [...new Set(everything.map((event) => event.revision))];
    expect(revisions).toEqual(Array.from({ length: endRevision }, (_, i) => i + 1));
    expect(firstDifference(everything.filter((event) => event.key.startsWith('job:') && event.revision >= first), live)).toBeNull();
    const stats = await jsonCommand(['stats'], c.env, { cwd: c.dir });
    expect(stats.body.revision).toBe(endRevision);

    // Every write that was answered is in the stream as it was answered.
    const byRevision = new Map<number, WatchEvent[]>();
    for (const event of live) byRevision.set(event.revision, [...(byRevision.get(event.revision) ?? []), event]);
    const missing: string[] = [];
    for (const write of answers.filter((w) => w.revision >= first)) {
      const events = byRevision.get(write.revision) ?? [];
      if (write.put?.key.startsWith('job:')) {
        if (!events.some((e) => e.type === 'put' && e.key === write.put!.key && e.value === write.put!.value)) missing.push(`${write.from} (revision ${write.revision})`);
      } else if (write.delete?.startsWith('job:')) {
        if (!events.some((e) => e.type === 'delete' && e.key === write.delete)) missing.push(`${write.from} (revision ${write.revision})`);
      } else if (write.prefixDelete) {
        const deleted = events.filter((e) => e.type === 'delete' && e.key.startsWith(write.prefixDelete!.prefix));
        if (deleted.length !== write.prefixDelete.count || deleted.length !== events.length) missing.push(`${write.from} (revision ${write.revision}, ${deleted.length} deletes)`);
      } else if (events.length > 0) {
        missing.push(`${write.from}: not a watched key, yet revision ${write.revision} has events ${canonical(events)}`);
      }
    }
    expect(missing).toEqual([]);

    // The run was what it claims: the stream ran on both sides of each outage (host C wrote job:x1 just before it
    // and job:c just after it), and the outages were felt by the writers.
    const putsOf = (key: string) => live.filter((e) => e.type === 'put' && e.key === key).map((e) => e.value);
    expect(putsOf('job:x1').filter((v) => v === 'c0' || v === 'c1')).toEqual(['c0', 'c1']);
    expect(putsOf('job:c').filter((v) => v?.startsWith('after-outage-'))).toEqual(['after-outage-0', 'after-outage-1']);
    expect(answers.filter((w) => w.prefixDelete).length).toBeGreaterThanOrEqual(2);
    expect(storageErrors.length).toBeGreaterThan(0);

    console.log(
      `watch across hosts (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s): host A watched ${live.length} events (revisions ${first}-${endRevision}); ` +
        `host B sent ${sent.length} batch lines, host C ${oneShots} one-shots; ${answers.length} answered writes, ${storageErrors.length} exit-3 failures; ` +
        `outages ${outages.map((o) => `${o.kind} ${o.to - o.from} ms`).join(', ')}; watcher stderr: ${JSON.stringify(watcher.stderr.slice(0, 300))}`,
    );
  }, 60_000);
});

/** `watch --json ARGS` on `host` until it shows revision `end`, then stopped: the events it printed. */
async function replayed(args: string[], host: Host, end: number): Promise<WatchEvent[]> {
  const replay = new Watcher(['watch', ...args, '--json'], host.env, { cwd: host.dir });
  await replay.waitFor(() => replay.events.some((event) => event.revision >= end), `revision ${end}`, 20_000);
  expect(await replay.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
  expect(replay.stderr).toBe('');
  return replay.events;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The critical section: a start line, a pause long enough for an overlapping holder to write its own start line in
 * between, an end line. Each line names the host, the sh ($$), the fencing token and the time in ms.
 */
const SECTION = 'echo "start $TEST_HOST $$ $TBASE_LOCK_REVISION $(date +%s%3N)" >> "$1"; sleep 0.3; echo "end $TEST_HOST $$ $TBASE_LOCK_REVISION $(date +%s%3N)" >> "$1"';

interface Section {
  host: string;
  pid: string;
  token: number;
  start: number;
  end: number;
}

/** The log of SECTION runs as sections; fails unless every start is followed by its own end before any other start. */
function sections(log: string): Section[] {
  const lines = readText(log).trim().split('\n').filter((line) => line !== '');
  const found: Section[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    const start = /^start (\S+) (\d+) (\d+) (\d+)$/.exec(lines[i]!);
    const end = /^end (\S+) (\d+) (\d+) (\d+)$/.exec(lines[i + 1] ?? '');
    expect({ line: i + 1, text: lines[i], start: start !== null }).toMatchObject({ start: true });
    const same = end !== null && end[1] === start![1] && end[2] === start![2] && end[3] === start![3];
    expect({ line: i + 2, after: lines[i], text: lines[i + 1], ownEnd: same }).toMatchObject({ ownEnd: true });
    found.push({ host: start![1]!, pid: start![2]!, token: Number(start![3]), start: Number(start![4]), end: Number(end![4]) });
  }
  // Fencing: each later holder has a strictly higher token than every earlier one.
  for (let i = 1; i < found.length; i++) expect({ at: i, token: found[i]!.token, above: found[i - 1]!.token, increasing: found[i]!.token > found[i - 1]!.token }).toMatchObject({ increasing: true });
  return found;
}

describePg('lock across hosts', () => {
  test('holders on four hosts never overlap and tokens strictly increase, while PostgreSQL restarts', async () => {
    const started = Date.now();
    const hosts = ['l1', 'l2', 'l3', 'l4'].map((name) => makeHost(name, 'locks'));
    const log = join(tempDir(), 'critical.log');
    const RUNS = 3;
    // Make the schema first, from one host, so that the contenders do not all race to create it.
    expect((await runTbase(['cache', 'pool', 'set', hosts[0]!.env.TBASE_SERVERS!], { env: hosts[0]!.env, cwd: hosts[0]!.dir })).code).toBe(0);

    // A waiter that cannot reach PostgreSQL while it waits (the outages below) waits on, within its --wait; every
    // run must get the lock and end cleanly. (Before waiters waited out an outage, 3-6 runs of 12 gave up with
    // exit 3 here.)
    const results: { host: string; code: number | null; stderr: string; from: number; to: number }[] = [];
    const contend = async (host: Host) => {
      for (let run = 0; run < RUNS; ) {
        const from = Date.now();
        const result = await runTbase(['lock', 'critical', '--wait', '40s', '--ttl', '3s', '--', 'sh', '-c', SECTION, 'sh', log], { env: host.env, cwd: host.dir, timeoutMs: 50_000 });
        results.push({ host: host.name, code: result.code, stderr: result.stderr, from, to: Date.now() });
        run++;
      }
    };
    const contention = Promise.all(hosts.map(contend));
    // PostgreSQL restarts once the sections are under way, while a holder is inside its section (a start line
    // without its end) and the others wait; later it crashes, again under a holder.
    const lines = () => readText(log).split('\n').filter((line) => line !== '').length;
    await waitFor(() => lines() >= 3 && lines() % 2 === 1, 'a holder inside its section after the first sections', 20_000);
    const outages = [await outage('restart')];
    await waitFor(() => lines() >= 13 && lines() % 2 === 1, 'a holder inside its section after more sections', 30_000);
    outages.push(await outage('crash'));
    await contention;

    const found = sections(log);
    const failed = results.filter((r) => r.code !== 0 || r.stderr !== '');
    console.log(
      `lock across hosts (${((Date.now() - started) / 1000).toFixed(1)} s): ${found.length} sections from ${new Set(found.map((s) => s.host)).size} hosts, tokens ${found[0]?.token}..${found.at(-1)?.token}; ` +
        `outages ${outages.map((o) => `${o.kind} ${o.to - o.from} ms`).join(', ')}; ` +
        `other failures: ${JSON.stringify(failed.map((r) => [r.host, r.code, r.stderr.trim().slice(0, 160)]))}`,
    );
    // Every run got the lock, ran its section once and ended cleanly: the holders and the waiters across both outages.
    expect(failed).toEqual([]);
    expect(found).toHaveLength(hosts.length * RUNS);
    expect(new Set(found.map((s) => s.host))).toEqual(new Set(hosts.map((h) => h.name)));
    // Sections in log order also follow each other in time (one clock: this machine's).
    for (let i = 1; i < found.length; i++) expect(found[i]!.start).toBeGreaterThanOrEqual(found[i - 1]!.end);
    // Each outage began while a holder was inside its section, and that holder finished it normally.
    for (const o of outages) expect({ outage: o.kind, heldAcross: found.some((s) => s.start <= o.from && s.end >= o.from) }).toEqual({ outage: o.kind, heldAcross: true });
  }, 60_000);

  test('a holder killed with -9 on one host frees the lock within its TTL plus a margin; waiters on other hosts take it one at a time', async () => {
    const [a, b, c, d] = ['k1', 'k2', 'k3', 'k4'].map((name) => makeHost(name, 'locks')) as [Host, Host, Host, Host];
    const pidFile = trackPidFile(join(a.dir, 'holder.pid'));
    const holder = startTbase(['lock', 'crash', '--ttl', '2s', '--', 'sh', '-c', 'echo "$$ $TBASE_LOCK_REVISION" > "$PIDFILE"; exec sleep 30'], { ...a.env, PIDFILE: pidFile }, { cwd: a.dir });
    await waitFor(() => readText(pidFile).endsWith('\n') || holder.child.exitCode !== null, 'the holder on host k1 to run its command', 15_000);
    expect(holder.child.exitCode).toBeNull();
    const [cmdPid, token] = readText(pidFile).trim().split(' ').map(Number);

    process.kill(holder.pid, 'SIGKILL');
    const killedAt = Date.now();
    expect((await holder.exit).signal).toBe('SIGKILL');

    // Right after the kill, another host finds the lock held by the dead holder's lease.
    const busy = await runTbase(['lock', 'crash', '--', 'true'], { env: b.env, cwd: b.dir });
    expect(busy.code).toBe(4);
    const held = /taken at revision (\d+), its lease runs out in (\d+)s/.exec(busy.stderr);
    expect(held).not.toBeNull();
    expect(Number(held![1])).toBe(token);
    expect(Number(held![2])).toBeLessThanOrEqual(2);

    // Waiters on two hosts: the lease runs out within the TTL, then they take it one at a time, with higher tokens.
    const log = join(tempDir(), 'takeover.log');
    const waiters = await Promise.all(
      [c, d].map((host) => runTbase(['lock', 'crash', '--wait', '10s', '--ttl', '2s', '--', 'sh', '-c', SECTION, 'sh', log], { env: host.env, cwd: host.dir, timeoutMs: 20_000 })),
    );
    for (const waiter of waiters) expect({ code: waiter.code, stderr: waiter.stderr }).toEqual({ code: 0, stderr: '' });
    const found = sections(log);
    expect(found.map((s) => s.host).sort()).toEqual(['k3', 'k4']);
    expect(found[0]!.token).toBeGreaterThan(token!);
    const freedAfter = found[0]!.start - killedAt;
    console.log(`lock across hosts: a holder killed with -9 (ttl 2 s): lock taken by host ${found[0]!.host} ${freedAfter} ms after the kill`);
    expect(freedAfter).toBeLessThanOrEqual(2000 + 1500);

    // The dead holder's command is an orphan tbase could not stop (documented): end it here.
    if (alive(cmdPid!)) process.kill(cmdPid!, 'SIGKILL');
  }, 40_000);
});
