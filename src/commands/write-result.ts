/**
 * From what the store did with a write (writes.ts) to the command's answer or typed error. One-shot commands,
 * the REPL, batch segments and the HTTP API all answer writes through this, so a conflict or a missing key means
 * the same everywhere.
 */
import { ConflictError, NotFoundError } from '../errors.js';
import type { CacheAsideStore } from '../store/cache-aside.js';
import type { Write, WriteResult } from '../store/store.js';
import type { CommandResult, KeyRevisions } from './types.js';

/** One write through the store (its own transaction), answered: the answer, and what the store did. */
export async function writeOne(store: CacheAsideStore, write: Write): Promise<{ answer: CommandResult; result: WriteResult }> {
  const [result] = await store.write([write]);
  return { answer: answerOf(write, result!), result: result! };
}

export function answerOf(write: Write, result: WriteResult): CommandResult {
  switch (result.status) {
    case 'conflict':
      throw new ConflictError(write.key, result.current);
    case 'missing':
      throw new NotFoundError(write.key);
    case 'invalid':
      throw result.error;
    case 'applied': {
      const { after } = result;
      // A set whose TTL had already run out leaves the key absent: it was still one change, at this revision.
      // (The entry itself serves as its revisions: no copy per write in a bulk load. Readers pick the three fields.)
      const revisions: KeyRevisions = after ?? { revision: result.revision, createRevision: result.revision, version: 1 };
      switch (write.op) {
        case 'delete':
          return { kind: 'deleted', key: write.key, revision: result.revision };
        case 'set':
          return { kind: 'stored', key: write.key, expiresAt: after?.expiresAt ?? write.expiresAt, revisions };
        case 'incr':
          return { kind: 'counter', key: write.key, value: after!.value.toString(), expiresAt: after!.expiresAt, revisions };
      }
    }
  }
}
