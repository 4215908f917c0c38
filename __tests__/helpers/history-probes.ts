/**
 * What the linearizability runs (coordination/linearizable*.test.ts) read off a recorded history besides the
 * checker's verdict: a planted stale read the checker must reject, and revisions no answer carried.
 */
import { performance } from 'node:perf_hooks';
import type { History, OneShotClient } from './history-clients.js';
import { checkHistory, type CheckResult, type Operation } from './linearizability.js';

/**
 * A get called after the key's last write (highest revision) returned, answering the value and revision of the
 * value-write before it: revisions only grow, so no linearization allows it, whatever the unknown calls did.
 * The first of `keys` with two such writes; undefined when none has.
 */
export function staleRead(history: Operation[], keys: string[]): { key: string; op: Operation } | undefined {
  for (const key of keys) {
    const writes = history
      .filter((op) => op.key === key && op.ret !== null && op.output?.kind === 'written')
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    const last = writes[writes.length - 1];
    const previous = writes.slice(0, -1).reverse().find((op) => valueWritten(op) !== null);
    if (!last || !previous) continue;
    const call = last.ret! + 1;
    return {
      key,
      op: { client: 'planted', key, call, ret: call + 1, input: { f: 'get' }, output: { kind: 'value', value: valueWritten(previous)!, revision: revisionOf(previous) } },
    };
  }
  return undefined;
}

/** How many revisions below the highest seen no answer carried. */
export function revisionGaps(history: Operation[]): number {
  const seen = new Set(history.filter((op) => op.output?.kind === 'written').map(revisionOf));
  return seen.size === 0 ? 0 : Math.max(...seen) - seen.size;
}

export function revisionOf(op: Operation): number {
  return (op.output as { revision: number }).revision;
}

/** The value a certain write left, or null for a delete. */
export function valueWritten(op: Operation): string | null {
  const { input, output } = op;
  if (input.f === 'delete' || input.f === 'delete-if-revision') return null;
  if (input.f === 'incr') return output?.kind === 'written' ? (output.value ?? null) : null;
  return 'value' in input ? input.value : null;
}

/**
 * Plants a stale read (above) in a history the checker passed and expects it rejected, for that key: a checker
 * that accepts everything would pass every run. (The key passed without the plant: asserted here too, so the test
 * does not depend on the run's own test.)
 */
export function expectPlantedStaleReadRejected(history: Operation[], result: CheckResult, keys: string[]): void {
  const plant = staleRead(history, keys);
  expect(plant).toBeDefined();
  const { key, op } = plant!;
  expect(result.failures.filter((f) => f.key === key)).toEqual([]);
  const planted = checkHistory([...history, op]);
  expect(planted.ok).toBe(false);
  expect(planted.failures.map((f) => f.key)).toContain(key);
}

/**
 * The end of a run: once the faults are over, a fresh process reads every key once more (a stale copy that
 * survived in memcached would be served here), then the whole history is checked.
 */
export async function readBackAndCheck(history: History, reader: OneShotClient, keys: string[]): Promise<{ result: CheckResult; checkMs: number }> {
  for (const key of keys) history.add(await reader.run(key, { f: 'get' }));
  const started = performance.now();
  const result = checkHistory(history.ops);
  return { result, checkMs: Math.round(performance.now() - started) };
}

/** Steps to undo after the file, last first, whatever happened: the servers and processes a run started. */
export function cleanupAfterAll(after: () => void): (step: () => unknown) => void {
  const steps: (() => unknown)[] = [];
  afterAll(async () => {
    for (const step of steps.splice(0).reverse()) await step();
    after();
  });
  return (step) => void steps.push(step);
}
