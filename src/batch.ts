/**
 * Batch mode: one command per input line (the REPL grammar), run in order while reading, outputs in input order
 * (one line per command; shapes in batch/format.ts and the README). Exact and fast:
 *  - input is read in groups of the lines already available (at most WINDOW_LINES), so memory stays flat for any
 *    input size and a script that writes one line and waits for its answer gets it at once;
 *  - within a group, consecutive writes and reads form a segment: its writes commit in ONE transaction and its
 *    reads go through one pipelined round of cache calls (batch/execute.ts, with read-your-writes); a command
 *    that is neither (list, stats, export, import, `set KEY -`) runs alone, between segments;
 *  - a crash loses at most the segment in flight: every committed group stays (each is one transaction), and the
 *    cache protocol (commit + outbox, then tombstones) holds for every group as for a single write.
 * Errors name the line on stderr; a missing key is an answer (`\N`), not a failure. Exit status: 0 when every
 * command succeeded, else the highest code seen; `--bail` stops at the first failure.
 */
import type { Config } from './config.js';
import { Context } from './context.js';
import { ConflictError, ExitCode, exitCodeOf, messageOf, NotFoundError } from './errors.js';
import type { IO, OutputMode } from './io.js';
import { createLineParser } from './program.js';
import { escapeBytes, escapeText, renderResult } from './render.js';
import type { CommandResult } from './commands/types.js';
import { executeSegment, type Outcome } from './batch/execute.js';
import { jsonErrorLine, jsonLine, plainErrorLine, plainLine } from './batch/format.js';
import { lineGroups, openInputFile } from './batch/lines.js';
import { boundHeapGrowth } from './memory.js';
import { planLine, type LineParser, type Step } from './batch/plan.js';

export interface BatchOptions {
  /** A path, or '-' for stdin. */
  file: string;
  /** Stop at the first command that fails. */
  bail: boolean;
}

/** Commands read, committed and pipelined together at most; bounds memory and memcached calls in flight. */
export const WINDOW_LINES = 1024;

export async function runBatch(io: IO, config: Config, options: BatchOptions): Promise<number> {
  boundHeapGrowth('groups'); // any number of lines: memory stays flat (memory.ts)
  const input = options.file === '-' ? io.stdin : await openInputFile(options.file, 'batch file');
  const ctx = new Context(io, config, { stdinIsCommandStream: options.file === '-' });
  const parseWords = createLineParser({ writeOut: () => undefined });
  const out = new Output(io, io.outputMode(config.json), ctx);
  let lineNumber = 0;
  try {
    await ctx.syncClock();
    // Two groups in flight: while one group's COMMIT (its writes, then the fsync) runs on SQLite's thread — or its
    // reads wait on memcached — the next group is read and planned on this one. Planned then, not as soon as the
    // group starts: planning is a thousand lines of JavaScript, and SQLite's replies to the group's first, short
    // trips would wait behind it. Groups still run (and answer) one after another, in input order.
    let running: Promise<boolean> = Promise.resolve(true);
    let previousWritesOnly = false;
    for await (const lines of lineGroups(input, WINDOW_LINES)) {
      const steps = planLines(lines, lineNumber, parseWords, ctx.now());
      lineNumber += lines.length;
      // Two groups of writes alone overlap further: this one's transaction is queued behind the running one's
      // (the store runs them in turn), so its BEGIN goes out the moment that one commits, while that one's
      // answers are written. Nothing can tell: neither reads, so nothing of the running group is left to see
      // this one's writes early, and answers still come in input order. Not with --bail: this group would start
      // before the running one's failures are known.
      const writesOnly = !options.bail && steps.every((step) => step.kind === 'write' || step.kind === 'invalid');
      const overlapping = writesOnly && previousWritesOnly;
      if (!overlapping && !(await running)) break;
      let busy!: () => void;
      const waiting = new Promise<void>((resolve) => (busy = resolve));
      running = runSteps(steps, ctx, out, options.bail, busy, overlapping ? running : undefined);
      void running.then(busy, busy); // a group that never commits nor reads: on once it is done
      previousWritesOnly = writesOnly;
      await waiting;
    }
    await running;
  } finally {
    await ctx.close();
  }
  return out.worst;
}

/**
 * The steps of a group of lines, the first of which is line `after` + 1. Loops over a group's lines and steps sit in
 * small functions like this one, not in the async functions that await between groups: V8 optimizes the function
 * whose loop runs hot, and optimizing a large async function (with all it inlines) takes a helper thread 10–30 ms,
 * CPU a batch on a busy machine does not have to spare (docs/architecture.md, "Hot loops").
 */
function planLines(lines: string[], after: number, parseWords: LineParser, now: number): Step[] {
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const step = planLine(lines[i]!, after + i + 1, parseWords, now);
    if (step) steps.push(step);
  }
  return steps;
}

/** Where the segment that starts at `start` ends: at the next step that runs alone (or, with `bail`, after an invalid line). */
function segmentEnd(steps: Step[], start: number, bail: boolean): number {
  let end = start;
  while (end < steps.length && steps[end]!.kind !== 'other') {
    end++;
    // With --bail nothing after a bad line may run: the segment ends at it.
    if (bail && steps[end - 1]!.kind === 'invalid') break;
  }
  return end;
}

/**
 * Runs the steps of one input group in order; false when --bail saw a failure. `onBusy`: executeSegment's.
 * `answeredAfter`: the group before, still running: this group answers only once that one is done.
 */
async function runSteps(
  steps: Step[],
  ctx: Context,
  out: Output,
  bail: boolean,
  onBusy: () => void,
  answeredAfter?: Promise<boolean>,
): Promise<boolean> {
  let i = 0;
  while (i < steps.length) {
    const step = steps[i]!;
    if (step.kind === 'other') {
      await answeredAfter;
      if (!(await out.runAlone(step)) && bail) return false;
      i++;
      continue;
    }
    const end = segmentEnd(steps, i, bail);
    const outcomes = await executeSegment(() => ctx.store(), steps.slice(i, end), onBusy);
    await answeredAfter;
    if (!(await out.emit(outcomes, bail)) && bail) return false;
    i = end;
  }
  await answeredAfter; // a group with nothing to answer is done only once the one before it is
  return true;
}

/** Writes outcomes in the chosen mode and keeps the exit status. */
class Output {
  worst: number = ExitCode.ok;

  constructor(
    private readonly io: IO,
    private readonly mode: OutputMode,
    private readonly ctx: Context,
  ) {}

  /** Writes the outcomes in order (stopping after the first failure when `stopAtFailure`); false if one failed. */
  async emit(outcomes: Outcome[], stopAtFailure: boolean): Promise<boolean> {
    if (this.mode === 'human') return this.emitToTerminal(outcomes, stopAtFailure);
    // Lines for a script are made in one synchronous loop (see planLines) and written at once.
    const { text, allOk } = this.lines(outcomes, stopAtFailure);
    await this.flushText(text);
    return allOk;
  }

  /** The plain or JSON lines of the outcomes, and whether all succeeded (stopping after a failure when asked). */
  private lines(outcomes: Outcome[], stopAtFailure: boolean): { text: string; allOk: boolean } {
    const now = this.ctx.now();
    const json = this.mode === 'json';
    let text = '';
    let allOk = true;
    for (let i = 0; i < outcomes.length; i++) {
      const { step, result, error } = outcomes[i]!;
      if (result !== undefined) text += `${json ? jsonLine(step.command!, step.line, result, now) : plainLine(result, now)}\n`;
      else {
        if (this.failed(step, error)) allOk = false;
        text += `${json ? jsonErrorLine(step.command, step.line, error) : plainErrorLine(error)}\n`;
      }
      if (!allOk && stopAtFailure) break;
    }
    return { text, allOk };
  }

  /** On a terminal: each outcome rendered as the one-shot command would, in colour. */
  private async emitToTerminal(outcomes: Outcome[], stopAtFailure: boolean): Promise<boolean> {
    let allOk = true;
    for (const { step, result: found, error } of outcomes) {
      // `get -n` means nothing here: on a terminal every answer still ends its line.
      const result = found?.kind === 'value' ? { ...found, newline: true } : found;
      if (result !== undefined) await renderResult(this.renderCtx(step.line), step.command ?? '', result);
      else if (!this.failed(step, error)) await this.io.out(`${this.io.colour.dim(error instanceof ConflictError ? `(${error.message})` : '(not found)')}\n`);
      else allOk = false;
      if (!allOk && stopAtFailure) break;
    }
    return allOk;
  }

  /** A command that must run alone (list, stats, export, import…): run it, then write its one line. */
  async runAlone(step: Extract<Step, { kind: 'other' }>): Promise<boolean> {
    let result: CommandResult;
    try {
      result = await step.invocation.spec.run(this.ctx, step.invocation.options);
    } catch (error) {
      return this.emit([{ step, error }], true);
    }
    try {
      await this.writeStreamed(step, result);
      return true;
    } catch (error) {
      // The result streamed part of its line before failing: end that line, then report.
      if (this.mode !== 'human') await this.io.out('\n');
      return this.emit([{ step, error }], true);
    }
  }

  private async writeStreamed(step: Extract<Step, { kind: 'other' }>, result: CommandResult): Promise<void> {
    const { io, mode } = this;
    const now = this.ctx.now();
    if (mode === 'human') return renderResult(this.renderCtx(step.line), step.command, result);
    const simple = mode === 'json' ? jsonLine(step.command, step.line, result, now) : plainLine(result, now);
    if (simple !== undefined) return io.out(`${simple}\n`);
    if (result.kind === 'exported') {
      if (mode === 'json') await io.out(`${JSON.stringify({ ok: true, command: step.command, line: step.line }).slice(0, -1)},"document":`);
      for await (const chunk of result.chunks('compact')) await io.out(chunk);
      return io.out(mode === 'json' ? '}\n' : '\n');
    }
    if (result.kind === 'entries') {
      if (mode === 'json') return renderResult(this.renderCtx(step.line), step.command, result);
      let first = true;
      for await (const entry of result.entries) {
        const fields = result.keysOnly ? escapeText(entry.key) : `${escapeText(entry.key)}\t${escapeBytes(entry.value)}`;
        await io.out(first ? fields : `\t${fields}`);
        first = false;
      }
      return io.out('\n');
    }
    if (mode === 'json') return renderResult(this.renderCtx(step.line), step.command, result);
  }

  /** Reports a failure on stderr (with its line) and keeps the worst exit code; false for an answer (missing key, condition not met). */
  private failed(step: Step, error: unknown): boolean {
    if (error instanceof NotFoundError || error instanceof ConflictError) return false;
    this.io.err(`${this.io.errColour.red(`tbase: line ${step.line}:`)} ${messageOf(error)}`);
    this.worst = Math.max(this.worst, exitCodeOf(error));
    return true;
  }

  private renderCtx(line: number) {
    return { io: this.io, mode: this.mode, now: this.ctx.now(), extra: { line } };
  }

  private async flushText(text: string): Promise<void> {
    if (text !== '') await this.io.out(text);
  }
}
