/**
 * A progress bar on stderr for long imports and exports — only when stderr is a terminal, so pipes, files and
 * CI logs never see cursor codes.
 */
import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import type { IO } from '../io.js';

/**
 * cli-progress (with its string-width and emoji tables) is loaded only when a bar is drawn: importing it up front
 * cost every one-shot command several milliseconds of start-up. It is CommonJS, so a synchronous require works.
 */
const loadCliProgress = () => createRequire(import.meta.url)('cli-progress') as typeof CliProgress;

export interface Progress {
  add(amount: number): void;
  stop(): void;
}

export function startProgress(io: IO | undefined, label: string, total: number, unit: string): Progress | null {
  if (!io?.isStderrTTY || total <= 0) return null;
  const cliProgress = loadCliProgress();
  const bar = new cliProgress.SingleBar(
    {
      stream: io.terminalStream(),
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {eta_formatted} left`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  let stopped = false;
  return {
    add: (amount) => bar.increment(amount),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
