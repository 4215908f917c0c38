/**
 * Clients and faults for the linearizability test (__tests__/coordination/linearizable.test.ts).
 *
 * Every client drives the real CLI in its own process and records each call as an Operation for the checker
 * (linearizability.ts): `call` just before the command leaves this process, `ret` when its answer arrives, both
 * from one clock (performance.now() here), so real-time order between clients in different processes is exact
 * up to the pipe's latency, which only ever widens an interval (the safe direction).
 *  - BatchClient: one long-lived `tbase --json batch -`, fed one line at a time (next line only after the answer).
 *  - OneShotClient: one `tbase --json <command…>` process per operation.
 *  - A BatchClient may run under `unshare --net` (no route to memcached at all, same SQLite file).
 *  - The database is a SQLite path or a postgres:// URL (`--db` takes both); a Target may also give every process
 *    an environment and working folder of its own (a "host": HOME, XDG_DATA_HOME, cwd), and pass the memcached
 *    pool there (TBASE_SERVERS) instead of as a flag.
 * Faults: SIGSTOP/SIGCONT memcached, kill and restart it on its port, flush_all, SIGKILL a batch client mid-call.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Input, Operation, Output } from './linearizability.js';
import { startMemcached, type MemcachedServer } from './memcached.js';
import { BIN } from './tbase.js';

export type OpKind = Input['f'];
export const OP_KINDS: OpKind[] = ['get', 'set', 'set-if-absent', 'set-if-revision', 'set-if-value', 'delete', 'delete-if-revision', 'incr'];

/** An answer no client should wait longer for: past it the op is recorded as unknown and the process killed. */
const ANSWER_TIMEOUT_MS = 15_000;
const STDERR_TAIL = 4096;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Commands and answers.

/** The CLI words for one operation (the same for a batch line and a one-shot argv: values are plain tokens). */
export function commandWords(key: string, input: Input): string[] {
  switch (input.f) {
    case 'get':
      return ['get', key];
    case 'set':
      return ['set', key, input.value];
    case 'set-if-absent':
      return ['set', key, input.value, '--if-absent'];
    case 'set-if-revision':
      return ['set', key, input.value, '--if-revision', String(input.expect)];
    case 'set-if-value':
      return ['set', key, input.value, '--if-value', input.old];
    case 'delete':
      return ['delete', key];
    case 'delete-if-revision':
      return ['delete', key, '--if-revision', String(input.expect)];
    case 'incr':
      return ['incr', key, input.by];
  }
}

interface Answer {
  ok?: boolean;
  command?: string;
  line?: number;
  key?: string;
  value?: string;
  revision?: number;
  error?: string;
  source?: 'cache' | 'store';
}

/** What the checker should make of a --json answer. Anything unexpected is 'error' (the op may or may not have happened). */
export function toOutput(input: Input, answer: Answer): Output {
  if (answer.ok === true) {
    if (input.f === 'get') return typeof answer.value === 'string' && typeof answer.revision === 'number' ? { kind: 'value', value: answer.value, revision: answer.revision } : { kind: 'error' };
    if (typeof answer.revision !== 'number') return { kind: 'error' };
    return input.f === 'incr' ? { kind: 'written', revision: answer.revision, value: answer.value } : { kind: 'written', revision: answer.revision };
  }
  switch (answer.error) {
    case 'not_found':
      return { kind: 'not-found' };
    case 'conflict':
      return typeof answer.revision === 'number' ? { kind: 'conflict', revision: answer.revision } : { kind: 'error' };
    case 'usage':
      // The only usage error this workload can provoke: incr of a value that is not a 64-bit integer.
      return input.f === 'incr' ? { kind: 'not-integer' } : { kind: 'error' };
    default:
      return { kind: 'error' };
  }
}

/** One recorded call, plus where a get was answered from (for the figures, not for the checker). */
export interface Recorded {
  op: Operation;
  source?: 'cache' | 'store';
  /** The answer's error code, when it failed ('storage' is exit 3). */
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Processes.

export interface Target {
  /** A SQLite file path or a postgres:// URL (`--db`). */
  db: string;
  /** memcached address(es), host:port[,…], passed as `--servers`; omitted: the process's env says (TBASE_SERVERS in `env`). */
  servers?: string;
  /** Added to every process's environment (after the outside's tbase variables are removed). */
  env?: Record<string, string>;
  /** Every process's working folder. */
  cwd?: string;
}

/** Global flags every process gets. */
function tbaseArgs(target: Target): string[] {
  return ['--json', '--db', target.db, ...(target.servers === undefined ? [] : ['--servers', target.servers])];
}

function childEnv(target: Target): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from the outside may switch the cache off or point it elsewhere: flags (and the target's env) say it all.
  for (const name of ['NO_COLOR', 'FORCE_COLOR', 'TBASE_NO_CACHE', 'TBASE_DB', 'TBASE_SERVERS', 'MEMCACHE_SERVERS', 'TBASE_CACHE_TIMEOUT_MS']) delete env[name];
  return { ...env, ...target.env };
}

/** Whether `unshare --net` can start a process here (it needs root or user namespaces). */
export function unshareWorks(): boolean {
  const probe = spawnSync('unshare', ['--net', '--', process.execPath, '-e', ''], { stdio: 'ignore', timeout: 10_000 });
  return probe.status === 0;
}

interface Pending {
  call: number;
  key: string;
  input: Input;
  resolve: (recorded: Recorded) => void;
  timer: NodeJS.Timeout;
}

/** A long-lived `tbase --json batch -` fed one line at a time. */
export class BatchClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private buffered = '';
  private pending: Pending | null = null;
  private sent = 0;
  private killOnNextCall = false;
  /** Set when the process is gone (killed by us or not). */
  exited = false;
  /** True when the fault loop killed it; a batch that exits on its own while we still talk to it is a bug worth a report. */
  killedByUs = false;
  /** True once its input was closed: from then on exiting is what it should do. */
  ended = false;
  /** Anything wrong seen in the conversation (an answer out of order, no answer in time): reported by the test. */
  readonly problems: string[] = [];
  stderrTail = '';
  readonly closed: Promise<void>;

  constructor(
    readonly name: string,
    target: Target,
    /** e.g. ['unshare', '--net', '--'] */
    prefix: string[] = [],
  ) {
    const argv = [process.execPath, BIN, ...tbaseArgs(target), 'batch', '-'];
    const [command, ...args] = [...prefix, ...argv];
    this.child = spawn(command!, args, { env: childEnv(target), cwd: target.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => undefined); // EPIPE after a kill: the close handler settles the call
    this.child.stdout.on('data', (chunk: Buffer) => this.onData(chunk, performance.now()));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderrTail = (this.stderrTail + chunk.toString()).slice(-STDERR_TAIL)));
    this.closed = new Promise((resolve) =>
      this.child.on('close', () => {
        this.exited = true;
        this.settle(null, null);
        resolve();
      }),
    );
  }

  /** Runs one operation; resolves when its answer line arrives, or with ret null when the process dies first. */
  run(key: string, input: Input): Promise<Recorded> {
    if (this.pending) throw new Error(`${this.name}: a call is already in flight`);
    return new Promise((resolve) => {
      if (this.exited) return resolve(unknown(this.name, key, input, performance.now()));
      const line = `${commandWords(key, input).join(' ')}\n`;
      const call = performance.now();
      const timer = setTimeout(() => {
        this.problems.push(`no answer after ${ANSWER_TIMEOUT_MS} ms to: ${line.trim()}`);
        this.child.kill('SIGKILL');
      }, ANSWER_TIMEOUT_MS);
      const pending: Pending = { call, key, input, resolve, timer };
      this.pending = pending;
      this.sent++;
      this.child.stdin.write(line);
      if (this.killOnNextCall) {
        // Somewhere between "not read yet" and "committed, answer on its way": either way nobody knows. If the
        // answer beats the kill, the next call gets its turn.
        setTimeout(() => {
          if (this.pending !== pending) return;
          this.killOnNextCall = false;
          this.kill();
        }, Math.random() * 30);
      }
    });
  }

  /** SIGKILL 0–30 ms into the next call (retried on later calls until one is still in flight by then). */
  killMidCall(): void {
    this.killOnNextCall = true;
  }

  kill(): void {
    this.killedByUs = true;
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Closes stdin and waits for the batch to finish (killing it if it does not within a few seconds). */
  async end(): Promise<void> {
    this.ended = true;
    this.child.stdin.end();
    const timer = setTimeout(() => {
      this.problems.push('still running 10 s after the end of its input');
      this.child.kill('SIGKILL');
    }, 10_000);
    await this.closed;
    clearTimeout(timer);
  }

  private onData(chunk: Buffer, at: number): void {
    this.buffered += chunk.toString();
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const text = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      if (text.trim() === '') continue;
      let answer: Answer | undefined;
      try {
        answer = JSON.parse(text) as Answer;
      } catch {
        answer = undefined;
      }
      if (!answer || !this.pending || answer.line !== this.sent) {
        // The conversation is off the rails: end it; the call in flight stays unknown, the test reports why.
        this.problems.push(`answer ${text} while waiting for line ${this.sent}${this.pending ? '' : ' (nothing in flight)'}`);
        this.child.kill('SIGKILL');
        return;
      }
      this.settle(answer, at);
    }
  }

  private settle(answer: Answer | null, at: number | null): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = null;
    clearTimeout(pending.timer);
    if (answer === null || at === null) return pending.resolve(unknown(this.name, pending.key, pending.input, pending.call));
    pending.resolve({
      op: { client: this.name, key: pending.key, call: pending.call, ret: at, input: pending.input, output: toOutput(pending.input, answer) },
      source: answer.source,
      error: answer.error,
    });
  }
}

function unknown(client: string, key: string, input: Input, call: number): Recorded {
  return { op: { client, key, call, ret: null, input, output: null } };
}

/** One `tbase --json <command…>` process per call. */
export class OneShotClient {
  private readonly running = new Set<ReturnType<typeof spawn>>();
  timeouts = 0;

  constructor(
    readonly name: string,
    private readonly target: Target,
  ) {}

  run(key: string, input: Input): Promise<Recorded> {
    const call = performance.now();
    const child = spawn(process.execPath, [BIN, ...tbaseArgs(this.target), ...commandWords(key, input)], { env: childEnv(this.target), cwd: this.target.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(child);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.resume();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.timeouts++;
      child.kill('SIGKILL');
    }, ANSWER_TIMEOUT_MS);
    return new Promise((resolve) =>
      child.on('close', () => {
        const ret = performance.now();
        clearTimeout(timer);
        this.running.delete(child);
        if (timedOut) return resolve(unknown(this.name, key, input, call));
        let answer: Answer;
        try {
          answer = JSON.parse(stdout) as Answer;
        } catch {
          // No answer at all (a crash): whether the write happened is unknown, but it ended by `ret`.
          return resolve({ op: { client: this.name, key, call, ret, input, output: { kind: 'error' } } });
        }
        resolve({ op: { client: this.name, key, call, ret, input, output: toOutput(input, answer) }, source: answer.source, error: answer.error });
      }),
    );
  }

  killAll(): void {
    for (const child of this.running) child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// The workload.

/** What one client last saw of a key: conditional writes use it, so they often (not always) succeed. */
type Memory = Map<string, { revision: number; value: string | null }>;

export class Workload {
  private seq = 0;

  constructor(
    /** Written all the time: conditional writes contend, tombstones are always there. */
    readonly hotKeys: string[],
    /**
     * Read all the time but written only in short bursts: its tombstone expires between bursts (it lives 2–3 s),
     * so reads fill the cache and then hit, and a burst then races those hits.
     */
    readonly quietKey: string,
    private readonly start: number,
    private readonly quietPeriodMs = 4000,
    private readonly quietBurstMs = 200,
  ) {}

  get keys(): string[] {
    return [...this.hotKeys, this.quietKey];
  }

  next(client: string, memory: Memory, random: () => number = Math.random): { key: string; input: Input } {
    const keys = this.keys;
    const key = keys[Math.floor(random() * keys.length)]!;
    const quietNow = key === this.quietKey && (performance.now() - this.start) % this.quietPeriodMs >= this.quietBurstMs;
    const kind = quietNow ? 'get' : pick(random);
    const seen = memory.get(key);
    const value = () => (random() < 0.6 ? String(Math.floor(random() * 20)) : `${client}.${++this.seq}`);
    switch (kind) {
      case 'get':
        return { key, input: { f: 'get' } };
      case 'set':
        return { key, input: { f: 'set', value: value() } };
      case 'set-if-absent':
        return { key, input: { f: 'set-if-absent', value: value() } };
      case 'set-if-revision':
        return { key, input: { f: 'set-if-revision', expect: random() < 0.15 ? 0 : (seen?.revision ?? 0), value: value() } };
      case 'set-if-value':
        return { key, input: { f: 'set-if-value', old: seen?.value ?? String(Math.floor(random() * 20)), value: value() } };
      case 'delete':
        return { key, input: { f: 'delete' } };
      case 'delete-if-revision':
        return { key, input: { f: 'delete-if-revision', expect: seen?.revision ?? 0 } };
      case 'incr':
        return { key, input: { f: 'incr', by: String(Math.floor(random() * 9) - 3) } };
    }
  }
}

/** Roughly 45% reads; the rest spread over every kind of write. */
const WEIGHTS: [OpKind, number][] = [
  ['get', 45],
  ['set', 11],
  ['set-if-revision', 10],
  ['set-if-absent', 5],
  ['set-if-value', 6],
  ['delete', 7],
  ['delete-if-revision', 5],
  ['incr', 11],
];
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

function pick(random: () => number): OpKind {
  let r = random() * TOTAL_WEIGHT;
  for (const [kind, weight] of WEIGHTS) if ((r -= weight) < 0) return kind;
  return 'get';
}

/** Learns what an answer said about its key. */
export function remember(memory: Memory, { op }: Recorded): void {
  const out = op.output;
  if (!out) return;
  const input = op.input;
  if (out.kind === 'value') memory.set(op.key, { revision: out.revision, value: out.value });
  else if (out.kind === 'not-found') memory.set(op.key, { revision: 0, value: null });
  else if (out.kind === 'conflict') {
    // The revision is current; the value only if the revision is the one we already knew.
    const known = memory.get(op.key);
    memory.set(op.key, { revision: out.revision, value: known?.revision === out.revision ? known.value : null });
  }
  else if (out.kind === 'written') {
    const deleted = input.f === 'delete' || input.f === 'delete-if-revision';
    const value = deleted ? null : input.f === 'incr' ? (out.value ?? null) : 'value' in input ? input.value : null;
    memory.set(op.key, { revision: deleted ? 0 : out.revision, value });
  }
}

// ---------------------------------------------------------------------------------------------
// Driving clients until a deadline.

export class History {
  readonly ops: Operation[] = [];
  hits = 0;
  /** Calls answered with a storage error (exit 3): the store could not be reached or written. */
  readonly storageErrors: Operation[] = [];

  add({ op, source, error }: Recorded): void {
    this.ops.push(op);
    if (source === 'cache') this.hits++;
    if (error === 'storage') this.storageErrors.push(op);
  }
}

/**
 * A seat for a long-lived batch client: when its process is killed (by the fault loop) a fresh one takes the
 * seat under a new name, so the old process's last call stays unknown for ever, as it should.
 */
export class BatchSeat {
  client: BatchClient;
  generation = 1;
  readonly retired: BatchClient[] = [];
  private readonly memory: Memory = new Map();

  constructor(
    readonly name: string,
    private readonly target: Target,
    private readonly prefix: string[] = [],
  ) {
    this.client = new BatchClient(`${name}`, target, prefix);
  }

  async drive(workload: Workload, history: History, deadline: number): Promise<void> {
    while (performance.now() < deadline) {
      const { key, input } = workload.next(this.name, this.memory);
      const recorded = await this.client.run(key, input);
      history.add(recorded);
      remember(this.memory, recorded);
      if (this.client.exited) {
        this.retired.push(this.client);
        this.generation++;
        this.client = new BatchClient(`${this.name}#${this.generation}`, this.target, this.prefix);
        this.memory.clear();
      }
    }
    await this.client.end();
  }

  /** Processes of this seat that died without being killed by the fault loop, or misbehaved, with their stderr. */
  troubles(): { client: string; problems: string[]; stderr: string }[] {
    return [...this.retired, this.client]
      .filter((c) => c.problems.length > 0 || (c.exited && !c.killedByUs && !c.ended))
      .map((c) => ({ client: c.name, problems: c.problems, stderr: c.stderrTail }));
  }

  kill(): void {
    for (const client of [...this.retired, this.client]) client.kill();
  }
}

export async function driveOneShots(client: OneShotClient, workload: Workload, history: History, deadline: number): Promise<void> {
  const memory: Memory = new Map();
  while (performance.now() < deadline) {
    const { key, input } = workload.next(client.name, memory);
    const recorded = await client.run(key, input);
    history.add(recorded);
    remember(memory, recorded);
  }
}

// ---------------------------------------------------------------------------------------------
// Faults.

export type FaultKind = 'pause' | 'restart' | 'flush' | 'kill-client';
export const FAULT_KINDS: FaultKind[] = ['pause', 'restart', 'flush', 'kill-client'];

/** Sends `flush_all` over memcached's text protocol and waits for its OK. */
export function flushAll(port: number, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('flush_all: no answer'));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (!reply.includes('\r\n')) return;
      clearTimeout(timer);
      socket.end();
      if (reply.startsWith('OK')) resolve();
      else reject(new Error(`flush_all: ${reply.trim()}`));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.connect(port, '127.0.0.1', () => socket.write('flush_all\r\n'));
  });
}

/**
 * The fault loop. Kinds come round-robin (shuffled each round), so every kind happens in a run of a few
 * seconds; between faults the system runs undisturbed for a while, so caches fill and hit again.
 */
export class Faults {
  readonly counts: Record<FaultKind, number> = { pause: 0, restart: 0, flush: 0, 'kill-client': 0 };
  private paused = false;

  constructor(
    /** The current memcached; replaced on every restart (same port). */
    public memcached: MemcachedServer,
    /** Seats whose processes may be killed. */
    private readonly victims: BatchSeat[],
  ) {}

  async run(deadline: number, { calmMs = 1000, gapMs = [500, 1500] as [number, number] } = {}): Promise<void> {
    await sleep(calmMs);
    let round: FaultKind[] = [];
    while (performance.now() < deadline) {
      if (round.length === 0) round = shuffle([...FAULT_KINDS]);
      await this.inject(round.shift()!);
      await sleep(between(gapMs[0], gapMs[1]));
    }
  }

  async inject(kind: FaultKind): Promise<void> {
    switch (kind) {
      case 'pause': {
        // memjs gives up after TBASE_CACHE_TIMEOUT_MS (500 ms): longer pauses time calls out, shorter ones only
        // delay them, and everything queued in the socket lands at once on SIGCONT.
        const pid = this.memcached.process.pid!;
        process.kill(pid, 'SIGSTOP');
        this.paused = true;
        await sleep(between(300, 1500));
        process.kill(pid, 'SIGCONT');
        this.paused = false;
        break;
      }
      case 'restart': {
        // Every copy and every tombstone is gone, and clients see refused connections for a moment.
        const port = this.memcached.port;
        await this.memcached.stop();
        await sleep(between(50, 400));
        this.memcached = await startMemcached(port);
        break;
      }
      case 'flush':
        await flushAll(this.memcached.port);
        break;
      case 'kill-client': {
        const seat = this.victims[Math.floor(Math.random() * this.victims.length)]!;
        seat.client.killMidCall();
        break;
      }
    }
    this.counts[kind]++;
  }

  /** Leaves memcached running (SIGCONT if a pause was cut short). */
  resume(): void {
    if (this.paused) this.memcached.process.kill('SIGCONT');
    this.paused = false;
  }
}

function between(low: number, high: number): number {
  return low + Math.random() * (high - low);
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
