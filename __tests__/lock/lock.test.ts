/**
 * `tbase lock NAME [--ttl D] [--wait D] -- CMD`, end to end: every holder and every contender is a separate OS
 * process (the built bin) on one SQLite file, so mutual exclusion, lease expiry, lost leases and signals are what
 * an operator's shell script would see. Every CMD is `sh -c` (started without a shell by tbase: sh is the CMD)
 * and records what happened to it in files the test reads. Every process a test starts is killed at the latest in
 * afterEach, including a CMD that outlives a tbase killed with -9 (it writes its pid to a tracked file).
 */
import { constants } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import {
  alive,
  deleteLockRow,
  killLeftovers,
  lockRow,
  readText,
  sqlite,
  startTbase,
  trackPidFile,
  waitFor,
} from '../helpers/locks.js';

/** `tbase: lock "NAME" is held (taken at revision R, its lease runs out in Ns)`, with R and N captured. */
function heldMessage(name: string): RegExp {
  return new RegExp(`^tbase: lock "${name}" is held \\(taken at revision (\\d+), its lease runs out in (\\d+)s\\)$`, 'm');
}
const LOST = (name: string) => `tbase: lost the lease on lock "${name}"; stopping the command`;

/** A CMD that records "<pid> <token>" in $PIDFILE once it runs (so the test knows the lock is held), then idles. */
const IDLE = 'echo "$$ $TBASE_LOCK_REVISION" > "$PIDFILE"; while :; do sleep 0.05; done';

let db: string;
let dir: string;
let env: Record<string, string>;

beforeEach(() => {
  // A database of its own per test: a lease a failed test left behind never blocks the next one.
  db = tempDbPath();
  dir = tempDir();
  env = { TBASE_DB: db, TBASE_SERVERS: testServers() };
});

afterEach(async () => {
  await killLeftovers();
});

afterAll(() => removeTempDirs());

/** Starts a holder of `name` running `script` (sh -c) and waits until its CMD runs; its pid and token are read back. */
async function hold(name: string, script: string, flags: string[] = [], extraEnv: Record<string, string> = {}) {
  const pidFile = trackPidFile(join(dir, `${name}-${Math.random().toString(36).slice(2)}.pid`));
  const holder = startTbase(['lock', name, ...flags, '--', 'sh', '-c', script], { ...env, PIDFILE: pidFile, ...extraEnv });
  // The line is complete once it ends with a newline: only then are the pid and token both there.
  await waitFor(() => readText(pidFile).endsWith('\n') || holder.child.exitCode !== null, `the CMD of lock ${name} to start`);
  if (holder.child.exitCode !== null) throw new Error(`the holder of ${name} exited early: ${JSON.stringify(await holder.exit)}`);
  const [pid, token] = readText(pidFile).trim().split(' ').map(Number);
  expect(Number.isInteger(token)).toBe(true);
  return { holder, pidFile, cmdPid: pid!, token: token! };
}

/**
 * The critical section the contenders run: a start line, a pause long enough for any overlapping holder to write
 * its own start line in between, an end line. $$ is this sh (one per holder), the token is the lease's fencing
 * token, the time (ms) says when the holder got in.
 */
const SECTION = 'echo "start $$ $TBASE_LOCK_REVISION $(date +%s%3N)" >> "$1"; sleep 0.08; echo "end $$ $TBASE_LOCK_REVISION" >> "$1"';

/** Checks a log of SECTION runs: `runs` holders, no overlap, tokens strictly increasing; returns the entries. */
function checkSections(log: string, runs: number): { pid: string; token: number; at: number }[] {
  const lines = readText(log).trim().split('\n');
  expect(lines).toHaveLength(2 * runs); // every holder ran, each exactly once
  const entries: { pid: string; token: number; at: number }[] = [];
  for (let i = 0; i < lines.length; i += 2) {
    // No overlap: every start is immediately followed by its own end, before anyone else's start.
    const start = lines[i]!.match(/^start (\d+) (\d+) (\d+)$/);
    const end = lines[i + 1]!.match(/^end (\d+) (\d+)$/);
    expect({ line: i + 1, start: lines[i], ok: start !== null }).toMatchObject({ ok: true });
    expect({ line: i + 2, end: lines[i + 1], same: end !== null && end[1] === start![1] && end[2] === start![2] }).toMatchObject({ same: true });
    entries.push({ pid: start![1]!, token: Number(start![2]), at: Number(start![3]) });
  }
  expect(new Set(entries.map((entry) => entry.pid)).size).toBe(runs);
  // Fencing: each later holder has a strictly higher token than every earlier one.
  for (let i = 1; i < entries.length; i++) expect(entries[i]!.token).toBeGreaterThan(entries[i - 1]!.token);
  return entries;
}

describe('mutual exclusion under contention', () => {
  test('10 processes waiting on one lock run their critical sections one at a time, with increasing tokens', async () => {
    const log = join(dir, 'critical.log');
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => runTbase(['lock', 'critical', '--wait', '30s', '--', 'sh', '-c', SECTION, 'sh', log], { env, timeoutMs: 30_000 })),
    );
    const elapsed = Date.now() - started;

    for (const result of results) expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    checkSections(log, 10);
    // The sections were serialised, not merely interleaved by luck: ten 80 ms pauses one after another.
    expect(elapsed).toBeGreaterThanOrEqual(800);
    expect(await lockRow(db, 'critical')).toBeNull(); // the last holder released it
  });
});

describe('a holder killed with -9', () => {
  test('keeps the lock until its TTL runs out; then the waiters take it one at a time with higher tokens', async () => {
    const { holder, cmdPid, token } = await hold('crash', 'echo "$$ $TBASE_LOCK_REVISION" > "$PIDFILE"; exec sleep 30', ['--ttl', '2s']);
    process.kill(holder.pid, 'SIGKILL');
    const killedAt = Date.now();
    expect((await holder.exit).signal).toBe('SIGKILL');

    // Right after the kill the lease is still there: nobody released it.
    const busy = await runTbase(['lock', 'crash', '--', 'true'], { env });
    expect(busy.code).toBe(4);
    const held = busy.stderr.match(heldMessage('crash'));
    expect(held).not.toBeNull();
    expect(Number(held![1])).toBe(token);
    expect(Number(held![2])).toBeLessThanOrEqual(2); // at most the TTL left

    // Waiters get it once the lease runs out (at most ttl = 2 s after the last renewal, which preceded the kill).
    // Several of them race for the expired lease at the same moment: taking it over must still be exclusive.
    const log = join(dir, 'takeover.log');
    const results = await Promise.all(
      Array.from({ length: 4 }, () => runTbase(['lock', 'crash', '--wait', '10s', '--ttl', '2s', '--', 'sh', '-c', SECTION, 'sh', log], { env, timeoutMs: 15_000 })),
    );
    for (const result of results) expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const entries = checkSections(log, 4);
    expect(entries[0]!.token).toBeGreaterThan(token);
    expect(entries[0]!.at - killedAt).toBeLessThanOrEqual(2000 + 1500);

    // The dead holder's CMD is an orphan that tbase could not stop (documented): end it here.
    if (alive(cmdPid)) process.kill(cmdPid, 'SIGKILL');
  });
});

describe('a lost lease', () => {
  test('CMD gets SIGTERM, tbase exits with its status, and the new holder keeps its lease', async () => {
    const rec = join(dir, 'term.rec');
    // The CMD records the SIGTERM and exits 7 on it.
    const a = await hold('lost', `trap 'echo TERM >> "$REC"; exit 7' TERM; ${IDLE}`, ['--ttl', '1s'], { REC: rec });
    await deleteLockRow(db, 'lost');
    const deletedAt = Date.now();
    // Another process takes the lock at once (the row is gone): from now on A must neither run on nor, when it
    // stops, release B's lease.
    const b = await hold('lost', `trap 'exit 0' TERM; ${IDLE}`, ['--ttl', '30s']);
    expect(b.token).toBeGreaterThan(a.token);

    const exitA = await a.holder.exit;
    expect(exitA.code).toBe(7); // CMD's status
    expect(exitA.stderr).toContain(LOST('lost'));
    expect(readText(rec)).toBe('TERM\n');
    // Noticed at the next renewal (every ttl/3): well within ttl + 1.5 s of the deletion.
    expect(exitA.at - deletedAt).toBeLessThanOrEqual(1000 + 1500);

    // B still holds its own lease: A's exit did not delete it.
    expect(await lockRow(db, 'lost')).toMatchObject({ revision: b.token });
    const busy = await runTbase(['lock', 'lost', '--', 'true'], { env });
    expect(busy.code).toBe(4);
    expect(busy.stderr).toMatch(heldMessage('lost'));

    b.holder.child.kill('SIGTERM');
    expect((await b.holder.exit).code).toBe(0);
    expect(await lockRow(db, 'lost')).toBeNull();
  });

  test('a CMD that does not stop on SIGTERM is killed with SIGKILL after the grace period (exit 137)', async () => {
    const rec = join(dir, 'term.rec');
    // The CMD records the SIGTERM and carries on.
    const a = await hold('stubborn', `trap 'echo TERM >> "$REC"' TERM; ${IDLE}`, ['--ttl', '1s'], { REC: rec });
    await deleteLockRow(db, 'stubborn');
    await waitFor(() => readText(rec) === 'TERM\n', 'the CMD to receive SIGTERM');
    const termSeenAt = Date.now();

    const exit = await a.holder.exit;
    expect(exit.code).toBe(128 + constants.signals.SIGKILL);
    expect(exit.stderr).toContain(LOST('stubborn'));
    // The grace is max(1 s, ttl/3) = 1 s after SIGTERM; the 200 ms slack covers the poll and sh's trap delay.
    expect(exit.at - termSeenAt).toBeGreaterThanOrEqual(800);
    expect(exit.at - termSeenAt).toBeLessThanOrEqual(1000 + 1500);
    expect(alive(a.cmdPid)).toBe(false);
    expect((await runTbase(['lock', 'stubborn', '--', 'true'], { env })).code).toBe(0);
  });
  test('a store that cannot be written counts as a lost lease too', async () => {
    const rec = join(dir, 'term.rec');
    // A short busy timeout: a renewal that cannot get the write lock fails after 300 ms.
    const a = await hold('blocked', `trap 'echo TERM >> "$REC"; exit 9' TERM; ${IDLE}`, ['--ttl', '1s'], { REC: rec, TBASE_BUSY_TIMEOUT_MS: '300' });
    // Another connection holds the write lock for 3 s: no renewal can commit.
    const blocker = sqlite(db, 'BEGIN IMMEDIATE;', '.shell sleep 3', 'COMMIT;');
    const exit = await a.holder.exit;
    expect(exit.code).toBe(9);
    expect(exit.stderr).toContain(LOST('blocked'));
    expect(readText(rec)).toBe('TERM\n');
    await blocker;
    // It did not release (it no longer owned the lease for sure): the row runs out by itself within the TTL.
    const next = await runTbase(['lock', 'blocked', '--wait', '5s', '--', 'true'], { env });
    expect(next.code).toBe(0);
  });
});

describe('signals sent to tbase', () => {
  test.each([
    ['SIGINT', 'INT', 21],
    ['SIGTERM', 'TERM', 22],
  ] as const)('%s reaches CMD, tbase exits with its status, and the lock is free afterwards', async (signal, trapped, status) => {
    const rec = join(dir, 'signals.rec');
    const script = `trap 'echo INT >> "$REC"; exit 21' INT; trap 'echo TERM >> "$REC"; exit 22' TERM; ${IDLE}`;
    // Once CMD runs, tbase's handlers are in place (installed as CMD is spawned).
    const { holder, cmdPid } = await hold('sig', script, [], { REC: rec });
    holder.child.kill(signal); // to tbase only, not to CMD's process group
    const exit = await holder.exit;
    expect({ code: exit.code, stderr: exit.stderr }).toEqual({ code: status, stderr: '' });
    expect(readText(rec)).toBe(`${trapped}\n`);
    expect(alive(cmdPid)).toBe(false);
    expect(await lockRow(db, 'sig')).toBeNull(); // released once CMD exited
    expect((await runTbase(['lock', 'sig', '--', 'true'], { env })).code).toBe(0);
  });
});

describe('exit status and refusals', () => {
  test.each([0, 3, 42])('CMD exit status %i is tbase exit status; CMD gets the lock name, token, stdin and stdout', async (status) => {
    const result = await runTbase(['lock', `st${status}`, '--', 'sh', '-c', `echo "$TBASE_LOCK_NAME $TBASE_LOCK_REVISION"; cat; exit ${status}`], {
      env,
      stdin: 'from stdin\n',
    });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: status, stderr: '' });
    expect(result.out).toMatch(new RegExp(`^st${status} \\d+\\nfrom stdin\\n$`));
    expect(await lockRow(db, `st${status}`)).toBeNull();
  });

  test.each(['SIGTERM', 'SIGUSR1', 'SIGKILL'] as const)('a CMD killed by %s: 128 + the signal number, as a shell reports it', async (signal) => {
    const result = await runTbase(['lock', 'killed', '--', 'sh', '-c', `kill -${signal.slice(3)} $$; sleep 5`], { env });
    expect(result.code).toBe(128 + constants.signals[signal]);
    expect(await lockRow(db, 'killed')).toBeNull();
  });

  test('a command that does not exist: exit 2, and the lock is not left held', async () => {
    const result = await runTbase(['lock', 'nocmd', '--', 'tbase-no-such-command-x'], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tbase: cannot run "tbase-no-such-command-x": no such command');
    expect(result.out).toBe('');
    expect((await runTbase(['lock', 'nocmd', '--', 'true'], { env })).code).toBe(0);
  });

  test('usage errors: no command, bad durations', async () => {
    for (const args of [['lock', 'u'], ['lock', 'u', '--'], ['lock', 'u', '--ttl', 'soon', '--', 'true'], ['lock', 'u', '--wait', 'x', '--', 'true']]) {
      const result = await runTbase(args, { env });
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
    }
  });

  test('a held lock: exit 4 at once with the message; --wait runs out after about the wait; lock names are not keys', async () => {
    const { holder, token } = await hold('held', `trap 'exit 0' TERM; ${IDLE}`);
    const marker = join(dir, 'ran');

    const now = await runTbase(['lock', 'held', '--', 'touch', marker], { env });
    expect(now.code).toBe(4);
    expect(now.out).toBe('');
    const held = now.stderr.match(heldMessage('held'));
    expect(held).not.toBeNull();
    expect(Number(held![1])).toBe(token);
    expect(Number(held![2])).toBeGreaterThanOrEqual(25); // default ttl 30 s, renewed every 10 s
    expect(Number(held![2])).toBeLessThanOrEqual(30);

    const waited = await runTbase(['lock', 'held', '--wait', '1s', '--', 'touch', marker], { env });
    expect(waited.code).toBe(4);
    expect(waited.stderr).toMatch(heldMessage('held'));
    expect(waited.ms).toBeGreaterThanOrEqual(1000); // it did wait
    expect(waited.ms).toBeLessThanOrEqual(1000 + 2500); // and not much longer
    expect(existsSync(marker)).toBe(false); // CMD never ran

    // A key of the same name is another thing: writing, reading and deleting it leaves the lease alone.
    expect((await runTbase(['set', 'held', 'v'], { env })).code).toBe(0);
    expect((await runTbase(['get', 'held'], { env })).out).toBe('v\n');
    expect((await runTbase(['delete', 'held'], { env })).code).toBe(0);
    expect(await lockRow(db, 'held')).toMatchObject({ revision: token });

    holder.child.kill('SIGTERM');
    expect((await holder.exit).code).toBe(0);
  });

  test('--wait is satisfied when the holder finishes: woken by the release, not the lease expiry', async () => {
    const { holder, token } = await hold('relay', 'echo "$$ $TBASE_LOCK_REVISION" > "$PIDFILE"; sleep 1');
    const waiter = startTbase(['lock', 'relay', '--wait', '20s', '--', 'sh', '-c', 'echo "$TBASE_LOCK_REVISION"'], env);
    const [first, second] = await Promise.all([holder.exit, waiter.exit]);
    expect(first.code).toBe(0);
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
    expect(Number(second.stdout.trim())).toBeGreaterThan(token);
    // The holder's lease (default 30 s) was far from running out: only the release can have woken the waiter.
    expect(second.at - first.at).toBeLessThanOrEqual(1500);
  });

  test('in batch (piped stdin) lock is a usage error and runs nothing', async () => {
    const marker = join(dir, 'ran');
    const result = await runTbase([], { env, stdin: `set k v\nlock b -- touch ${marker}\nget k\n` });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/line 2\b.*lock/);
    expect(result.out).toContain('v\n'); // the other lines still ran
    expect(existsSync(marker)).toBe(false);
  });
});
