/** A long-running `tbase batch` fed line by line, for tests that change the world between commands. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { BIN } from './tbase.js';

export class BatchSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private out = '';
  err = '';
  private readonly exited: Promise<number | null>;

  constructor(args: string[], env: Record<string, string>, options: { cwd?: string } = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: options.cwd });
    // One decoder for the stream: a character split across two chunks is decoded whole.
    const decoder = new StringDecoder('utf8');
    this.child.stdout.on('data', (c: Buffer) => (this.out += decoder.write(c)));
    this.child.stderr.on('data', (c: Buffer) => (this.err += c.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
  }

  get lines(): string[] {
    return this.out.split('\n').filter((l) => l !== '');
  }

  send(lines: string[]): void {
    this.child.stdin.write(`${lines.join('\n')}\n`);
  }

  /** Waits until at least `count` output lines have arrived (or fails after `timeoutMs`). */
  async waitForLines(count: number, timeoutMs = 20000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count) {
      if (Date.now() > deadline) throw new Error(`waited for ${count} lines, got ${this.lines.length}: ${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.lines;
  }

  async end(): Promise<number | null> {
    this.child.stdin.end();
    return this.exited;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}
