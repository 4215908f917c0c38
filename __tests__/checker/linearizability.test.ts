/** The linearizability checker must accept every correct history and reject planted anomalies. */
import { checkHistory, type Input, type Operation, type Output } from '../helpers/linearizability.js';

function op(client: string, call: number, ret: number | null, input: Input, output: Output | null, key = 'a'): Operation {
  return { client, key, call, ret, input, output };
}
const get: Input = { f: 'get' };
const set = (value: string): Input => ({ f: 'set', value });
const cas = (expect: number, value: string): Input => ({ f: 'set-if-revision', expect, value });
const incr = (by: string): Input => ({ f: 'incr', by });
const value = (v: string, revision: number): Output => ({ kind: 'value', value: v, revision });
const written = (revision: number, v?: string): Output => (v === undefined ? { kind: 'written', revision } : { kind: 'written', revision, value: v });
const conflict = (revision: number): Output => ({ kind: 'conflict', revision });
const notFound: Output = { kind: 'not-found' };
const notInteger: Output = { kind: 'not-integer' };

test('a sequential history that follows the model passes', () => {
  const result = checkHistory([
    op('c1', 0, 1, get, notFound),
    op('c1', 2, 3, set('x'), written(1)),
    op('c1', 4, 5, get, value('x', 1)),
    op('c1', 6, 7, { f: 'set-if-absent', value: 'y' }, conflict(1)),
    op('c1', 8, 9, cas(1, 'y'), written(2)),
    op('c1', 10, 11, { f: 'set-if-value', old: 'x', value: 'z' }, conflict(2)),
    op('c1', 12, 13, { f: 'set-if-value', old: 'y', value: 'z' }, written(3)),
    op('c1', 14, 15, { f: 'delete-if-revision', expect: 2 }, conflict(3)),
    op('c1', 16, 17, { f: 'delete-if-revision', expect: 3 }, written(4)),
    op('c1', 18, 19, { f: 'delete' }, notFound),
    op('c1', 20, 21, { f: 'delete-if-revision', expect: 0 }, notFound),
    op('c1', 22, 23, cas(0, '40'), written(5)),
    op('c1', 24, 25, incr('2'), written(6, '42')),
    op('c1', 26, 27, incr('-50'), written(7, '-8')),
    op('c1', 28, 29, { f: 'delete' }, written(8)),
    op('c1', 30, 31, incr('1'), written(9, '1')),
  ]);
  expect(result).toMatchObject({ ok: true, keys: 1, operations: 16, failures: [] });
  expect(result.explored).toBeGreaterThanOrEqual(16);
});

test.each([
  ['the old value', notFound],
  ['the new value', value('1', 1)],
])('a get overlapping a set may see %s', (_, seen) => {
  const history = [op('c1', 0, 10, set('1'), written(1)), op('c2', 2, 8, get, seen)];
  expect(checkHistory(history).failures).toEqual([]);
});

test('concurrent gets may disagree while the set is in flight, once it returned they may not', () => {
  const inFlight = [
    op('c1', 0, 10, set('1'), written(1)),
    op('c2', 1, 4, get, value('1', 1)),
    op('c3', 3, 9, get, notFound), // called before c2 returned, so it may come first
  ];
  expect(checkHistory(inFlight).ok).toBe(true);
  const after = [...inFlight, op('c4', 11, 12, get, notFound)];
  expect(checkHistory(after)).toMatchObject({ ok: false, failures: [{ key: 'a' }] });
});

test('a stale read after two completed sets is rejected, and the failure names the key', () => {
  const result = checkHistory([
    op('c1', 0, 1, set('1'), written(1)),
    op('c1', 2, 3, set('2'), written(2)),
    op('c2', 4, 5, get, value('1', 1)),
    op('c3', 0, 5, set('b'), written(3), 'b'),
    op('c3', 6, 7, get, value('b', 3), 'b'),
  ]);
  expect(result.ok).toBe(false);
  expect(result.failures).toHaveLength(1);
  expect(result.failures[0]!.key).toBe('a');
  expect(result.failures[0]!.reason).toMatch(/not linearizable/);
  expect(result.failures[0]!.ops.map((o) => o.call)).toContain(4);
});

test('a read of a value whose write had not been called yet is rejected', () => {
  const result = checkHistory([op('c1', 0, 1, get, value('1', 1)), op('c2', 2, 3, set('1'), written(1))]);
  expect(result).toMatchObject({ ok: false, failures: [{ key: 'a' }] });
});

test('a read must name the revision of the write it sees', () => {
  expect(checkHistory([op('c1', 0, 1, set('1'), written(4)), op('c1', 2, 3, get, value('1', 3))]).ok).toBe(false);
  expect(checkHistory([op('c1', 0, 1, set('1'), written(4)), op('c1', 2, 3, get, value('1', 4))]).ok).toBe(true);
});

describe('compare-and-set', () => {
  const before = op('c1', 0, 1, set('x'), written(1));
  test('two concurrent set-if-revision on the same revision cannot both win', () => {
    const result = checkHistory([before, op('c2', 2, 5, cas(1, 'y'), written(2)), op('c3', 3, 6, cas(1, 'z'), written(3))]);
    expect(result).toMatchObject({ ok: false, failures: [{ key: 'a' }] });
  });
  test('one wins, the other sees the winner', () => {
    expect(checkHistory([before, op('c2', 2, 5, cas(1, 'y'), written(2)), op('c3', 3, 6, cas(1, 'z'), conflict(2))]).ok).toBe(true);
    expect(checkHistory([before, op('c2', 2, 5, cas(1, 'y'), conflict(3)), op('c3', 3, 6, cas(1, 'z'), written(3))]).ok).toBe(true);
  });
  test('a conflict must report the current revision', () => {
    for (const wrong of [1, 0, 7]) {
      const result = checkHistory([before, op('c2', 2, 5, cas(1, 'y'), written(2)), op('c3', 3, 6, cas(1, 'z'), conflict(wrong))]);
      expect(result.ok).toBe(false);
    }
    expect(checkHistory([op('c1', 0, 1, cas(5, 'y'), conflict(0))]).ok).toBe(true); // absent: 0
    expect(checkHistory([op('c1', 0, 1, cas(0, 'y'), conflict(0))]).ok).toBe(false); // absent is what it expected
  });
});

describe('counters', () => {
  test('8 concurrent increments that saw 1..8 in any order pass', () => {
    const order = [5, 2, 8, 1, 7, 3, 6, 4];
    // Revisions follow the values: the increment that made n committed n-th.
    const history = order.map((n, i) => op(`c${i}`, i, 20 + i, incr('1'), written(n, String(n))));
    expect(checkHistory(history).ok).toBe(true);
  });
  test('two increments cannot both make 5', () => {
    const result = checkHistory([
      op('c1', 0, 1, set('4'), written(1)),
      op('c2', 2, 5, incr('1'), written(2, '5')),
      op('c3', 3, 6, incr('1'), written(3, '5')),
    ]);
    expect(result).toMatchObject({ ok: false, failures: [{ key: 'a' }] });
  });
  test('a value that is not a signed 64-bit integer only answers not-integer', () => {
    const start = op('c1', 0, 1, set('abc'), written(1));
    expect(checkHistory([start, op('c1', 2, 3, incr('1'), notInteger)]).ok).toBe(true);
    expect(checkHistory([start, op('c1', 2, 3, incr('1'), written(2, '1'))]).ok).toBe(false);
    const max = op('c1', 0, 1, set('9223372036854775807'), written(1));
    expect(checkHistory([max, op('c1', 2, 3, incr('1'), notInteger)]).ok).toBe(true);
    expect(checkHistory([max, op('c1', 2, 3, incr('1'), written(2, '9223372036854775808'))]).ok).toBe(false);
    expect(checkHistory([max, op('c1', 2, 3, incr('-1'), written(2, '9223372036854775806'))]).ok).toBe(true);
  });
});

describe('ops whose outcome is unknown', () => {
  const before = op('c1', 0, 1, set('1'), written(1));
  const lost = op('c2', 2, null, set('2'), null);
  const failed = op('c2', 2, 3, set('2'), { kind: 'error' });

  test.each([
    ['no answer', lost],
    ['an error', failed],
  ])('after %s, a later get may see the write or not', (_, uncertain) => {
    expect(checkHistory([before, uncertain, op('c3', 10, 11, get, value('2', 5))]).ok).toBe(true);
    expect(checkHistory([before, uncertain, op('c3', 10, 11, get, value('1', 1))]).ok).toBe(true);
  });
  test('but the write it saw cannot be undone, and its revision must be new', () => {
    const seen = op('c3', 10, 11, get, value('2', 5));
    expect(checkHistory([before, lost, seen, op('c3', 12, 13, get, value('1', 1))]).ok).toBe(false);
    expect(checkHistory([before, lost, op('c3', 10, 11, get, value('2', 1))]).ok).toBe(false);
    // The unseen revision is pinned by the first read: a later one must agree.
    expect(checkHistory([before, lost, seen, op('c3', 12, 13, get, value('2', 6))]).ok).toBe(false);
    // And the next write must come after it.
    expect(checkHistory([before, lost, seen, op('c3', 12, 13, set('3'), written(4))]).ok).toBe(false);
  });
  test('an error answer still bounds when the op could have happened', () => {
    expect(checkHistory([before, failed, op('c3', 4, 5, set('3'), written(7)), op('c3', 6, 7, get, value('2', 8))]).ok).toBe(false);
  });
});

describe('revisions across keys', () => {
  test('two writes with the same revision are rejected, even on different keys', () => {
    const result = checkHistory([op('c1', 0, 1, set('1'), written(3)), op('c2', 2, 3, set('1'), written(3), 'b')]);
    expect(result.ok).toBe(false);
    expect(result.failures).toEqual([expect.objectContaining({ key: 'a, b', reason: expect.stringMatching(/revision 3 written twice/) })]);
  });
  test('a write called after another returned must get a higher revision', () => {
    const result = checkHistory([op('c1', 0, 1, set('1'), written(5)), op('c2', 2, 3, set('1'), written(3), 'b')]);
    expect(result.ok).toBe(false);
    expect(result.failures[0]!.reason).toMatch(/contradicts real time/);
    // Overlapping writes may commit in either order.
    expect(checkHistory([op('c1', 0, 2, set('1'), written(5)), op('c2', 1, 3, set('1'), written(3), 'b')]).ok).toBe(true);
  });
});

test('the initial state counts', () => {
  const initial = new Map([['a', { value: 'old', revision: 9 }]]);
  expect(checkHistory([op('c1', 0, 1, get, value('old', 9))], { initial }).ok).toBe(true);
  expect(checkHistory([op('c1', 0, 1, set('new'), written(9))], { initial }).ok).toBe(false);
});

test('running out of search budget is a failure, not a pass', () => {
  const history = Array.from({ length: 6 }, (_, i) => op(`c${i}`, 0, 10, set(String(i)), written(i + 1)));
  expect(checkHistory(history).ok).toBe(true);
  const result = checkHistory(history, { maxStates: 2 });
  expect(result).toMatchObject({ ok: false, failures: [{ key: 'a', reason: 'search limit' }] });
});

// ---------------------------------------------------------------------------------------------
// Randomized: correct sequential runs, timed so that ops overlap, must pass; a planted stale read must
// not; and on small histories the checker must agree with a brute-force search.

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Register {
  value: string | null;
  revision: number;
}

/** The model written out plainly, apart from the checker's, so the two check each other. */
function run(reg: Register, input: Input, revision: number): { output: Output; after: Register } {
  const present = reg.value !== null;
  const stays = (output: Output) => ({ output, after: reg });
  const conflict = stays({ kind: 'conflict', revision: reg.revision });
  const write = (v: string | null, newValue?: string) => ({
    output: written(revision, newValue),
    after: v === null ? { value: null, revision: 0 } : { value: v, revision },
  });
  switch (input.f) {
    case 'get':
      return stays(present ? value(reg.value!, reg.revision) : notFound);
    case 'set':
      return write(input.value);
    case 'set-if-absent':
      return present ? conflict : write(input.value);
    case 'set-if-revision':
      return (input.expect === 0 ? !present : reg.revision === input.expect) ? write(input.value) : conflict;
    case 'set-if-value':
      return reg.value === input.old ? write(input.value) : conflict;
    case 'delete':
      return present ? write(null) : stays(notFound);
    case 'delete-if-revision':
      if (present && reg.revision === input.expect) return write(null);
      return !present && input.expect === 0 ? stays(notFound) : conflict;
    case 'incr': {
      const n = /^-?\d+$/.test(reg.value ?? '0') ? BigInt(reg.value ?? '0') + BigInt(input.by) : null;
      if (n === null || n < -(2n ** 63n) || n >= 2n ** 63n) return stays(notInteger);
      return write(String(n), String(n));
    }
  }
}

interface Shape {
  keys: string[];
  count: number;
  clients: number;
  /** The share of ops that lose their answer or fail; those took effect or not, at random. */
  uncertain: number;
}

function simulate(seed: number, { keys, count, clients, uncertain }: Shape): Operation[] {
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const registers = new Map(keys.map((k) => [k, { value: null, revision: 0 } as Register]));
  const values = ['1', '2', '17', 'x', '-4'];
  let revision = 0;

  // Op i takes effect at time 10 * i, if at all.
  const planned: { client: number; at: number; op: Operation }[] = [];
  for (let i = 0; i < count; i++) {
    const key = pick(keys);
    const reg = registers.get(key)!;
    const input = pick<() => Input>([
      () => get,
      () => get,
      () => get,
      () => set(pick(values)),
      () => ({ f: 'set-if-absent', value: pick(values) }),
      () => cas(pick([reg.revision, reg.revision, 0, revision]), pick(values)),
      () => ({ f: 'set-if-value', old: rand() < 0.5 ? (reg.value ?? 'x') : pick(values), value: pick(values) }),
      () => ({ f: 'delete' }),
      () => ({ f: 'delete-if-revision', expect: pick([reg.revision, reg.revision, 0, revision]) }),
      () => incr(String(Math.floor(rand() * 7) - 3)),
    ])();
    const { output, after } = run(reg, input, revision + 1);
    const fate = rand() < uncertain ? pick(['lost', 'error']) : 'answered';
    if (fate === 'answered' || rand() < 0.5) {
      registers.set(key, after);
      if (output.kind === 'written') revision++;
    }
    const client = Math.floor(rand() * clients);
    const answer = fate === 'lost' ? null : fate === 'error' ? ({ kind: 'error' } as Output) : output;
    planned.push({ client, at: 10 * i, op: { client: `c${client}`, key, call: 0, ret: fate === 'lost' ? null : 0, input, output: answer } });
  }

  // Each client's ops get intervals around their points in time that never overlap each other.
  for (let c = 0; c < clients; c++) {
    const mine = planned.filter((p) => p.client === c);
    let free = 0;
    mine.forEach((p, j) => {
      const nextAt = mine[j + 1]?.at ?? p.at + 10 * clients;
      p.op.call = free + rand() * (p.at - free);
      free = p.op.ret === null ? p.at : p.at + rand() * (nextAt - p.at);
      if (p.op.ret !== null) p.op.ret = free;
    });
  }
  return planned.map((p) => p.op);
}

/** Make one get return a value that a completed write had already replaced before the get was called. */
function plantStaleRead(history: Operation[], seed: number): { history: Operation[]; key: string } {
  const rand = mulberry32(seed);
  const isWrite = (o: Operation) => o.ret !== null && o.output?.kind === 'written';
  const revisionOf = (o: Operation) => (o.output as { revision: number }).revision;
  const valueOf = (o: Operation) => (o.input.f === 'incr' ? (o.output as { value: string }).value : 'value' in o.input ? o.input.value : null);
  const gets = history.filter((o) => o.input.f === 'get' && o.ret !== null && o.output?.kind !== 'error');
  for (let tries = 0; tries < 1000; tries++) {
    const g = gets[Math.floor(rand() * gets.length)]!;
    const writes = history.filter((o) => o.key === g.key && isWrite(o));
    const overwritten = Math.max(0, ...writes.filter((w) => w.ret! < g.call).map(revisionOf));
    const stale = writes.filter((w) => revisionOf(w) < overwritten && valueOf(w) !== null).at(-1);
    if (!stale) continue;
    const mutated = { ...g, output: value(valueOf(stale)!, revisionOf(stale)) };
    return { history: history.map((o) => (o === g ? mutated : o)), key: g.key };
  }
  throw new Error('no get could be made stale');
}

test.each([1, 2, 3, 4, 5])('random correct histories pass and a planted stale read fails (seed %i)', (seed) => {
  const history = simulate(seed, { keys: ['a', 'b', 'c'], count: 900, clients: 6, uncertain: 0.04 });
  const result = checkHistory(history);
  expect(result.failures).toEqual([]);
  expect(result).toMatchObject({ ok: true, keys: 3, operations: 900 });

  const stale = plantStaleRead(history, seed);
  const rejected = checkHistory(stale.history);
  expect(rejected.ok).toBe(false);
  expect(rejected.failures.map((f) => [f.key, f.reason.slice(0, 17)])).toEqual([[stale.key, 'not linearizable:']]);
});

test('3000 ops on one key from 12 clients take about one search state per op', () => {
  const history = simulate(42, { keys: ['hot'], count: 3000, clients: 12, uncertain: 0.01 });
  const result = checkHistory(history);
  expect(result.failures).toEqual([]);
  expect(result.explored).toBeLessThan(2 * 3000); // a blow-up would be orders of magnitude more
  const stale = checkHistory(plantStaleRead(history, 42).history);
  expect(stale.failures.map((f) => f.reason.slice(0, 17))).toEqual(['not linearizable:']);
  expect(stale.explored).toBeLessThan(10 * 3000);
});

/**
 * Straight from the definition: every order of the required ops and of any subset of the uncertain
 * ones, trying every revision for the writes nobody saw, with none of the checker's shortcuts.
 */
function linearizableByBruteForce(history: Operation[]): boolean {
  const required = (o: Operation) => o.ret !== null && o.output !== null && o.output.kind !== 'error';
  const ret = (o: Operation) => o.ret ?? Infinity;
  const highest = Math.max(0, ...history.map((o) => (o.output && 'revision' in o.output ? o.output.revision : 0)));
  const anyRevision = Array.from({ length: highest + history.length }, (_, k) => k + 1);
  const placed = new Set<Operation>();
  const failed = new Set<string>();
  const search = (reg: Register, last: number): boolean => {
    if (history.every((o) => !required(o) || placed.has(o))) return true;
    const key = `${history.map((o) => +placed.has(o)).join('')} ${reg.value} ${reg.revision} ${last}`;
    if (failed.has(key)) return false;
    const found = history.some((o) => {
      if (placed.has(o) || [...placed].some((p) => p.call > ret(o))) return false;
      if (history.some((p) => p !== o && required(p) && !placed.has(p) && ret(p) < o.call)) return false;
      const revisions = !required(o) ? anyRevision : o.output!.kind === 'written' ? [o.output!.revision] : [0];
      return revisions.some((r) => {
        const { output, after } = run(reg, o.input, r);
        if (output.kind === 'written' && r <= last) return false;
        if (required(o) ? JSON.stringify(output) !== JSON.stringify(o.output) : output.kind !== 'written') return false;
        placed.add(o);
        const rest = search(after, output.kind === 'written' ? r : last);
        placed.delete(o);
        return rest;
      });
    });
    if (!found) failed.add(key);
    return found;
  };
  return search({ value: null, revision: 0 }, 0);
}

test('on small histories, with or without a corrupted answer, the checker agrees with brute force', () => {
  const rand = mulberry32(7);
  const verdicts = { ok: 0, rejected: 0 };
  const disagreements: Operation[][] = [];
  for (let seed = 0; seed < 2000; seed++) {
    const shape = { keys: ['a'], count: 2 + Math.floor(rand() * 10), clients: 2 + Math.floor(rand() * 3), uncertain: 0.4 };
    const history = simulate(seed, shape);
    const k = Math.floor(rand() * history.length);
    if (rand() < 0.6 && history[k]!.output && history[k]!.output!.kind !== 'error') {
      const r = Math.floor(rand() * 6);
      const corrupt = [notFound, value(rand() < 0.5 ? '1' : 'x', r), written(r), conflict(r), notInteger];
      history[k] = { ...history[k]!, output: corrupt[Math.floor(rand() * corrupt.length)]! };
    }
    const expected = linearizableByBruteForce(history);
    if (checkHistory(history).ok !== expected) disagreements.push(history);
    verdicts[expected ? 'ok' : 'rejected']++;
  }
  expect(disagreements.slice(0, 1)).toEqual([]);
  expect(verdicts.ok).toBeGreaterThan(500);
  expect(verdicts.rejected).toBeGreaterThan(500);
});
