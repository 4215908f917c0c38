/**
 * `tbase watch` processes for tests: spawned from the built bin with stdout piped to the test, their lines
 * collected as they arrive, waited on by what they printed (never by time alone), stopped by a signal. Every one
 * started is remembered so that `killWatchers()` (afterAll/afterEach) leaves nothing running, whatever failed.
 * Also the expectations the tests compare against: the `list` escaping and the key order within a revision.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, runTbase, type RunOptions } from './tbase.js';

const running = new Set<Watcher>();

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

export class Watcher {
  readonly child: ChildProcess;
  private readonly chunks: Buffer[] = [];
  private text = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private exit: Exit | null = null;
  private readonly started = Date.now();

  /** `tbase ...args` with `env` added (and colour variables removed: piped output must be plain). */
  constructor(
    readonly args: string[],
    env: Record<string, string>,
    options: { read?: boolean; cwd?: string } = {},
  ) {
    const merged: Record<string, string | undefined> = { ...process.env, ...env };
    delete merged.NO_COLOR;
    delete merged.FORCE_COLOR;
    this.child = spawn(process.execPath, [BIN, ...args], { env: merged as NodeJS.ProcessEnv, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString('utf8')));
    if (options.read !== false) this.startReading();
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal, ms: Date.now() - this.started };
        running.delete(this);
        resolve(this.exit);
      });
    });
  }

  /** Starts consuming stdout (a watcher made with `read: false` leaves its pipe to fill up). */
  startReading(): void {
    this.child.stdout!.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.text += c.toString('latin1'); // decoded per line below; a chunk may end inside a UTF-8 sequence
    });
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Complete lines printed so far (UTF-8). */
  get lines(): string[] {
    const end = this.text.lastIndexOf('\n');
    if (end < 0) return [];
    return Buffer.from(this.text.slice(0, end), 'latin1').toString('utf8').split('\n');
  }

  /** Complete lines as JSON (for `--json` watchers). */
  get events(): WatchEvent[] {
    return this.lines.map((line) => JSON.parse(line) as WatchEvent);
  }

  /** Waits until the lines satisfy `check`; fails (naming `what` and showing the tail) after `timeoutMs`. */
  async waitFor(check: (lines: string[]) => boolean, what: string, timeoutMs = 15000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.lines;
      if (check(lines)) return lines;
      if (!this.running) throw new Error(`watcher ${this.args.join(' ')} ended (${JSON.stringify(this.exit)}) before ${what}; stderr: ${this.stderr}; last lines: ${lines.slice(-5).join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`watcher ${this.args.join(' ')} never showed ${what} in ${timeoutMs} ms; last lines: ${lines.slice(-5).join(' | ')}; stderr: ${this.stderr}`);
      await sleep(20);
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILLs and fails when it does not end within `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5000): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    return this.waitExit(timeoutMs, `exit after ${signal}`);
  }

  /** Waits for the exit; SIGKILLs and fails when it does not come within `timeoutMs`. */
  async waitExit(timeoutMs: number, what = 'exit'): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      throw new Error(`watcher ${this.args.join(' ')} did not ${what} within ${timeoutMs} ms (killed now); stderr: ${this.stderr}`);
    }
    // 'exit' can come before the last 'data' of the pipe; let the stream end so that `lines` is complete.
    if (this.child.stdout && !this.child.stdout.readableEnded && this.child.stdout.listenerCount('data') > 0) {
      await Promise.race([new Promise((resolve) => this.child.stdout!.once('end', resolve)), sleep(2000)]);
    }
    return outcome;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

/** SIGKILLs every watcher still running and waits for them to be gone. */
export async function killWatchers(): Promise<void> {
  const left = [...running];
  for (const watcher of left) watcher.kill();
  await Promise.all(left.map((watcher) => watcher.exited));
}

export interface WatchEvent {
  type: 'put' | 'delete' | 'expire';
  key: string;
  value?: string;
  encoding?: 'base64';
  ttl?: number | null;
  revision: number;
  createRevision?: number;
  version?: number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One `--json` one-shot command against `env`'s database, parsed. */
export async function jsonCommand(args: string[], env: Record<string, string>, options: RunOptions = {}): Promise<{ code: number | null; body: Record<string, unknown>; stderr: string }> {
  const result = await runTbase(['--json', ...args], { ...options, env: { ...env, ...options.env } });
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(result.out) as Record<string, unknown>;
  } catch {
    throw new Error(`tbase --json ${args.join(' ')} printed no JSON (exit ${result.code}): ${result.out} ${result.stderr}`);
  }
  return { code: result.code, body, stderr: result.stderr };
}

/**
 * The `list` escaping (CONTRACT/README): `\\` `\t` `\n` `\r` by name; other control characters, and every byte
 * outside printable ASCII when the value is not valid UTF-8, as `\xNN`. Written independently of the source.
 */
export function listEscape(value: Buffer | string): string {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const named: Record<number, string> = { 0x5c: '\\\\', 0x09: '\\t', 0x0a: '\\n', 0x0d: '\\r' };
  const hex = (byte: number) => `\\x${byte.toString(16).padStart(2, '0')}`;
  const valid = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
  if (valid) {
    return [...bytes.toString('utf8')]
      .map((ch) => {
        const code = ch.codePointAt(0)!;
        if (named[code]) return named[code];
        return code < 0x20 || code === 0x7f ? hex(code) : ch;
      })
      .join('');
  }
  return [...bytes].map((byte) => named[byte] ?? (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : hex(byte))).join('');
}

/** Key order as the store keeps it (and `list` prints it): by UTF-8 bytes, not by UTF-16 code units. */
export function byKeyBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The first place two sequences differ, with a little context, or null when they are equal. */
export function firstDifference<T>(actual: T[], expected: T[], show: (item: T | undefined) => string = canonical): string | null {
  const length = Math.max(actual.length, expected.length);
  for (let i = 0; i < length; i++) {
    if (canonical(actual[i]) === canonical(expected[i])) continue;
    const context = (items: T[]) => items.slice(Math.max(0, i - 2), i + 3).map((item, j) => `${Math.max(0, i - 2) + j}: ${show(item)}`).join('\n    ');
    return `sequences differ at index ${i} (actual ${actual.length} items, expected ${expected.length}):\n  actual:\n    ${context(actual)}\n  expected:\n    ${context(expected)}`;
  }
  return null;
}

/** JSON with object keys sorted, so that field order does not count as a difference. */
export function canonical(item: unknown): string {
  return JSON.stringify(item, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : value,
  ) ?? 'undefined';
}

/** A tiny seeded PRNG (mulberry32), so a failing mix of writes can be replayed from the printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
