/**
 * Runs a segment of batch steps (writes, reads, invalid lines — nothing that must run alone) as a whole:
 *  - every write of the segment in ONE transaction (multi-row statements), then the tombstones it owes;
 *  - every read that does not follow a write of its key in the segment through one pipelined getMany, which
 *    runs BEFORE the group commits, so those reads see exactly the state their input position implies;
 *  - a read that follows a write of its key in the segment is answered by that write (read-your-writes), once the
 *    group has committed.
 * The outcomes come back in input order; a failed transaction fails every write of the group (none of them is
 * committed) and every read answered by one of them.
 */
import { NotFoundError } from '../errors.js';
import type { CommandResult } from '../commands/types.js';
import type { CacheAsideStore, Lookup } from '../store/cache-aside.js';
import type { Entry, Write } from '../store/sqlite.js';
import type { Step } from './plan.js';

export type Outcome = { step: Step; result: CommandResult; error?: undefined } | { step: Step; error: unknown; result?: undefined };

export async function executeSegment(openStore: () => Promise<CacheAsideStore>, steps: Step[]): Promise<Outcome[]> {
  const writes: Write[] = [];
  const writeIndex = new Map<Step, number>();
  const latest = new Map<string, Write>();
  const answeredBy = new Map<Step, Write>();
  const reads: Step[] = [];
  for (const step of steps) {
    if (step.kind === 'write') {
      writeIndex.set(step, writes.length);
      writes.push(step.write);
      latest.set(step.write.key, step.write);
    } else if (step.kind === 'read') {
      const write = latest.get(step.key);
      if (write) answeredBy.set(step, write);
      else reads.push(step);
    }
  }

  let lookups: Lookup[] = [];
  let readError: unknown;
  let existed: boolean[] = [];
  let writeError: unknown;
  if (reads.length > 0 || writes.length > 0) {
    let store: CacheAsideStore | undefined;
    try {
      store = await openStore();
    } catch (error) {
      readError = writeError = error;
    }
    if (store && reads.length > 0) {
      try {
        lookups = await store.getMany(reads.map((step) => (step.kind === 'read' ? step.key : '')));
      } catch (error) {
        readError = error;
      }
    }
    if (store && writes.length > 0) {
      try {
        existed = await store.writeGroup(writes);
      } catch (error) {
        writeError = error;
      }
    }
  }

  const lookupOf = new Map<Step, Lookup>();
  reads.forEach((step, i) => lookupOf.set(step, lookups[i]!));
  return steps.map((step): Outcome => {
    switch (step.kind) {
      case 'invalid':
        return { step, error: step.error };
      case 'other':
        throw new Error('executeSegment: a step that must run alone reached a segment');
      case 'write': {
        if (writeError !== undefined) return { step, error: writeError };
        const { write } = step;
        if (write.op === 'set') return { step, result: { kind: 'stored', key: write.key, expiresAt: write.expiresAt } };
        return existed[writeIndex.get(step)!] ? { step, result: { kind: 'deleted', key: write.key } } : { step, error: new NotFoundError(write.key) };
      }
      case 'read': {
        const write = answeredBy.get(step);
        if (write && writeError !== undefined) return { step, error: writeError };
        if (!write && readError !== undefined) return { step, error: readError };
        const entry: Entry | undefined = write ? (write.op === 'set' ? { key: write.key, value: write.value, expiresAt: write.expiresAt } : undefined) : lookupOf.get(step)!.entry;
        if (!entry) return { step, error: new NotFoundError(step.key) };
        if (step.command === 'ttl') return { step, result: { kind: 'ttl', key: step.key, expiresAt: entry.expiresAt } };
        return { step, result: { kind: 'value', key: step.key, entry, source: write ? 'store' : lookupOf.get(step)!.source, newline: step.newline } };
      }
    }
  });
}
