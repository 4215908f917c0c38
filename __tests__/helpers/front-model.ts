/**
 * The reference model (model.ts) as the front tests (properties/model-batch, model-http) use it against a real
 * process whose clock is not the test's:
 *  - TTLs: the process dates an expiry by its own clock, somewhere inside the time the test waited for the answer.
 *    The model dates it at the start of that wait and remembers the wait's length per key (`slackMs`), so the
 *    `ttl` a later answer shows is checked against exact bounds (`ttlRange`), never against a guessed tolerance.
 *    The fronts use TTLs of an hour or more: nothing expires during a run (expiry is the store-level model's,
 *    with a fake clock).
 *  - Concurrency: `fork()` copies the model (by replaying what it was given), so a test can try each order of a
 *    few requests fired at once and keep the one that explains every answer (`linearize`).
 *  - Answers are compared with `mismatch`: the expected object's fields (a subset, as toMatchObject), a TTL as a
 *    range; a diff in words, or null. Sequential commands throw it; `linearize` uses it to reject an order.
 */
import { TbaseModel, type Entry, type ModelResult, type Write } from './model.js';

export type { Condition, Entry, ModelResult, Write } from './model.js';

/** When the test sent a request and when its answer was in. */
export interface Window {
  sentMs: number;
  answeredMs: number;
}

type Logged = { kind: 'write'; write: Write; slackMs: number } | { kind: 'deletePrefix'; prefix: string };

export class FrontModel {
  private readonly model = new TbaseModel(Date.now);
  private readonly log: Logged[] = [];
  /** Per key with an expiry: how much later than the model's `expiresAt` the process's may be. */
  private readonly slackMs = new Map<string, number>();

  get revision(): number {
    return this.model.revision;
  }

  get(key: string): Entry | undefined {
    return this.model.get(key);
  }

  list(prefix = ''): Entry[] {
    return this.model.list(prefix);
  }

  /** One write command; an expiry it sets is dated `window.sentMs` (see the module comment). */
  apply(write: Write, window: Window): ModelResult {
    return this.replay({ kind: 'write', write, slackMs: window.answeredMs - window.sentMs });
  }

  deletePrefix(prefix: string): { count: number; revision: number } {
    this.log.push({ kind: 'deletePrefix', prefix });
    for (const entry of this.model.list(prefix)) this.slackMs.delete(entry.key);
    return this.model.deletePrefix(prefix);
  }

  /** A copy that goes its own way from here. */
  fork(): FrontModel {
    const copy = new FrontModel();
    for (const step of this.log) {
      if (step.kind === 'write') copy.replay(step);
      else copy.deletePrefix(step.prefix);
    }
    return copy;
  }

  /** The `ttl` (seconds left, rounded up) an answer given within `window` may show for `entry`; null: none. */
  ttlRange(entry: Entry, window: Window): Range | null {
    if (entry.expiresAt === null) return null;
    const slack = this.slackMs.get(entry.key) ?? 0;
    return new Range(Math.ceil((entry.expiresAt - window.answeredMs) / 1000), Math.ceil((entry.expiresAt + slack - window.sentMs) / 1000));
  }

  private replay(step: Extract<Logged, { kind: 'write' }>): ModelResult {
    this.log.push(step);
    const { write } = step;
    const result = this.model.apply(write);
    if (result.status === 'applied') {
      const keepsExpiry = write.op === 'incr' || (write.op === 'set' && write.keepTtl === true && result.existed);
      if (write.op === 'delete' || (write.op === 'set' && !keepsExpiry && write.expiresAt === null)) this.slackMs.delete(write.key);
      else if (!keepsExpiry) this.slackMs.set(write.key, step.slackMs);
    }
    return result;
  }
}

/** A number expected within [lo, hi]. */
export class Range {
  constructor(
    readonly lo: number,
    readonly hi: number,
  ) {}
}

/**
 * Where `actual` differs from `expected`: every field of an expected object (others are ignored), arrays element
 * by element and of the same length, a Range as bounds, anything else with Object.is. Null when it matches.
 */
export function mismatch(actual: unknown, expected: unknown, path = '$'): string | null {
  if (expected instanceof Range) {
    return typeof actual === 'number' && actual >= expected.lo && actual <= expected.hi ? null : `${path}: ${JSON.stringify(actual)} is not in [${expected.lo}, ${expected.hi}]`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: ${JSON.stringify(actual)} is not an array`;
    if (actual.length !== expected.length) return `${path}: ${actual.length} items, expected ${expected.length}: ${JSON.stringify(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const diff = mismatch(actual[i], expected[i], `${path}[${i}]`);
      if (diff) return diff;
    }
    return null;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return `${path}: ${JSON.stringify(actual)} is not an object`;
    for (const [name, value] of Object.entries(expected)) {
      const diff = mismatch((actual as Record<string, unknown>)[name], value, `${path}.${name}`);
      if (diff) return diff;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`;
}

/** Throws the mismatch (with what was asked) when there is one. */
export function expectMatch(what: string, actual: unknown, expected: unknown): void {
  const diff = mismatch(actual, expected);
  if (diff) throw new Error(`${what}: ${diff}\n  answer: ${JSON.stringify(actual)}`);
}

/**
 * Requests that ran at once: the first order of `count` operations whose expected answers (`expectIn(model, i)`,
 * applying operation i to that fork and returning what its answer must match) all match `answers`. The fork of that
 * order, or an error listing what each order got wrong. A handful of operations at most: every order is tried.
 */
export function linearize(model: FrontModel, answers: unknown[], expectIn: (fork: FrontModel, i: number) => unknown): FrontModel {
  const failures: string[] = [];
  for (const order of permutations(answers.length)) {
    const fork = model.fork();
    const diff = order.map((i) => mismatch(answers[i], expectIn(fork, i), `#${i}`)).find((d) => d !== null);
    if (!diff) return fork;
    failures.push(`order ${order.join(',')}: ${diff}`);
  }
  throw new Error(`no order of the concurrent requests explains their answers ${JSON.stringify(answers)}:\n  ${failures.join('\n  ')}`);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((rest) => Array.from({ length: n }, (_, at) => [...rest.slice(0, at), n - 1, ...rest.slice(at)]));
}
