/**
 * The interactive REPL (stdin and stdout are terminals). Each line goes through the same grammar, line parser,
 * command table and renderers as batch and one-shot; the REPL adds only what a person at a terminal needs: the
 * line prompt (history, completion), guided prompts for missing arguments, `help`, timing, and a live view of the
 * cache. A failing command never ends the session; ExitPromptError is handled here, in the one catch of the loop.
 * This module and everything it imports from Inquirer load only on this path (cli.ts imports it dynamically).
 */
import { performance } from 'node:perf_hooks';
import { AbortPromptError, ExitPromptError } from '@inquirer/core';
import { commands } from '../commands/index.js';
import type { CommandResult, CommandSpec } from '../commands/types.js';
import type { Config, Env } from '../config.js';
import { cacheNotice, Context } from '../context.js';
import { ExitCode, NotFoundError, UsageError, quoteKey } from '../errors.js';
import { splitLine } from '../grammar.js';
import type { IO } from '../io.js';
import { commandHelp, createLineParser } from '../program.js';
import { renderError, renderResult, reportShortfall } from '../render.js';
import type { Counters } from '../store/cache-aside.js';
import type { Entry } from '../store/store.js';
import { guide } from './guided.js';
import { findCommand } from '../commands/words.js';
import { syntaxHint } from './hints.js';
import { History } from './history.js';
import { Keyboard } from './keyboard.js';
import { linePrompt, type KeyLookup } from './line-prompt.js';
import { replSettings, type ReplSettings } from './settings.js';
import { engineName, shownLocation } from '../store/location.js';

export interface ReplOptions {
  /** For timings; performance.now by default. */
  clockMs?: () => number;
  /** How long a failed memcached server is left alone before the REPL tries it again. */
  cacheRetryAfterMs?: number;
}

/** Keys fetched for one Tab press: enough to list, bounded so a huge store costs one small query. */
const COMPLETION_KEYS = 50;
const PROMPT_REFRESH_MS = 500;

export async function runRepl(io: IO, config: Config, env: Env = {}, options: ReplOptions = {}): Promise<number> {
  const repl = new Repl(io, config, replSettings(env), options);
  try {
    repl.keyboard.start(); // first: keys typed while the banner's store opens are kept too
    await repl.start();
    await repl.loop();
  } finally {
    await repl.close();
  }
  return ExitCode.ok;
}

class Repl {
  private readonly ctx: Context;
  private readonly parseWords: ReturnType<typeof createLineParser>;
  private readonly clockMs: () => number;
  private readonly retryAfterMs: number;
  /** The terminal's keys, for the line prompt and every question. */
  readonly keyboard: Keyboard;
  private history!: History;
  private timing = true;
  private lastCacheFault = '';
  private announcedCache: 'up' | 'down' | null = null;
  private probeTimer: NodeJS.Timeout | undefined;
  private interrupted = false;
  /** The command the current line runs, so a JSON error object can name it. */
  private command: string | undefined;

  constructor(
    private readonly io: IO,
    private readonly config: Config,
    private readonly settings: ReplSettings,
    options: ReplOptions,
  ) {
    this.clockMs = options.clockMs ?? (() => performance.now());
    this.retryAfterMs = options.cacheRetryAfterMs ?? 1000;
    this.ctx = new Context(io, config, {
      stdinIsCommandStream: true, // `set KEY -` cannot read a value from the terminal that types the commands
      cacheRetryAfterMs: this.retryAfterMs,
      onCacheFault: (error) => {
        this.lastCacheFault ||= error.message; // the first fault says why; later ones only say "is down"
      },
    });
    this.parseWords = createLineParser({ writeOut: (text) => void io.out(text) });
    this.keyboard = new Keyboard(io.promptStreams());
  }

  async start(): Promise<void> {
    const { io } = this;
    const c = io.errColour;
    this.history = await History.load({
      path: this.settings.historyPath,
      maxLines: this.settings.historySize,
      redactValues: this.settings.redactValues,
      onProblem: (message) => io.err(`${c.yellow('tbase: notice:')} ${message}`),
    });
    io.err(c.bold('tbase interactive') + c.dim(' · help lists commands · Tab completes · ↑/↓ history · Ctrl-R searches it · Ctrl-D or exit leaves'));
    try {
      const stats = await (await this.ctx.store()).stats();
      io.err(`${c.dim('database')}  ${shownLocation(this.config.db)} ${c.dim(`(${stats.keys} ${stats.keys === 1 ? 'key' : 'keys'})`)}`);
    } catch (error) {
      io.err(`${c.dim('database')}  ${shownLocation(this.config.db)} ${c.red(`cannot be opened: ${(error as Error).message}`)} ${c.dim('(each command tries again)')}`);
    }
    io.err(`${c.dim('cache   ')}  ${this.describeCache()}`);
    this.announcedCache = this.ctx.cacheState() === 'down' ? 'down' : 'up';
    // While memcached is down, ask it again now and then, so the prompt shows it back without a command.
    this.probeTimer = setInterval(() => {
      if (this.ctx.cacheState() === 'down') void this.ctx.probeCache();
    }, this.retryAfterMs);
    this.probeTimer.unref();
  }

  async loop(): Promise<void> {
    for (;;) {
      this.announceCacheChange();
      let reading = true;
      try {
        const answer = await this.keyboard.ask(
          linePrompt,
          {
            prompt: () => this.promptText(),
            history: this.history.entries(),
            lookupKeys: (prefix) => this.lookupKeys(prefix),
            refreshMs: PROMPT_REFRESH_MS,
            // Hints only where they can be dimmed: with NO_COLOR or no colour terminal they would read as typed.
            hint: this.io.colour.level > 0 ? syntaxHint : undefined,
            columns: () => (this.io.promptStreams().output as { columns?: number }).columns ?? 80,
            style: { candidates: (text) => this.io.colour.dim(text), hint: (text) => this.io.colour.dim(text) },
          },
          { ctrlCancels: false }, // the line prompt's own: Ctrl-C clears the line, Ctrl-D leaves
        );
        if (answer.kind === 'exit') return;
        reading = false;
        if ((await this.runLine(answer.line)) === 'exit') return;
      } catch (error) {
        if (error instanceof ExitPromptError || error instanceof AbortPromptError) {
          // Under the line prompt: the terminal went away (a signal, or the end of input); the session ends.
          if (reading) return;
          this.io.err(this.io.errColour.dim('(cancelled)')); // Ctrl-C or Ctrl-D in a question cancels that command only
          continue;
        }
        await this.report(error);
      }
    }
  }

  async close(): Promise<void> {
    this.keyboard.stop();
    clearInterval(this.probeTimer);
    await this.ctx.close();
  }

  private async runLine(line: string): Promise<'exit' | void> {
    this.command = undefined;
    await this.history.add(line);
    const words = splitLine(line);
    if (!words) return;
    words[0] = words[0]!.toLowerCase();
    switch (words[0]) {
      case 'exit':
      case 'quit':
        return 'exit';
      case 'help':
        return this.help(words[1]);
      case 'timing':
        return this.setTiming(words[1]);
    }
    this.command = findCommand(words[0])?.name;
    const optionWords = words.includes('--') ? words.slice(0, words.indexOf('--')) : words;
    if (optionWords.includes('--help') || optionWords.includes('-h')) return this.help(words[0]);
    const guided = await guide(words, {
      ask: (prompt, config) => this.keyboard.ask(prompt, config, { ctrlCancels: true }),
      keys: (prefix, limit) => this.keys(prefix, limit),
      countKeys: async (prefix) => (await this.ctx.store()).store.countLive(prefix, this.ctx.now()),
      maskValues: this.settings.redactValues,
    });
    if (guided.kind === 'skip') return this.io.err(this.io.errColour.dim(guided.note));
    const invocation = this.parseWords(guided.words);
    if (!invocation) return;
    this.announceCacheChange(); // memcached may have come back (or gone) while the prompt waited
    const before = await this.counters();
    const started = this.clockMs();
    this.interrupted = false;
    const onInterrupt = () => {
      this.interrupted = true;
    };
    // Ctrl-C while a command runs stops it, not the session. In raw mode it is a key, not a signal: the keyboard
    // raises SIGINT in the process as a cooked terminal would, so a command that stops on SIGINT (`watch`) stops
    // here too, and a SIGINT from elsewhere (kill -INT) does the same.
    process.on('SIGINT', onInterrupt);
    const stopListening = this.keyboard.onInterrupt(() => process.emit('SIGINT', 'SIGINT'));
    try {
      const result = await invocation.spec.run(this.ctx, invocation.options);
      await renderResult({ io: this.io, mode: this.io.outputMode(this.config.json), now: this.ctx.now() }, invocation.spec.name, this.interruptible(result));
      reportShortfall(this.io, result, 'error');
    } finally {
      process.off('SIGINT', onInterrupt);
      stopListening();
    }
    if (this.interrupted) this.io.err(this.io.errColour.yellow('(interrupted)'));
    await this.showTiming(invocation.spec, started, before);
  }

  /** The one place errors of a line become messages; none of them ends the session. */
  private async report(error: unknown): Promise<void> {
    const mode = this.io.outputMode(this.config.json);
    if (error instanceof NotFoundError && mode !== 'json') {
      this.io.err(`${this.io.errColour.yellow('(not found)')} ${quoteKey(error.key)}`);
      return;
    }
    await renderError({ io: this.io, mode, now: this.ctx.now() }, this.command, error, 'error');
  }

  private async help(name: string | undefined): Promise<void> {
    const c = this.io.colour;
    if (name !== undefined) {
      const text = commandHelp(name) ?? replHelp(name);
      if (text === null) throw new UsageError(`no command ${JSON.stringify(name)}; \`help\` lists them`);
      return this.io.out(text.endsWith('\n') ? text : `${text}\n`);
    }
    const rows: [string, string][] = [
      ...commands.map((spec): [string, string] => [usageOf(spec), spec.summary + (spec.aliases ? ` (also ${spec.aliases.join(', ')})` : '')]),
      ['help [command]', 'this list, or one command in full'],
      ['timing [on|off]', `time and cache hit/miss after each command (now ${this.timing ? 'on' : 'off'})`],
      ['exit, quit', 'leave (also Ctrl-D, or Ctrl-C on an empty line)'],
    ];
    const width = Math.max(...rows.map(([usage]) => usage.length));
    const columns = (this.io.promptStreams().output as { columns?: number }).columns ?? 100;
    // Side by side when the terminal is wide enough, else each summary under its usage line.
    const narrow = width + 4 + 30 > columns;
    const row = ([usage, summary]: [string, string]) =>
      narrow ? `  ${c.cyan(usage)}
      ${summary}` : `  ${c.cyan(usage.padEnd(width))}  ${summary}`;
    await this.io.out(
      [
        c.bold('Commands') + c.dim(' (the same as `tbase <command>`; words split on blanks, quote with "…" or \'…\')'),
        ...rows.map(row),
        '',
        c.bold('Asked for when missing') + c.dim(': `set` asks for key and value; `get`/`delete` alone offer a pick-list; `delete` asks to confirm; Ctrl-C or Ctrl-D cancels a question'),
        c.bold('Keys') + c.dim(': Tab completes commands and keys · ↑/↓ history · Ctrl-R searches the history · Ctrl-C clears the line'),
        c.bold('History') + c.dim(`: ${this.settings.historyPath ?? 'off (TBASE_HISTORY)'}; a line typed with a leading space is not saved`),
        '',
      ].join('\n'),
    );
  }

  private setTiming(word: string | undefined): void {
    const choice = word?.toLowerCase();
    if (choice !== undefined && choice !== 'on' && choice !== 'off') throw new UsageError('usage: timing [on|off]');
    this.timing = choice === undefined ? !this.timing : choice === 'on';
    this.io.err(this.io.errColour.dim(`timing ${this.timing ? 'on' : 'off'}`));
  }

  private async showTiming(spec: CommandSpec<unknown>, startedMs: number, before: Counters | null): Promise<void> {
    if (!this.timing) return;
    const c = this.io.errColour;
    const elapsed = this.clockMs() - startedMs;
    const after = await this.counters();
    let cache = '';
    if (before && after && after.hits > before.hits) cache = c.green('cache hit');
    else if (before && after && after.misses > before.misses) cache = this.ctx.cacheState() === 'down' ? c.yellow(`cache down, from ${engineName(this.config.db)}`) : 'cache miss';
    else if (spec.name === 'get' && !this.config.cacheEnabled) cache = 'no cache';
    this.io.err(c.dim(`(${elapsed < 10 ? elapsed.toFixed(1) : Math.round(elapsed)} ms${cache ? ' · ' : ''}`) + cache + c.dim(')'));
  }

  private async counters(): Promise<Counters | null> {
    try {
      return { ...(await this.ctx.store()).counters };
    } catch {
      return null; // the command will say why the store cannot be opened
    }
  }

  /** Ctrl-C during `list` stops the listing; the entries already shown stay. */
  private interruptible(result: CommandResult): CommandResult {
    if (result.kind !== 'entries') return result;
    const source = result.entries;
    const repl = this;
    async function* entries(): AsyncGenerator<Entry> {
      for await (const entry of source) {
        if (repl.interrupted) return;
        yield entry;
      }
    }
    return { ...result, entries: entries() };
  }

  private async keys(prefix: string, limit: number): Promise<string[]> {
    const keys: string[] = [];
    for await (const entry of (await this.ctx.store()).list(prefix, limit, { keysOnly: true })) keys.push(entry.key);
    return keys;
  }

  private async lookupKeys(prefix: string): Promise<KeyLookup> {
    const keys = await this.keys(prefix, COMPLETION_KEYS + 1);
    return { keys: keys.slice(0, COMPLETION_KEYS), truncated: keys.length > COMPLETION_KEYS };
  }

  private promptText(): string {
    const c = this.io.colour;
    const state = this.ctx.cacheState();
    const note = state === 'down' ? ` ${c.red('(cache down)')}` : state === 'off' ? ` ${c.dim('(no cache)')}` : '';
    return `${c.bold(c.cyan('tbase'))}${note}${c.bold(c.cyan('>'))} `;
  }

  private describeCache(): string {
    const c = this.io.errColour;
    const servers = this.config.servers.join(', ');
    switch (this.ctx.cacheState()) {
      case 'off':
        if (this.config.cacheEnabled) {
          return c.dim(`off: ${servers} are not the pool this database records (see \`cache pool\`); answering from ${engineName(this.config.db)}`);
        }
        return c.dim(`off (--no-cache): every command is answered from ${engineName(this.config.db)}`);
      case 'up':
        return `${c.green('up')} ${c.dim(servers)}`;
      case 'down':
        return `${c.red('down')} ${c.dim(`${servers}: answering from ${engineName(this.config.db)}, trying again every ${this.retryAfterMs / 1000}s`)}`;
      default:
        return `${c.yellow('unknown')} ${c.dim(servers)}`;
    }
  }

  /** Says once when memcached goes down, and once when it is back. */
  private announceCacheChange(): void {
    const state = this.ctx.cacheState();
    if (state !== 'up' && state !== 'down') return;
    if (state === this.announcedCache) return;
    const c = this.io.errColour;
    if (state === 'down') {
      this.io.err(cacheNotice(this.io, this.config, this.lastCacheFault));
    } else {
      this.io.err(`${c.green('tbase: notice:')} cache is back (${this.config.servers.join(', ')})`);
      this.lastCacheFault = '';
    }
    this.announcedCache = state;
  }
}

function usageOf(spec: CommandSpec<unknown>): string {
  const args = spec.args.map((arg) => `${arg.required ? `<${arg.name}>` : `[${arg.name}]`}${arg.variadic ? '…' : ''}`);
  const options = spec.options.map((option) => `[${option.flags.split(', ').at(-1)}]`);
  return [spec.name, ...args, ...options].join(' ');
}

function replHelp(name: string): string | null {
  switch (name.toLowerCase()) {
    case 'help':
      return 'help [command]: list the commands, or show one command with its options and examples';
    case 'timing':
      return 'timing [on|off]: show (or hide) how long each command took and whether memcached had the value';
    case 'exit':
    case 'quit':
      return 'exit, quit: leave the REPL (so do Ctrl-D, and Ctrl-C on an empty line)';
    default:
      return null;
  }
}
