/**
 * A progress bar on stderr for long imports and exports — only when stderr is a terminal, so pipes, files and
 * CI logs never see cursor codes.
 */
import type CliProgress from 'cli-progress';
import type { IO } from '../io.js';

/**
 * cli-progress (with its string-width and emoji tables) is loaded only when a bar is drawn: importing it up front
 * cost every one-shot command several milliseconds of start-up. It is CommonJS, so a synchronous require works
 * (node:module too is taken only then: loading it costs every start its ESM-loader modules).
 */
const loadCliProgress = () =>
  (process.getBuiltinModule('node:module') as typeof import('node:module')).createRequire(import.meta.url)('cli-progress') as typeof CliProgress;

export interface Progress {
  add(amount: number): void;
  stop(): void;
}

/** What a bar counts: entries are shown as counts, bytes in binary units (`340.2 MiB/1.5 GiB`). */
export type ProgressUnit = 'entries' | 'bytes';

export function startProgress(io: IO | undefined, label: string, total: number, unit: ProgressUnit): Progress | null {
  if (!io?.isStderrTTY || total <= 0) return null;
  const cliProgress = loadCliProgress();
  const bytes = unit === 'bytes';
  const bar = new cliProgress.SingleBar(
    {
      stream: io.terminalStream(),
      format: `${label} [{bar}] {percentage}% | {value}/{total}${bytes ? '' : ` ${unit}`} | {eta_formatted} left`,
      formatValue: (value, _options, type) => (bytes && (type === 'value' || type === 'total') ? formatBytes(Number(value)) : String(value)),
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

const BINARY_UNITS = ['KiB', 'MiB', 'GiB', 'TiB'];

/** A byte count as people read it: `512 B`, then one decimal in the largest binary unit under 1024 (`1.5 MiB`). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024;
  let unit = 0;
  // Judged on the rounded figure, so 1048575 bytes reads 1.0 MiB, not 1024.0 KiB.
  while (Math.round(value * 10) / 10 >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${BINARY_UNITS[unit]}`;
}
