/**
 * What the front model tests (properties/model-batch, model-http) write: a small pool of keys so that commands
 * meet the same keys again, most of them odd on purpose (blanks, quotes, backslashes, unicode, a leading `#` or
 * `-`, control characters), values of every shape a line can carry, and revisions named relative to the model's
 * state (resolved when the command runs, as fc.commands generates commands before any has run).
 */
import { fc } from './pbt.js';
import type { FrontModel } from './front-model.js';

export const KEYS = [
  'a',
  'b',
  'key with spaces',
  'say "hi"',
  "it's",
  `both ' and "`,
  'ключ',
  '✓ 🎉 emoji',
  '#hash',
  '-dash',
  '--double',
  'back\\slash',
  'tab\there',
  'new\nline',
  'p:1',
  'p:2',
  'p:x y',
  'p',
  '\\N',
  'a/b?c%d&e=f#g',
];

/** A few hot keys most of the time, so that sequences of twenty commands meet their keys again. */
const HOT_KEYS = ['key with spaces', 'say "hi"', '✓ 🎉 emoji', '-dash', 'p:1'];
export const keyArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOT_KEYS) }, { weight: 2, arbitrary: fc.constantFrom(...KEYS) });

/** Prefixes that take some of KEYS (and one that takes none). */
export const prefixArb = fc.constantFrom('p', 'p:', 'a', '#', 'кл', '-', 'zz');

/** Counter-like values often (so incr meets numbers), odd text otherwise; never `-` alone (set's stdin marker). */
export const valueArb = fc
  .oneof(
    fc.constantFrom('', '0', '1', '-7', '+5', '9223372036854775807', '-9223372036854775808', 'two words', 'quote " inside', "it's", 'x\ty', 'multi\nline', '#not a comment', '--flag-like', 'ünïcødé ✓', '\\N', 'back\\slash'),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 6 }),
  )
  .filter((value) => value !== '-');

/** Counter steps, small mostly, and the 64-bit edges (overflow is a refused command, not a wrap). */
export const stepArb = fc.oneof(fc.bigInt({ min: -10n, max: 10n }), fc.constantFrom((1n << 63n) - 1n, -(1n << 63n), 1n << 62n));

/** TTLs of an hour or more: nothing expires during a run (see front-model.ts). */
export const ttlArb = fc.constantFrom({ text: '1h', seconds: 3600 }, { text: '90m', seconds: 5400 }, { text: '2d', seconds: 172800 }, { text: '7200', seconds: 7200 });

/** A revision for a condition, relative to the model when the command runs. */
export type RevisionRef = 'current' | 'older' | 'newer' | 'zero' | 'database';
export const revisionRefArb = fc.constantFrom<RevisionRef>('current', 'current', 'older', 'newer', 'zero', 'database');

export function resolveRevision(ref: RevisionRef, model: FrontModel, key: string): number {
  const current = model.get(key)?.revision ?? 0;
  switch (ref) {
    case 'current':
      return current;
    case 'older':
      return Math.max(0, current - 1);
    case 'newer':
      return current + 1;
    case 'zero':
      return 0;
    case 'database':
      return model.revision;
  }
}
