/**
 * The built bin in a real pseudo-terminal: a tmux server of its own (unique socket), driven with send-keys and
 * read with capture-pane. Waits poll the screen until it shows what is expected (or give up with the screen in
 * the message); nothing is asserted on time. `kill()` removes the tmux server and everything in it.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { BIN } from '../helpers/tbase.js';

let sessions = 0;

export class TmuxSession {
  private socketPath = '';

  private constructor(private readonly socket: string) {}

  /** Starts `tbase ...args` with `env` added, in a terminal `width` columns wide. */
  static start(args: string[], env: Record<string, string>, width = 120): TmuxSession {
    const socket = `tbase-repl-${process.pid}-${++sessions}-${Math.random().toString(36).slice(2, 8)}`;
    const session = new TmuxSession(socket);
    const vars = Object.entries({ NO_COLOR: '1', ...env }).map(([name, value]) => `${name}=${value}`);
    const command = ['env', '-u', 'FORCE_COLOR', ...vars, process.execPath, BIN, ...args].map(shellQuote).join(' ');
    // remain-on-exit keeps the pane (and its last screen and exit status) after the REPL ends.
    session.tmux('new-session', '-d', '-s', 'main', '-x', String(width), '-y', '50', command, ';', 'set-option', '-t', 'main', 'remain-on-exit', 'on');
    session.socketPath = session.tmux('display-message', '-p', '#{socket_path}').trim();
    return session;
  }

  /** Types text literally (no key names). */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'main', '-l', text);
  }

  /** Pastes text in one piece, as a terminal paste does (newlines arrive as Enter). */
  paste(text: string): void {
    this.tmux('set-buffer', '-b', 'paste', text);
    this.tmux('paste-buffer', '-b', 'paste', '-d', '-t', 'main');
  }

  /** Presses keys by tmux name: Enter, Tab, Up, C-c, C-d… */
  press(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...keys);
  }

  /** The whole scrollback, wrapped lines joined, trailing blank lines dropped. */
  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-2000', '-t', 'main').replace(/\n+$/, '');
  }

  /** Where the terminal's cursor is: column and row, from 0 (row 0 the top of the visible screen). */
  cursor(): { x: number; y: number } {
    const [x, y] = this.tmux('display-message', '-p', '-t', 'main', '#{cursor_x} #{cursor_y}').trim().split(' ').map(Number);
    return { x: x!, y: y! };
  }

  lastLine(): string {
    return this.screen().split('\n').at(-1) ?? '';
  }

  async waitFor(check: (screen: string) => boolean, what: string, timeoutMs = 20000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = this.screen();
      if (check(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`screen never showed ${what}; it shows:\n${screen}`);
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  }

  /** Waits for the REPL's empty prompt on the last line (`tbase>`, maybe with the cache state). */
  waitForPrompt(): Promise<string> {
    return this.waitFor((screen) => isPrompt(screen.split('\n').at(-1) ?? ''), 'an empty prompt');
  }

  /**
   * Types a line at the prompt, presses Enter, waits for the next empty prompt, and returns what the command
   * printed in between (the line itself excluded).
   */
  async run(line: string): Promise<string> {
    await this.waitForPrompt();
    const before = promptCount(this.screen());
    this.type(line);
    this.press('Enter');
    const screen = await this.waitFor((s) => promptCount(s) > before && isPrompt(s.split('\n').at(-1) ?? ''), `the prompt after ${JSON.stringify(line)}`);
    const lines = screen.split('\n');
    const promptLines = lines.flatMap((text, i) => (/^tbase( \([^)]*\))?>/.test(text) ? [i] : []));
    return lines.slice(promptLines.at(-2)! + 1, -1).join('\n');
  }

  /** The REPL's exit status once it has ended. */
  async exitStatus(): Promise<number> {
    await this.waitFor(() => this.tmux('display-message', '-p', '-t', 'main', '#{pane_dead}').trim() === '1', 'the REPL ending');
    return Number(this.tmux('display-message', '-p', '-t', 'main', '#{pane_dead_status}').trim());
  }

  kill(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server'], { stdio: 'ignore' });
    if (this.socketPath) rmSync(this.socketPath, { force: true }); // tmux can leave the socket file behind
  }

  private tmux(...args: string[]): string {
    const result = spawnSync('tmux', ['-L', this.socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`tmux ${args[0]} failed: ${result.stderr}`);
    return result.stdout;
  }
}

function isPrompt(line: string): boolean {
  return /^tbase( \([^)]*\))?>$/.test(line.trimEnd());
}

function promptCount(screen: string): number {
  return screen.split('\n').filter((line) => /^tbase( \([^)]*\))?>/.test(line)).length;
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
