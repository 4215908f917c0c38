/**
 * The only module that touches the process's streams. It knows whether each end is a terminal, whether to use
 * colour, and writes with back-pressure so that a slow pipe never makes output pile up in memory.
 *
 * Each stream is made on first use: Node builds process.stdout or process.stderr (a socket, for a pipe) when it is
 * first read, ~1–1.5 ms each, and a one-shot command that answers on stdout never needs stderr. A one-shot
 * answer may even skip the stream (`writeStdoutDirectly`).
 */
import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { isTerminal } from './bindings.js';
import { loadColours, NO_COLOUR, type Colours } from './colour.js';

export type OutputMode = 'human' | 'plain' | 'json';

export interface IOStreams {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  isStdinTTY: boolean;
  isStdoutTTY: boolean;
  isStderrTTY: boolean;
  env: Record<string, string | undefined>;
  /** stdout's file descriptor, for `writeStdoutDirectly`; absent, stdout is only ever written as a stream. */
  stdoutFd?: number;
}

export class IO {
  private readonly streams: IOStreams;
  readonly isStdinTTY: boolean;
  readonly isStdoutTTY: boolean;
  readonly isStderrTTY: boolean;
  /** Colours for stdout: none when stdout is piped or NO_COLOR is set; chalk's once `loadColours` has run. */
  colour: Colours = NO_COLOUR;
  /** Colours for stderr, judged on stderr's own terminal-ness. */
  errColour: Colours = NO_COLOUR;
  private stdoutStream: Writable | undefined;
  private stderrStream: Writable | undefined;
  /** Set by writeStdoutDirectly until the stdout stream is made (after that, only the stream is written). */
  private directFd: number | undefined;
  private stdoutClosed = false;
  private readonly closedListeners = new Set<() => void>();

  constructor(streams: IOStreams) {
    this.streams = streams;
    this.isStdinTTY = streams.isStdinTTY;
    this.isStdoutTTY = streams.isStdoutTTY;
    this.isStderrTTY = streams.isStderrTTY;
  }

  /**
   * Loads chalk if stdout or stderr is to be coloured (colour.ts: piped output never loads it). Every front calls
   * this first (cli.ts `main`); until then both are NO_COLOUR.
   */
  async loadColours(): Promise<void> {
    [this.colour, this.errColour] = await Promise.all([
      loadColours(colourLevel(this.isStdoutTTY, this.streams.env)),
      loadColours(colourLevel(this.isStderrTTY, this.streams.env)),
    ]);
  }

  private get stdout(): Writable {
    if (!this.stdoutStream) {
      this.stdoutStream = this.streams.stdout;
      this.directFd = undefined;
      // A reader that went away (`tbase list | head -1`) is not an error of ours: stop writing, exit quietly.
      this.stdoutStream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
        this.readerGone();
      });
    }
    return this.stdoutStream;
  }

  private get stderr(): Writable {
    return (this.stderrStream ??= this.streams.stderr);
  }

  private readerGone(): void {
    this.stdoutClosed = true;
    for (const listener of [...this.closedListeners]) listener();
  }

  /**
   * From now on, until something needs stdout as a stream, write it with write(2) on its descriptor: for a
   * one-shot command that prints its answer and exits, so it need not make the stream at all. A pipe or file that
   * Node has not touched blocks until the bytes are taken, so this waits for a slow reader as the stream would; a
   * descriptor that is not blocking (EAGAIN) hands what is left to the stream. Not for a terminal (colour, the
   * REPL) nor for a command that streams while it waits on other things (watch, batch, serve).
   */
  writeStdoutDirectly(): void {
    if (!this.isStdoutTTY && this.streams.stdoutFd !== undefined && !this.stdoutStream) this.directFd = this.streams.stdoutFd;
  }

  /** Gives up on what is still unwritten to stdout (a stopped watch whose reader does not read): flush skips it. */
  abandonStdout(): void {
    this.stdoutClosed = true;
  }

  /** Runs `listener` once the reader of stdout has gone (a streaming command stops then); returns the undo. */
  onStdoutClosed(listener: () => void): () => void {
    if (this.stdoutClosed) listener();
    this.closedListeners.add(listener);
    return () => this.closedListeners.delete(listener);
  }

  static fromProcess(): IO {
    return new IO({
      // A getter: process.stdin makes its stream on first use (~3 ms for a file or /dev/null), which a one-shot
      // command that never reads stdin need not pay (docs/architecture.md, "Start-up").
      get stdin() {
        return process.stdin;
      },
      get stdout() {
        return process.stdout;
      },
      get stderr() {
        return process.stderr;
      },
      // Not node:tty's isatty: loading node:tty loads node:net with it (bindings.ts).
      isStdinTTY: isTerminal(0),
      isStdoutTTY: isTerminal(1),
      isStderrTTY: isTerminal(2),
      env: process.env,
      stdoutFd: 1,
    });
  }

  get stdin(): Readable {
    return this.streams.stdin;
  }

  outputMode(json: boolean): OutputMode {
    if (json) return 'json';
    return this.isStdoutTTY ? 'human' : 'plain';
  }

  /** Writes data to stdout, waiting when the pipe is full. */
  async out(data: string | Uint8Array): Promise<void> {
    if (this.stdoutClosed || data.length === 0) return;
    if (this.directFd !== undefined) {
      const rest = this.writeDirect(this.directFd, data);
      if (rest === null) return;
      data = rest;
    }
    if (!this.stdout.write(data)) await waitForDrain(this.stdout);
  }

  /** Writes data with write(2); resolves to what is left for the stream (a descriptor that would block), or null. */
  private writeDirect(fd: number, data: string | Uint8Array): Uint8Array | null {
    let bytes = typeof data === 'string' ? null : data;
    const total = bytes ? bytes.length : Buffer.byteLength(data as string);
    let written = 0;
    try {
      for (;;) {
        written += bytes ? writeSync(fd, bytes, written) : writeSync(fd, data as string);
        if (written >= total) return null;
        bytes ??= Buffer.from(data as string); // a partial write of a string: go on by bytes
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        this.readerGone();
        return null;
      }
      if (code !== 'EAGAIN') throw error;
      return (bytes ?? Buffer.from(data as string)).subarray(written);
    }
  }

  /** One line of notice, warning or error on stderr. */
  err(line: string): void {
    this.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** The terminal for the REPL's Inquirer prompts, which draw on stdout and read keys from stdin themselves. */
  promptStreams(): { input: Readable; output: Writable } {
    return { input: this.stdin, output: this.stdout };
  }

  /** stderr itself, for widgets that redraw a terminal line (progress bars); only used when isStderrTTY. */
  terminalStream(): Writable {
    return this.stderr;
  }

  /** Resolves once everything written so far has been handed to the operating system. */
  flush(): Promise<void> {
    const flushOne = (stream: Writable) =>
      new Promise<void>((resolve) => {
        if (stream.writableEnded || stream.destroyed) return resolve();
        stream.write('', () => resolve());
      });
    // A stream never made holds nothing (what went straight to the descriptor is written already).
    const made = [this.stdoutClosed ? undefined : this.stdoutStream, this.stderrStream];
    return Promise.all(made.map((stream) => stream && flushOne(stream))).then(() => undefined);
  }

  /** All of stdin as bytes, refusing more than `maxBytes`. */
  async readAllStdin(maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.stdin) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      total += buffer.length;
      if (total > maxBytes) throw tooLarge();
      chunks.push(buffer);
    }
    return Buffer.concat(chunks, total);
  }
}

/** NO_COLOR (any non-empty value) wins, then FORCE_COLOR, then whether the stream is a terminal. */
export function colourLevel(isTTY: boolean, env: Record<string, string | undefined>): 0 | 1 | 2 | 3 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    if (force === '' || force === 'true') return 1;
    if (force === 'false') return 0;
    const level = Number.parseInt(force, 10);
    return Number.isNaN(level) ? 1 : (Math.max(0, Math.min(level, 3)) as 0 | 1 | 2 | 3);
  }
  if (!isTTY || env.TERM === 'dumb') return 0;
  return env.COLORTERM === 'truecolor' ? 3 : 2;
}

function waitForDrain(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
