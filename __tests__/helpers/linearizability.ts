/**
 * Linearizability checker for tbase histories: the Wing–Gong search with Lowe's memoization
 * (the algorithm behind porcupine and knossos), run key by key because linearizability is local,
 * plus two cheap whole-history checks on revisions, which are shared by all keys.
 *
 * Plain WGL blows up on these histories in two places, hence three shortcuts, each argued where it
 * lives: ops whose outcome is unknown are optional rather than "done or not" at every point; a read
 * (or any answer that leaves the state alone) that fits is taken at once instead of in every order;
 * and a branch is dropped as soon as the key's revision has passed one that a pending op reports.
 * A correct history then costs about one search state per op.
 */

export interface Operation {
  client: string;
  key: string;
  call: number;
  /** null: the answer never came (client killed, timeout), so the op may or may not have taken effect. */
  ret: number | null;
  input: Input;
  /** null iff ret === null. */
  output: Output | null;
}

export type Input =
  | { f: 'get' }
  | { f: 'set'; value: string }
  | { f: 'set-if-absent'; value: string }
  | { f: 'set-if-revision'; expect: number; value: string } // expect 0 = must be absent
  | { f: 'set-if-value'; old: string; value: string }
  | { f: 'delete' }
  | { f: 'delete-if-revision'; expect: number }
  | { f: 'incr'; by: string };

export type Output =
  | { kind: 'value'; value: string; revision: number } // revision: the key's last change
  | { kind: 'not-found' }
  | { kind: 'written'; revision: number; value?: string } // revision: this write's; value: incr's result
  | { kind: 'conflict'; revision: number } // the key's current revision, 0 when absent
  | { kind: 'not-integer' }
  | { kind: 'error' }; // may or may not have taken effect

export interface Failure {
  key: string;
  reason: string;
  /** A small window of ops around where the search got stuck (or the ops that disagree). */
  ops: Operation[];
}

export interface CheckResult {
  ok: boolean;
  keys: number;
  operations: number;
  /** Search states visited, over all keys. */
  explored: number;
  failures: Failure[];
}

export interface CheckOptions {
  initial?: Map<string, { value: string | null; revision: number }>;
  /** Per key. Past it the key fails with reason 'search limit': no verdict is not a pass. */
  maxStates?: number;
}

export function checkHistory(history: Operation[], options: CheckOptions = {}): CheckResult {
  const failures = revisionFailures(history);
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const ops = byKey.get(op.key);
    if (ops) ops.push(op);
    else byKey.set(op.key, [op]);
  }
  let explored = 0;
  for (const [key, ops] of byKey) {
    const start = options.initial?.get(key);
    const initial: State = start ? { value: start.value, last: start.revision, exact: true } : { value: null, last: 0, exact: true };
    const result = checkKey(ops, initial, options.maxStates ?? 500_000);
    explored += result.explored;
    if (result.failure) failures.push({ key, ...result.failure });
  }
  return { ok: failures.length === 0, keys: byKey.size, operations: history.length, explored, failures };
}

// ---------------------------------------------------------------------------------------------
// The model: one register per key.

/**
 * The key's revision is not stored: while the key is present it equals `last` (every write that
 * leaves a value sets both), and it is 0 while absent.
 * `exact` is false after an uncertain write took effect: its revision was never seen, so `last` is
 * only a lower bound until a later output (a get, a conflict, a write) pins it down. Revisions are
 * database-wide, so the per-key model can only bound them, never predict them.
 */
interface State {
  value: string | null;
  last: number;
  exact: boolean;
}

/** What an uncertain op would have answered had it taken effect: a write whose revision nobody saw. */
type Outcome = Output | { kind: 'written'; revision?: undefined; value?: undefined };
const UNSEEN: Outcome = { kind: 'written' };

/** The state after `input` answered `out`, or null if the model could not have answered that. */
function apply(s: State, input: Input, out: Outcome): State | null {
  const present = s.value !== null;
  switch (input.f) {
    case 'get':
      if (out.kind === 'not-found') return present ? null : s;
      return out.kind === 'value' && s.value === out.value ? observe(s, out.revision) : null;
    case 'set':
      return out.kind === 'written' ? write(s, input.value, out.revision) : null;
    case 'set-if-absent':
      return guarded(s, out, !present, input.value);
    case 'set-if-value':
      return guarded(s, out, s.value === input.old, input.value);
    case 'delete':
      if (out.kind === 'not-found') return present ? null : s;
      return out.kind === 'written' && present ? write(s, null, out.revision) : null;
    case 'set-if-revision':
    case 'delete-if-revision': {
      const isDelete = input.f === 'delete-if-revision';
      if (out.kind === 'written') {
        const base = isDelete && !present ? null : holds(s, input.expect);
        return base && write(base, isDelete ? null : input.value, out.revision);
      }
      if (out.kind === 'not-found') return isDelete && !present && input.expect === 0 ? s : null;
      // A conflict that names the expected revision contradicts itself, whatever the state.
      return out.kind === 'conflict' && out.revision !== input.expect ? conflict(s, out.revision) : null;
    }
    case 'incr': {
      const next = increment(s.value, input.by);
      if (next === null) return out.kind === 'not-integer' ? s : null;
      if (out.kind !== 'written' || (out !== UNSEEN && out.value !== next)) return null;
      return write(s, next, out.revision);
    }
  }
}

/** A write must get a revision above every earlier write to the key, deletes included. */
function write(s: State, value: string | null, revision: number | undefined): State | null {
  if (revision === undefined) return { value, last: s.last + 1, exact: false };
  return revision > s.last ? { value, last: revision, exact: true } : null;
}

/** The present key has `revision`: check it, or learn it if an unseen write hid it. */
function observe(s: State, revision: number): State | null {
  if (s.exact) return revision === s.last ? s : null;
  return revision >= s.last ? { ...s, last: revision, exact: true } : null;
}

/** A failed condition answers the key's current revision, 0 when absent. */
function conflict(s: State, revision: number): State | null {
  if (s.value === null) return revision === 0 ? s : null;
  return observe(s, revision);
}

/** The key is at revision `expect` (0 = absent); null if it cannot be. */
function holds(s: State, expect: number): State | null {
  if (expect === 0) return s.value === null ? s : null;
  return s.value === null ? null : observe(s, expect);
}

function guarded(s: State, out: Outcome, condition: boolean, value: string): State | null {
  if (out.kind === 'written') return condition ? write(s, value, out.revision) : null;
  return out.kind === 'conflict' && !condition ? conflict(s, out.revision) : null;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function int64(text: string): bigint | null {
  if (!/^[-+]?\d+$/.test(text)) return null;
  const n = BigInt(text);
  return n >= INT64_MIN && n <= INT64_MAX ? n : null;
}

/** The new value as the server prints it, or null where it must answer not-integer. */
function increment(value: string | null, by: string): string | null {
  const current = value === null ? 0n : int64(value);
  const delta = int64(by);
  if (current === null || delta === null) return null;
  const next = current + delta;
  return next >= INT64_MIN && next <= INT64_MAX ? String(next) : null;
}

// ---------------------------------------------------------------------------------------------
// The search.

interface Entry {
  op: Operation;
  /** Infinity when the answer never came. */
  ret: number;
  /** Uncertain ops (no answer, or 'error') may have taken effect or not, so they are optional. */
  certain: boolean;
  /** The highest `last` a required op can still be linearized after, as revisions only grow. */
  limit: number;
}

interface Frame {
  state: State;
  /** The ops that may be linearized next, as indexes into the entries. */
  candidates: number[];
  /** The candidate being tried. */
  c: number;
  /** The latest call among the ops linearized so far. */
  latestCall: number;
}

function toEntry(op: Operation): Entry {
  const certain = op.ret !== null && op.output !== null && op.output.kind !== 'error';
  const out = certain ? op.output! : ({ kind: 'error' } as const);
  let limit = Infinity;
  if (out.kind === 'written') limit = out.revision - 1;
  else if (out.kind === 'value' || (out.kind === 'conflict' && out.revision > 0)) limit = out.revision;
  return { op, ret: op.ret ?? Infinity, certain, limit };
}

/** An optional op is linearized only where it took effect. */
function outcome(s: State, e: Entry): State | null {
  return apply(s, e.op.input, e.certain ? e.op.output! : UNSEEN);
}

/** Whatever can follow state b can follow state a. */
function covers(a: State, b: State): boolean {
  if (a.value !== b.value) return false;
  return a.exact ? b.exact && a.last === b.last : a.last <= b.last;
}

/** Ops not yet linearized, in call order. Removals are undone in reverse order (dancing links), so both are O(1). */
class Pending {
  head: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;

  constructor(
    private readonly from: number,
    readonly end: number,
  ) {
    this.head = from;
    this.next = Int32Array.from({ length: end - from }, (_, k) => from + k + 1);
    this.prev = Int32Array.from({ length: end - from }, (_, k) => from + k - 1);
  }

  after(i: number): number {
    return this.next[i - this.from]!;
  }

  remove(i: number): void {
    const [p, n] = [this.prev[i - this.from]!, this.next[i - this.from]!];
    if (p >= this.from) this.next[p - this.from] = n;
    else this.head = n;
    if (n < this.end) this.prev[n - this.from] = p;
  }

  restore(i: number): void {
    const [p, n] = [this.prev[i - this.from]!, this.next[i - this.from]!];
    if (p >= this.from) this.next[p - this.from] = i;
    else this.head = i;
    if (n < this.end) this.prev[n - this.from] = i;
  }
}

function checkKey(ops: Operation[], initial: State, maxStates: number): { explored: number; failure?: Omit<Failure, 'key'> } {
  // Required ops must all be linearized, each before its answer arrived. Optional (uncertain) ops are
  // linearized only if they took effect, so they never hold anyone up; an unanswered read is dropped
  // since it can neither change nor reveal anything.
  const byCall = (a: Entry, b: Entry) => a.op.call - b.op.call;
  const all = ops.map(toEntry);
  const entries = [...all.filter((e) => e.certain).sort(byCall), ...all.filter((e) => !e.certain && e.op.input.f !== 'get').sort(byCall)];
  const at = (i: number) => entries[i]!;
  const required = new Pending(0, all.filter((e) => e.certain).length);
  const optional = new Pending(required.end, entries.length);
  let done = 0n; // required ops linearized, by index
  let applied = 0n; // optional ops linearized, by index - required.end
  const flip = (i: number) => {
    if (i < required.end) done ^= 1n << BigInt(i);
    else applied ^= 1n << BigInt(i - required.end);
  };
  const take = (i: number) => {
    (i < required.end ? required : optional).remove(i);
    flip(i);
  };
  const untake = (i: number) => {
    (i < required.end ? required : optional).restore(i);
    flip(i);
  };

  // An op may come next unless a pending required op returned before it was called. Calls are sorted
  // and every ret is at or after its call, so the scan stops at the first call past the earliest ret.
  // An optional op also may not come after an op that was called once it had returned.
  const candidates = (latestCall: number): number[] => {
    const found: number[] = [];
    let earliestRet = Infinity;
    for (let i = required.head; i < required.end && at(i).op.call <= earliestRet; i = required.after(i)) {
      found.push(i);
      earliestRet = Math.min(earliestRet, at(i).ret);
    }
    for (let i = optional.head; i < optional.end && at(i).op.call <= earliestRet; i = optional.after(i)) {
      if (at(i).ret >= latestCall) found.push(i);
    }
    return found;
  };

  // A required op whose answer fits the state without changing it (a read, a conflict, ...) can go
  // first without trying the others: wherever a linearization puts it, moving it here keeps every
  // other op's view the same and breaks no real-time order, as long as no pending op returned before
  // its call (an optional op could, hence the check). Concurrent reads would otherwise multiply the
  // orders to try.
  const frameAt = (state: State, latestCall: number): Frame => {
    const found = candidates(latestCall);
    // Cheap lookahead: a candidate that can no longer fit dooms this branch, however long it goes on.
    if (found.some((i) => at(i).limit < state.last)) return { state, candidates: [], c: -1, latestCall };
    const optionalRet = Math.min(...found.map((i) => (i < required.end ? Infinity : at(i).ret)));
    const free = found.find((i) => at(i).certain && at(i).op.call <= optionalRet && outcome(state, at(i)) === state);
    return { state, candidates: free === undefined ? found : [free], c: -1, latestCall };
  };

  // Lowe's memo, of the configurations (state, ops linearized) whose search failed: reaching one
  // again, or one it covers, cannot end differently. With more optional ops applied there are only
  // fewer options left. Everything before the first pending required op is linearized, so that set
  // is stored shifted by it.
  const failed = new Map<string, Map<bigint, { state: State; applied: bigint }[]>>();
  const failures = (state: State) => {
    const key = `${required.head}|${state.value === null ? '-' : `+${state.value}`}`;
    const byDone = failed.get(key) ?? new Map<bigint, { state: State; applied: bigint }[]>();
    failed.set(key, byDone);
    const shifted = done >> BigInt(required.head);
    const list = byDone.get(shifted) ?? [];
    byDone.set(shifted, list);
    return list;
  };
  const knownToFail = (state: State) => failures(state).some((f) => (f.applied & ~applied) === 0n && covers(f.state, state));

  if (required.end === 0) return { explored: 0 };
  const stack = [frameAt(initial, -Infinity)];
  let stuck = { depth: 0, state: initial, candidates: stack[0]!.candidates, before: [] as number[] };
  let explored = 0;
  const window = () => [...stuck.before, ...stuck.candidates.slice(0, 10)].map((i) => at(i).op);

  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (++frame.c === frame.candidates.length) {
      // Nothing works from here: remember that, undo the op that led here, try the parent's next choice.
      failures(frame.state).push({ state: frame.state, applied });
      stack.pop();
      const parent = stack[stack.length - 1];
      if (parent) untake(parent.candidates[parent.c]!);
      continue;
    }
    const i = frame.candidates[frame.c]!;
    const state = outcome(frame.state, at(i));
    if (state === null) continue;
    take(i);
    if (knownToFail(state)) {
      untake(i);
      continue;
    }
    if (++explored > maxStates) return { explored, failure: { reason: 'search limit', ops: window() } };
    if (required.head === required.end) return { explored };
    stack.push(frameAt(state, Math.max(frame.latestCall, at(i).op.call)));
    if (stack.length - 1 > stuck.depth) {
      const before = stack.slice(-4, -1).map((f) => f.candidates[f.c]!);
      stuck = { depth: stack.length - 1, state, candidates: candidates(stack[stack.length - 1]!.latestCall), before };
    }
  }
  const { depth, state } = stuck;
  const next = stuck.candidates.map((i) => show(at(i).op)).join('; ');
  return {
    explored,
    failure: {
      reason: `not linearizable: at most ${depth} of ${entries.length} ops fit, then the key is ${showState(state)} and none of these can come next: ${next}`,
      ops: window(),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Whole-history checks: revisions come from one database-wide counter.

const MAX_REPORTED = 10; // one bad revision can put every later write out of order: say it a few times, not thousands

function revisionFailures(history: Operation[]): Failure[] {
  const writes = history.filter((op) => op.ret !== null && op.output?.kind === 'written');
  const revision = (op: Operation) => (op.output as { revision: number }).revision;
  const keys = (a: Operation, b: Operation) => (a.key === b.key ? a.key : `${a.key}, ${b.key}`);

  const duplicates: Failure[] = [];
  const byRevision = new Map<number, Operation>();
  for (const w of writes) {
    const other = byRevision.get(revision(w));
    if (other) duplicates.push({ key: keys(other, w), reason: `revision ${revision(w)} written twice: ${show(other)}; ${show(w)}`, ops: [other, w] });
    else byRevision.set(revision(w), w);
  }

  // Sweep the writes by call, folding in every write that returned before it: the highest revision
  // among those must be below this write's.
  const inversions: Failure[] = [];
  const byRet = [...writes].sort((a, b) => a.ret! - b.ret!);
  let returned = 0;
  let highest: Operation | undefined;
  for (const w of [...writes].sort((a, b) => a.call - b.call)) {
    for (; returned < byRet.length && byRet[returned]!.ret! < w.call; returned++) {
      const r = byRet[returned]!;
      if (!highest || revision(r) > revision(highest)) highest = r;
    }
    // Equal revisions are already reported as duplicates.
    if (highest && revision(highest) > revision(w)) {
      inversions.push({ key: keys(highest, w), reason: `revision order contradicts real time: ${show(highest)} returned before ${show(w)} was called`, ops: [highest, w] });
    }
  }
  return [...duplicates.slice(0, MAX_REPORTED), ...inversions.slice(0, MAX_REPORTED)];
}

// ---------------------------------------------------------------------------------------------

function show(op: Operation): string {
  const { f, ...args } = op.input;
  const input = [f, ...Object.values(args)].join(' ');
  const out = op.output === null ? '?' : Object.values(op.output).join(' ');
  return `${op.client} ${op.key}: ${input} -> ${out} [${op.call}, ${op.ret ?? '…'}]`;
}

function showState(s: State): string {
  if (s.value === null) return `absent (last write ${s.exact ? '' : '>= '}${s.last})`;
  return `${JSON.stringify(s.value)} at revision ${s.exact ? '' : '>= '}${s.last}`;
}
