/**
 * How every property-based test runs (fast-check): one place decides the seed, the number of cases and what is
 * reported, so any failure replays and the counts can be quoted.
 *
 * - Seed: fixed in CI (`CI` set) so a red run is the same run again; elsewhere a new one each run (more ground
 *   covered), unless `TBASE_PBT_SEED` names one. A failure's message carries fast-check's `{ seed, path }`: put the
 *   seed in `TBASE_PBT_SEED` (and, to jump straight to the shrunk case, the path in `TBASE_PBT_PATH`).
 * - Cases: each property names its CI count; `TBASE_PBT_RUNS=K` runs K times as many (K may be fractional, e.g. 0.1
 *   for a quick look). Every property runs at least one case.
 * - Report: with `TBASE_PBT_REPORT=FILE` each property appends one JSON line
 *   `{"name","runs","seed","ms"}` when it passes — the counts a closing note or the README quotes.
 */
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';

export { fc };

/** The seed of this run: CI's fixed one, TBASE_PBT_SEED, or a fresh one printed with any failure. */
export const PBT_SEED: number = (() => {
  const given = process.env.TBASE_PBT_SEED;
  if (given !== undefined && given !== '') return Number.parseInt(given, 10);
  return process.env.CI ? 20261204 : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
})();

/** The cases a property with `ciRuns` runs in this run (scaled by TBASE_PBT_RUNS). */
export function pbtRuns(ciRuns: number): number {
  const scale = Number.parseFloat(process.env.TBASE_PBT_RUNS ?? '1');
  return Math.max(1, Math.round(ciRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

export interface PropertyRun {
  /** CI's number of cases (before TBASE_PBT_RUNS). */
  runs: number;
  /** Stop after this long even if cases remain (a failure still fails); the report says how many ran. */
  timeLimitMs?: number;
}

/**
 * Checks `property` (fc.property or fc.asyncProperty) with this run's seed and count. `name` identifies the
 * property in the report; fast-check's failure message (counterexample, seed, path) is thrown unchanged.
 */
export async function checkProperty<T>(name: string, property: fc.IRawProperty<T>, run: PropertyRun): Promise<void> {
  const started = Date.now();
  const details = await fc.check(property, {
    seed: PBT_SEED,
    numRuns: pbtRuns(run.runs),
    path: process.env.TBASE_PBT_PATH || undefined,
    interruptAfterTimeLimit: run.timeLimitMs,
    markInterruptAsFailure: false,
    includeErrorInReport: true, // fast-check 4 leaves the failing assertion's message out of its report otherwise
  });
  // fast-check's own report: the counterexample, the failing case's error, and how to replay it (seed and path).
  if (details.failed) {
    throw new Error(`${name}: ${fc.defaultReportMessage(details) ?? 'property failed'}`, { cause: details.errorInstance });
  }
  record({ name, runs: details.numRuns, seed: PBT_SEED, ms: Date.now() - started });
}

/** A count a property's cases add up to (e.g. the lines of all its generated batch chunks), for the report. */
export function recordCount(name: string, count: number): void {
  record({ name, count, seed: PBT_SEED });
}

function record(fields: Record<string, unknown>): void {
  const report = process.env.TBASE_PBT_REPORT;
  if (report) appendFileSync(report, `${JSON.stringify(fields)}\n`);
}
