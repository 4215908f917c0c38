/** A long-running `tbase batch` fed line by line, for tests that change the world between commands. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { BIN } from './tbase.js';

export class BatchSession {
  private readonly child: ChildProcessWithoutNullStreams;
  /** The output lines that have arrived (non-empty ones), kept as they come: a session may answer 100,000 lines. */
  private readonly answered: string[] = [];
  private partial = '';
  private readonly waiters = new Set<() => void>();
  err = '';
  private readonly exited: Promise<number | null>;
  /** Set once the process has exited and its output is all in. */
  private closed = false;

  constructor(args: string[], env: Record<string, string>, options: { cwd?: string } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: options.cwd });
    // One decoder for the stream: a character split across two chunks is decoded whole.
    const decoder = new StringDecoder('utf8');
    this.child.stdout.on('data', (c: Buffer) => {
      const parts = (this.partial + decoder.write(c)).split('\n');
      this.partial = parts.pop()!;
      for (const line of parts) if (line !== '') this.answered.push(line);
      this.wake();
    });
    this.child.stderr.on('data', (c: Buffer) => {
      this.err += c.toString();
      this.wake();
    });
    this.child.stdin.on('error', () => undefined); // a process that died is reported by its exit, not by EPIPE
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
    void this.exited.then(() => {
      // A last line without its LF is complete once the process has ended.
      if (this.partial !== '') this.answered.push(this.partial);
      this.partial = '';
      this.closed = true;
      this.wake();
    });
  }

  /** The complete lines so far: an answer streamed in pieces (list, export) counts once its LF is in. */
  get lines(): string[] {
    return this.answered;
  }

  /** Whether the process is still running (or its last output is still arriving). */
  get running(): boolean {
    return !this.closed;
  }

  send(lines: string[]): void {
    this.child.stdin.write(`${lines.join('\n')}\n`);
  }

  /** Raw bytes, for input that is not text (invalid UTF-8, NUL). */
  sendBytes(bytes: Buffer): void {
    this.child.stdin.write(bytes);
  }

  /** Waits until at least `count` output lines have arrived (or fails after `timeoutMs`, or when the process exits). */
  async waitForLines(count: number, timeoutMs = 20000): Promise<string[]> {
    await this.waitFor(() => this.answered.length >= count, () => `waited for ${count} lines, got ${this.answered.length}: ${this.err.slice(-2000)}`, timeoutMs);
    return this.lines;
  }

  private waitFor(ready: () => boolean, failure: () => string, timeoutMs: number): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (ready()) done(null);
        else if (this.closed) done(new Error(`the batch exited; ${failure()}`));
      };
      const timer = setTimeout(() => done(new Error(failure())), timeoutMs);
      const done = (error: Error | null) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits until stderr contains `text` or matches it (stderr and stdout are separate pipes: either may arrive first). */
  async waitForStderr(text: string | RegExp, timeoutMs = 20000): Promise<void> {
    const seen = () => (typeof text === 'string' ? this.err.includes(text) : text.test(this.err));
    await this.waitFor(seen, () => `stderr never showed ${String(text)}: ${this.err.slice(-2000)}`, timeoutMs);
  }

  async end(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}
