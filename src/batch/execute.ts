/**
 * Runs a segment of batch steps (writes, reads, invalid lines — nothing that must run alone) as a whole, with the
 * answers each command would get if the segment ran one command at a time:
 *  - every write of the segment commits in ONE transaction (multi-row statements), then the tombstones it owes;
 *  - a read with no write of its key before it in the segment runs BEFORE that commit;
 *  - a read that follows a write of its key runs AFTER the commit (read-your-writes, through the normal read
 *    path: cache, SQLite, guarded fill) — unless its key is written again later in the segment: that read is
 *    answered by the key's state as the write before it left it (applied or not: a failed condition leaves the
 *    key as it was), as the intermediate state never exists outside the transaction;
 *  - reads are pipelined (getMany) in rounds: a key read twice goes to the next round, so the second read sees
 *    what the first left in the cache, exactly as two commands in a row would.
 * The outcomes come back in input order. A failed transaction fails every write of the group (none of it is
 * committed) and every read answered by one of them.
 */
import { NotFoundError } from '../errors.js';
import type { CommandResult } from '../commands/types.js';
import { answerOf } from '../commands/write-result.js';
import type { CacheAsideStore, Lookup } from '../store/cache-aside.js';
import type { Entry, Write, WriteResult } from '../store/store.js';
import type { Step } from './plan.js';

export type Outcome = { step: Step; result: CommandResult; error?: undefined } | { step: Step; error: unknown; result?: undefined };

type ReadStep = Extract<Step, { kind: 'read' }>;
type Answer = { lookup: Lookup } | { error: unknown };

/**
 * `onBusy` is called once the segment's long wait has begun — its COMMIT sent, or (a segment without writes) its
 * reads started — so the caller may use this thread meanwhile (batch plans its next group then).
 */
export async function executeSegment(openStore: () => Promise<CacheAsideStore>, steps: Step[], onBusy: () => void = () => undefined): Promise<Outcome[]> {
  const writes: Write[] = [];
  /** Per step, the index of its write in `writes` (a write step's outcome needs what its write found). */
  const writeIndex: number[] = new Array<number>(steps.length);
  /** Reads answered by the write before them in the segment: the index of that write. */
  const answeredBy = new Map<Step, number>();
  const before: ReadStep[] = [];
  const after: ReadStep[] = [];
  // Which reads go before the commit, after it, or are answered by a write of the segment (module comment). A
  // segment of writes only (a bulk load) needs none of this bookkeeping, nor its two maps.
  const hasReads = steps.some((step) => step.kind === 'read');
  const writesLeft = new Map<string, number>();
  const latest = new Map<string, number>();
  if (hasReads) for (const step of steps) if (step.kind === 'write') writesLeft.set(step.write.key, (writesLeft.get(step.write.key) ?? 0) + 1);
  steps.forEach((step, i) => {
    if (step.kind === 'write') {
      writeIndex[i] = writes.length;
      writes.push(step.write);
      if (!hasReads) return;
      const { key } = step.write;
      latest.set(key, writeIndex[i]!);
      writesLeft.set(key, writesLeft.get(key)! - 1);
    } else if (step.kind === 'read') {
      const write = latest.get(step.key);
      if (write === undefined) before.push(step);
      else if (writesLeft.get(step.key)! > 0) {
        answeredBy.set(step, write);
        // A failed condition answers with the key as it was: the store must read its value (writes.ts, needsValues).
        const answering = writes[write]!;
        if (answering.op !== 'incr' && answering.condition) writes[write] = { ...answering, answersRead: true };
      }
      else after.push(step);
    }
  });

  const answers = new Map<Step, Answer>();
  let results: WriteResult[] = [];
  let writeError: unknown;
  if (before.length > 0 || after.length > 0 || writes.length > 0) {
    let store: CacheAsideStore | undefined;
    try {
      store = await openStore();
    } catch (error) {
      writeError = error;
      for (const step of [...before, ...after]) answers.set(step, { error });
    }
    if (store) {
      if (writes.length === 0) onBusy();
      await readInRounds(store, before, answers);
      if (writes.length > 0) {
        try {
          results = await store.write(writes, { onCommitting: onBusy });
        } catch (error) {
          writeError = error;
        }
      }
      await readInRounds(store, after, answers);
    }
  }

  return steps.map((step, i): Outcome => {
    switch (step.kind) {
      case 'invalid':
        return { step, error: step.error };
      case 'other':
        throw new Error('executeSegment: a step that must run alone reached a segment');
      case 'write': {
        if (writeError !== undefined) return { step, error: writeError };
        try {
          return { step, result: answerOf(step.write, results[writeIndex[i]!]!) };
        } catch (error) {
          return { step, error };
        }
      }
      case 'read': {
        const write = answeredBy.get(step);
        let lookup: Lookup;
        if (write !== undefined) {
          if (writeError !== undefined) return { step, error: writeError };
          lookup = { entry: results[write]!.after, source: 'store' };
        } else {
          const answer = answers.get(step)!;
          if ('error' in answer) return { step, error: answer.error };
          lookup = answer.lookup;
        }
        return readOutcome(step, lookup.entry, lookup.source);
      }
    }
  });
}

function readOutcome(step: ReadStep, entry: Entry | undefined, source: Lookup['source']): Outcome {
  if (!entry) return { step, error: new NotFoundError(step.key) };
  if (step.command === 'ttl') return { step, result: { kind: 'ttl', key: step.key, expiresAt: entry.expiresAt } };
  return { step, result: { kind: 'value', key: step.key, entry, source, newline: step.newline } };
}

/** getMany over the reads, one round per repetition of a key; a failed round fails its reads only. */
async function readInRounds(store: CacheAsideStore, reads: ReadStep[], answers: Map<Step, Answer>): Promise<void> {
  let pending = reads;
  while (pending.length > 0) {
    const keys = new Set<string>();
    const round: ReadStep[] = [];
    const later: ReadStep[] = [];
    for (const step of pending) {
      if (keys.has(step.key)) later.push(step);
      else {
        keys.add(step.key);
        round.push(step);
      }
    }
    try {
      const lookups = await store.getMany(round.map((step) => step.key));
      round.forEach((step, i) => answers.set(step, { lookup: lookups[i]! }));
    } catch (error) {
      for (const step of round) answers.set(step, { error });
    }
    pending = later;
  }
}
