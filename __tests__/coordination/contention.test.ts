/**
 * No lost update under real contention: separate OS processes (the built bin) on one SQLite file and the real
 * memcached, each racing the others on the same key. Every check is exact — a counter that is off by one, an
 * answer handed out twice, or two winners of one condition is a bug, never noise.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { BIN, runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

const PROCESSES = 8;
const ANSWER_TIMEOUT_MS = 20_000;

/**
 * A long-lived tbase process whose answer lines are handed out one at a time, in order, as they arrive: the CAS
 * driver must read each answer before it decides the next line, and the start gate must know each process is up.
 */
class Proc {
  readonly child: ChildProcessWithoutNullStreams;
  err = '';
  code: number | null | undefined;
  private partial = '';
  private readonly queued: string[] = [];
  private waiter: (() => void) | null = null;
  readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string>) {
    const merged: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
    for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
    this.child = spawn(process.execPath, [BIN, ...args], { env: merged as NodeJS.ProcessEnv });
    live.add(this);
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.queued.push(...parts);
      this.wake();
    });
    this.child.stderr.on('data', (chunk: Buffer) => (this.err += chunk.toString()));
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        this.code = code;
        live.delete(this);
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }

  send(text: string): void {
    this.child.stdin.write(text);
  }

  async next(): Promise<string> {
    const deadline = Date.now() + ANSWER_TIMEOUT_MS;
    while (this.queued.length === 0) {
      if (this.code !== undefined) throw new Error(`process ${this.child.pid} exited (${this.code}) before answering; stderr: ${this.err}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`process ${this.child.pid} gave no answer within ${ANSWER_TIMEOUT_MS} ms; stderr: ${this.err}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.queued.shift()!;
  }

  async ask(line: string): Promise<string> {
    this.send(`${line}\n`);
    return this.next();
  }

  /** Closes stdin and returns every answer line not yet taken, once the process has exited. */
  async finish(): Promise<{ code: number | null; lines: string[] }> {
    this.child.stdin.end();
    const code = await this.exited;
    if (this.partial !== '') this.queued.push(this.partial);
    return { code, lines: this.queued.splice(0) };
  }
}

const live = new Set<Proc>();

afterEach(() => {
  // A failed assertion must not leave racers running into the next test's database.
  for (const proc of live) proc.child.kill('SIGKILL');
  live.clear();
});
afterAll(removeTempDirs);

function freshEnv(): Record<string, string> {
  return { TBASE_DB: tempDbPath(), TBASE_SERVERS: testServers() };
}

/**
 * Starts every process and waits until each has answered `get key`: node startup alone takes longer than a
 * whole batch, so without this gate the first process could finish before the last one exists and the "race"
 * would be sequential. The gate's answer is consumed here.
 */
async function startGated(count: number, args: string[], env: Record<string, string>, key: string): Promise<Proc[]> {
  const procs = Array.from({ length: count }, () => new Proc(args, env));
  await Promise.all(procs.map((proc) => proc.ask(`get ${key}`)));
  return procs;
}

/** How many maximal stretches of consecutive operations belong to one process: 1 per process = no interleaving. */
function runsOf(owners: number[]): number {
  let runs = 0;
  owners.forEach((owner, i) => {
    if (i === 0 || owners[i - 1] !== owner) runs++;
  });
  return runs;
}

function expectCleanExit(results: { code: number | null }[], procs: Proc[]): void {
  expect(results.map((r, i) => ({ code: r.code, stderr: procs[i]!.err }))).toEqual(procs.map(() => ({ code: 0, stderr: '' })));
}

test(`${PROCESSES} batch processes × 1000 incr: every increment gets its own value, none is lost`, async () => {
  const PER = 1000;
  const env = freshEnv();
  const procs = await startGated(PROCESSES, [], env, 'counter');
  const started = Date.now();
  // Each process sends SLICE lines at a time and reads their answers before the next slice: batch commits the
  // lines it has in one transaction, so this makes 8 × 40 small transactions that must interleave.
  const SLICE = 25;
  const answered = await Promise.all(
    procs.map(async (proc) => {
      const lines: string[] = [];
      for (let sent = 0; sent < PER; sent += SLICE) {
        proc.send('incr counter\n'.repeat(SLICE));
        for (let i = 0; i < SLICE; i++) lines.push(await proc.next());
      }
      return lines;
    }),
  );
  const results = await Promise.all(procs.map(async (proc, p) => ({ ...(await proc.finish()), lines: answered[p]! })));
  const ms = Date.now() - started;
  expectCleanExit(results, procs);

  const owner = new Map<number, number>();
  const duplicates: string[] = [];
  const outOfRange: string[] = [];
  results.forEach(({ lines }, p) => {
    expect(lines).toHaveLength(PER);
    const values = lines.map(Number);
    // A value not above the previous one from the same process means its increments were reordered or merged.
    for (let i = 1; i < values.length; i++) if (!(values[i]! > values[i - 1]!)) throw new Error(`process ${p}: answer ${i} is ${lines[i]} after ${lines[i - 1]}`);
    for (const [i, value] of values.entries()) {
      if (!Number.isInteger(value) || value < 1 || value > PROCESSES * PER) outOfRange.push(`process ${p} answer ${i}: ${lines[i]}`);
      else if (owner.has(value)) duplicates.push(`${value} answered to processes ${owner.get(value)} and ${p}`);
      else owner.set(value, p);
    }
  });
  expect(outOfRange.slice(0, 10)).toEqual([]);
  expect(duplicates.slice(0, 10)).toEqual([]);
  // 8000 distinct values in 1..8000: the union is exactly that range.
  expect(owner.size).toBe(PROCESSES * PER);

  const final = await runTbase(['get', 'counter'], { env });
  expect({ code: final.code, out: final.out }).toEqual({ code: 0, out: `${PROCESSES * PER}\n` });

  const runs = runsOf(Array.from({ length: PROCESSES * PER }, (_, i) => owner.get(i + 1)!));
  console.log(`incr race: ${PROCESSES}×${PER} incr, final ${final.out.trim()}, ${runs} runs of one process in the value order, ${ms} ms`);
  expect(runs).toBeGreaterThan(PROCESSES); // the processes' increments really interleaved
});

test('mixed incr/decr by ~10^12 near 2^62 from 8 processes: the exact BigInt sum, every state seen once', async () => {
  const PER = 250;
  const UP = 1_000_000_000_000n;
  const DOWN = 999_999_999_999n;
  const BASE = 2n ** 62n;
  const env = freshEnv();
  const seeded = await runTbase(['set', 'big', String(BASE)], { env });
  expect({ code: seeded.code, stderr: seeded.stderr }).toEqual({ code: 0, stderr: '' });

  const kinds: ('incr' | 'decr')[] = Array.from({ length: PROCESSES }, (_, p) => (p % 2 === 0 ? 'incr' : 'decr'));
  const procs = await startGated(PROCESSES, [], env, 'big');
  const started = Date.now();
  procs.forEach((proc, p) => proc.send(`${kinds[p]} big ${kinds[p] === 'incr' ? UP : DOWN}\n`.repeat(PER)));
  const results = await Promise.all(procs.map((proc) => proc.finish()));
  const ms = Date.now() - started;
  expectCleanExit(results, procs);

  const ups = BigInt((PROCESSES / 2) * PER);
  const downs = BigInt((PROCESSES / 2) * PER);
  const expected = BASE + ups * UP - downs * DOWN;

  // UP and DOWN are coprime and the counts stay far below either, so every value the key can take is
  // BASE + a·UP − b·DOWN for exactly one (a incrs, b decrs) done so far: each answer names its place in the
  // serial order (a + b), and consecutive places must differ by exactly one operation of the answer's kind.
  const byPlace = new Map<number, { a: bigint; b: bigint; kind: 'incr' | 'decr'; proc: number }>();
  const problems: string[] = [];
  results.forEach(({ lines }, p) => {
    expect(lines).toHaveLength(PER);
    let lastPlace = 0;
    for (const line of lines) {
      const d = BigInt(line) - BASE;
      const b = ((d % UP) + UP) % UP; // d = (a − b)·UP + b, with 0 ≤ b < UP
      const a = (d - b) / UP + b;
      if (a < 0n || a > ups || b < 0n || b > downs) {
        problems.push(`process ${p}: ${line} is no reachable state`);
        continue;
      }
      const place = Number(a + b);
      if (place <= lastPlace) problems.push(`process ${p}: ${line} (op ${place}) after op ${lastPlace}`);
      lastPlace = place;
      const seen = byPlace.get(place);
      if (seen) problems.push(`op ${place} answered to processes ${seen.proc} and ${p}`);
      else byPlace.set(place, { a, b, kind: kinds[p]!, proc: p });
    }
  });
  expect(problems.slice(0, 10)).toEqual([]);
  const total = Number(ups + downs);
  expect(byPlace.size).toBe(total);
  let a = 0n;
  let b = 0n;
  for (let place = 1; place <= total; place++) {
    const op = byPlace.get(place)!;
    if (op.kind === 'incr') a++;
    else b++;
    if (op.a !== a || op.b !== b) problems.push(`op ${place} (${op.kind} by process ${op.proc}) left (${op.a}, ${op.b}), expected (${a}, ${b})`);
  }
  expect(problems.slice(0, 10)).toEqual([]);

  const final = await runTbase(['--json', 'get', 'big'], { env });
  expect(final.code).toBe(0);
  expect((JSON.parse(final.out) as { value: string }).value).toBe(String(expected));

  const runs = runsOf(Array.from({ length: total }, (_, i) => byPlace.get(i + 1)!.proc));
  console.log(`incr/decr race: ${total} ops (${ups} incr, ${downs} decr), final ${expected} = 2^62+${expected - BASE}, ${runs} runs of one process, ${ms} ms`);
});

test(`CAS loops (get + set --if-revision) from ${PROCESSES} processes converge with no lost increment`, async () => {
  const PER = 100;
  // Far above anything fair scheduling produces; reaching it means a process is starved or conflicts never clear.
  const MAX_ATTEMPTS = 5000;
  const env = freshEnv();
  const procs = await startGated(PROCESSES, ['--json'], env, 'cas');
  const started = Date.now();

  type Answer = { ok: boolean; command: string; value?: string; revision?: number; error?: string };
  const parse = (line: string): Answer => JSON.parse(line) as Answer;
  const oddities: string[] = [];

  const loop = async (proc: Proc, p: number) => {
    const written: bigint[] = [];
    const revisions: number[] = [];
    let conflicts = 0;
    let worst = 0;
    for (let i = 0; i < PER; i++) {
      for (let attempt = 1; ; attempt++) {
        if (attempt > MAX_ATTEMPTS) throw new Error(`process ${p} gave up on increment ${i} after ${MAX_ATTEMPTS} attempts`);
        const got = parse(await proc.ask('get cas'));
        let current: bigint;
        let revision: number;
        if (got.ok) {
          current = BigInt(got.value!);
          revision = got.revision!;
        } else if (got.error === 'not_found') {
          // The first writer creates the key: --if-revision 0 is the "must be absent" race.
          current = 0n;
          revision = 0;
        } else throw new Error(`process ${p}: get failed: ${JSON.stringify(got)}`);
        const set = parse(await proc.ask(`set cas ${current + 1n} --if-revision ${revision}`));
        if (set.ok) {
          written.push(current + 1n);
          revisions.push(set.revision!);
          worst = Math.max(worst, attempt);
          break;
        }
        if (set.error !== 'conflict') throw new Error(`process ${p}: set failed: ${JSON.stringify(set)}`);
        // No deletes here, so a key's revision only grows: a conflict naming a revision not above the one just
        // read means the get showed a future state or the condition failed against the state it matched.
        if (!(set.revision! > revision)) oddities.push(`process ${p}: read revision ${revision}, conflict says ${set.revision}`);
        conflicts++;
      }
    }
    return { written, revisions, conflicts, worst };
  };

  const outcomes = await Promise.all(procs.map((proc, p) => loop(proc, p)));
  const results = await Promise.all(procs.map((proc) => proc.finish()));
  const ms = Date.now() - started;
  expectCleanExit(results, procs);
  expect(oddities.slice(0, 10)).toEqual([]);

  // Each successful CAS wrote current+1: two processes writing the same number is exactly a lost update.
  const writers = new Map<string, number>();
  const duplicates: string[] = [];
  outcomes.forEach(({ written }, p) => {
    for (const value of written) {
      const other = writers.get(String(value));
      if (other !== undefined) duplicates.push(`${value} written by processes ${other} and ${p}`);
      else writers.set(String(value), p);
    }
  });
  expect(duplicates.slice(0, 10)).toEqual([]);
  const revisions = outcomes.flatMap((o) => o.revisions);
  expect(new Set(revisions).size).toBe(revisions.length);

  const final = await runTbase(['--json', 'get', 'cas'], { env });
  expect(final.code).toBe(0);
  expect((JSON.parse(final.out) as { value: string }).value).toBe(String(PROCESSES * PER));

  const conflicts = outcomes.reduce((sum, o) => sum + o.conflicts, 0);
  const worst = Math.max(...outcomes.map((o) => o.worst));
  // Without conflicts the loops ran one after another and proved nothing about the condition check.
  expect(conflicts).toBeGreaterThan(0);
  console.log(
    `CAS race: ${PROCESSES}×${PER} increments, ${conflicts} conflicts (retries), per process [${outcomes.map((o) => o.conflicts).join(', ')}], worst ${worst} attempts for one increment, ${ms} ms`,
  );
});

test(`set --if-absent from ${PROCESSES} one-shot processes at once: exactly one wins`, async () => {
  const env = freshEnv();
  // Create the schema first so the race is on the key, not on who initialises the database file.
  expect((await runTbase(['set', 'warm', 'up'], { env })).code).toBe(0);
  const started = Date.now();
  const results = await Promise.all(
    Array.from({ length: PROCESSES }, (_, p) => runTbase(['--json', 'set', 'race', `winner-${p}`, '--if-absent'], { env })),
  );
  const ms = Date.now() - started;
  const codes = results.map((r) => r.code);
  expect({ codes: [...codes].sort(), stderr: results.filter((r) => r.code === 0).map((r) => r.stderr) }).toEqual({
    codes: [0, ...Array<number>(PROCESSES - 1).fill(4)],
    stderr: [''],
  });
  const winner = codes.indexOf(0);
  const won = JSON.parse(results[winner]!.out) as { ok: boolean; revision: number };
  // Every loser must have lost against the winner's write, not against some other state of the key.
  const lost = results.filter((r) => r.code === 4).map((r) => JSON.parse(r.out) as { ok: boolean; error: string; revision: number });
  expect(lost).toEqual(lost.map(() => expect.objectContaining({ ok: false, error: 'conflict', revision: won.revision })));

  const got = await runTbase(['--json', 'get', 'race'], { env });
  expect(got.code).toBe(0);
  expect(JSON.parse(got.out)).toEqual(expect.objectContaining({ value: `winner-${winner}`, revision: won.revision, version: 1 }));
  console.log(`if-absent race: ${PROCESSES} one-shot processes, winner ${winner} at revision ${won.revision}, ${lost.length} conflicts (exit 4), ${ms} ms`);
});
