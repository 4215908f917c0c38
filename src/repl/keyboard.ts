/**
 * The terminal's keys for the whole REPL session, so that nothing typed ahead is lost.
 *
 * Inquirer gives every prompt a readline of its own on the input it is handed. Handed the terminal itself, keys
 * that arrive while one prompt closes and the next starts are dropped (readline is paused, or the new prompt
 * discards what comes in its first tick as "stale", or the old readline reads keys past the Enter that finished
 * it). So the REPL owns stdin instead: one raw-mode reader keeps every key in order, and each prompt reads from
 * a feed of its own that is handed keys only while that prompt waits for them:
 *  - keys go in a unit at a time, a unit ending at a key that can finish a prompt (Enter, Ctrl-C, Ctrl-D, Tab),
 *    and after such a unit the feed waits a turn of the event loop: a prompt that finished takes no more keys,
 *    and what follows stays for the next prompt;
 *  - a prompt busy with a key (Tab looking keys up, Enter waiting for the pick-list's matches) holds the rest
 *    back with `holdTypeAhead` until it is done;
 *  - for a question (`ask(…, { ctrlCancels: true })`), Ctrl-C and Ctrl-D cancel it (an AbortPromptError), whatever
 *    the prompt would make of them;
 *  - Ctrl-C while a command runs (no prompt waiting) goes to `onInterrupt` listeners and drops what was typed
 *    ahead, as a terminal does; with no command running it is kept for the next prompt like any key;
 *  - the end of input cancels the waiting prompt (and every later one) once the keys before it are used.
 */
import { EventEmitter } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';

const CTRL_C = '\x03';
const CTRL_D = '\x04';
const CTRL_Z = '\x1a';
/** Keys after which a prompt may have finished. */
const UNIT_ENDS = new Set(['\r', '\n', '\t', CTRL_C, CTRL_D]);

/** What Inquirer's prompts take as their second argument. */
export interface PromptContext {
  input: NodeJS.ReadableStream;
  output: Writable;
  signal: AbortSignal;
  clearPromptOnDone: boolean;
}

export type Prompt<Config, Value> = (config: Config, context: PromptContext) => Promise<Value>;

/**
 * The input of one prompt. Not a TTY on purpose: Inquirer then starts the prompt at once instead of throwing away
 * the keys of its first tick. readline only needs an event emitter that can be resumed and paused.
 */
class KeyFeed extends EventEmitter {
  /** Work a key started (see holdTypeAhead); no key goes in until it is done. */
  readonly holds = new Set<Promise<void>>();
  resume(): this {
    return this;
  }
  pause(): this {
    return this;
  }
  isPaused(): boolean {
    return false;
  }
}

/**
 * Keeps the keys typed after this one away from the prompt until `until` settles (a lookup the key started).
 * A prompt not reading from a Keyboard (as under @inquirer/testing) is not held.
 */
export function holdTypeAhead(rl: { input?: unknown }, until: Promise<unknown>): void {
  if (!(rl.input instanceof KeyFeed)) return;
  const holds = rl.input.holds;
  const hold = until.then(
    () => undefined,
    () => undefined,
  );
  holds.add(hold);
  void hold.then(() => holds.delete(hold));
}

interface Asking {
  feed: KeyFeed;
  ctrlCancels: boolean;
  settled: boolean;
  cancel: () => void;
}

export class Keyboard {
  /** Keys read and not yet handed to a prompt. */
  private typed = '';
  private asking: Asking | null = null;
  private ended = false;
  private pumping = false;
  private readonly interruptListeners = new Set<() => void>();
  private readonly decoder = new StringDecoder('utf8');
  private readonly onData = (chunk: Buffer | string) => this.received(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  private readonly onEnd = () => {
    this.ended = true;
    void this.pump();
  };

  constructor(private readonly terminal: { input: Readable; output: Writable }) {}

  /** Takes the input over: raw mode (when a TTY), every key kept from now on. */
  start(): void {
    const { input } = this.terminal;
    (input as { setRawMode?: (raw: boolean) => void }).setRawMode?.(true);
    input.on('data', this.onData);
    input.on('end', this.onEnd);
    input.resume();
  }

  /** Gives the input back as it was found (cooked mode, paused), so the process can end. */
  stop(): void {
    const { input } = this.terminal;
    input.removeListener('data', this.onData);
    input.removeListener('end', this.onEnd);
    (input as { setRawMode?: (raw: boolean) => void }).setRawMode?.(false);
    input.pause();
  }

  /**
   * Runs an Inquirer prompt on the keys typed ahead and those still to come. `ctrlCancels`: Ctrl-C and Ctrl-D
   * cancel it (AbortPromptError) rather than being keys of the prompt.
   */
  ask<Config, Value>(prompt: Prompt<Config, Value>, config: Config, options: { ctrlCancels: boolean }): Promise<Value> {
    const feed = new KeyFeed();
    const controller = new AbortController();
    const asking: Asking = { feed, ctrlCancels: options.ctrlCancels, settled: false, cancel: () => controller.abort() };
    this.asking = asking;
    const input = feed as unknown as NodeJS.ReadableStream; // all readline uses of it
    const answer = prompt(config, { input, output: this.terminal.output, signal: controller.signal, clearPromptOnDone: false });
    const settle = () => {
      asking.settled = true;
      if (this.asking === asking) this.asking = null;
    };
    answer.then(settle, settle);
    void this.pump();
    return answer;
  }

  /** Calls `listener` on Ctrl-C while no prompt waits (a command runs); returns the way to stop listening. */
  onInterrupt(listener: () => void): () => void {
    this.interruptListeners.add(listener);
    return () => this.interruptListeners.delete(listener);
  }

  private received(text: string): void {
    if (text.includes(CTRL_Z)) {
      text = text.replaceAll(CTRL_Z, '');
      this.suspend();
    }
    if (!this.asking && this.interruptListeners.size > 0 && text.includes(CTRL_C)) {
      this.typed = '';
      for (const listener of this.interruptListeners) listener();
      return;
    }
    this.typed += text;
    void this.pump();
  }

  /** Hands keys to the waiting prompt, one unit at a time, for as long as it waits and keys remain. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let asking = this.asking; asking && !asking.settled; asking = this.asking) {
        if (asking.feed.holds.size > 0) {
          await Promise.all(asking.feed.holds);
          await nextTurn(); // the work may have finished the prompt, which takes a few more ticks to settle
          continue;
        }
        if (this.typed === '') {
          if (this.ended) asking.cancel();
          return;
        }
        const unit = nextUnit(this.typed);
        this.typed = this.typed.slice(unit.length);
        const last = unit.at(-1)!;
        if (asking.ctrlCancels && (last === CTRL_C || last === CTRL_D)) {
          if (unit.length > 1) asking.feed.emit('data', Buffer.from(unit.slice(0, -1)));
          asking.cancel();
        } else {
          asking.feed.emit('data', Buffer.from(unit));
        }
        if (UNIT_ENDS.has(last)) await nextTurn();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Ctrl-C is a key in raw mode, and so is Ctrl-Z: stop the process as the terminal would, raw mode off meanwhile. */
  private suspend(): void {
    const input = this.terminal.input as { setRawMode?: (raw: boolean) => void };
    if (!input.setRawMode) return;
    input.setRawMode(false);
    process.once('SIGCONT', () => input.setRawMode?.(true));
    process.kill(process.pid, 'SIGTSTP');
  }
}

/** A turn of the event loop: a prompt that settled on the last key has said so by then. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The typed text up to and including the first key that may finish a prompt (`\r\n` counts as one). */
function nextUnit(typed: string): string {
  for (let i = 0; i < typed.length; i++) {
    if (!UNIT_ENDS.has(typed[i]!)) continue;
    return typed.slice(0, typed[i] === '\r' && typed[i + 1] === '\n' ? i + 2 : i + 1);
  }
  return typed;
}
