/**
 * A progress bar on stderr for long imports and exports — only when stderr is a terminal, so pipes, files and
 * CI logs never see cursor codes.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { IO } from '../io.js';

export interface Progress {
  add(amount: number): void;
  stop(): void;
}

export function startProgress(io: IO | undefined, label: string, total: number, unit: string): Progress | null {
  if (!io?.isStderrTTY || total <= 0) return null;
  // cli-progress needs the stream itself; IO keeps it private (it is the only module meant to write to it).
  const stream = (io as unknown as { stderr: Writable }).stderr;
  const bar = new cliProgress.SingleBar(
    {
      stream,
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
