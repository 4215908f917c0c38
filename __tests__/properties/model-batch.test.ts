/**
 * Model-based test of batch mode through the built bin (`npm run build` first): one long-lived `tbase --json`
 * batch per sequence on a fresh SQLite database (real memcached), fed lines and read back one JSON line each,
 * every answer compared with the reference model (helpers/model.ts through helpers/front-model.ts):
 *  - set (--ttl, --keep-ttl, --if-absent, --if-revision, --if-value), get of one and several keys, delete
 *    (--if-revision, --prefix, --all), incr/decr, list, and lines that are usage errors;
 *  - bursts: several lines sent at once, so the batch groups them (one transaction, pipelined reads,
 *    read-your-writes inside a group) and must still answer as if one command ran at a time;
 *  - a second process writing (a one-shot `tbase set/delete/incr --json` on the same database): its answer is
 *    checked too, and the batch must see its write on the next line;
 *  - at the end: `list` and `export` against the model (the database revision included), then stdin closes and
 *    the exit status must be the highest code of the failed commands (a missing key or a failed condition is an
 *    answer, not a failure).
 * Keys are the odd pool of front-arbitraries.ts, quoted by the contract's rules (not by src/grammar.ts's own
 * quoteWord, so the grammar is tested, not trusted), in a style chosen per word.
 * TTL expiry with real time is skipped here (TTLs are an hour or more): the store-level model test covers expiry
 * with a fake clock. TTL values are still checked, within exact bounds (front-model.ts).
 */
import { BatchSession } from '../helpers/batch-session.js';
import { FrontModel, expectMatch, type Entry, type ModelResult, type Window, type Write } from '../helpers/front-model.js';
import { keyArb, prefixArb, resolveRevision, revisionRefArb, stepArb, ttlArb, valueArb, type RevisionRef } from '../helpers/front-arbitraries.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

afterAll(removeTempDirs);

/** A condition as generated: a revision is named relative to the model (resolved when the command runs). */
type SetConditionSpec = { kind: 'absent' } | { kind: 'revision'; ref: RevisionRef } | { kind: 'value'; value: string };
type SetCondition = { kind: 'absent' } | { kind: 'revision'; revision: number } | { kind: 'value'; value: string };

type WriteOp =
  | { kind: 'set'; key: string; value: string; ttl?: { text: string; seconds: number }; keepTtl: boolean; condition?: SetCondition }
  | { kind: 'delete'; key: string; ifRevision?: number }
  | { kind: 'incr'; key: string; by: bigint; name: 'incr' | 'decr' };

/** One command, with its revisions resolved. */
type Op =
  | WriteOp
  | { kind: 'get'; keys: string[] }
  | { kind: 'deletePrefix'; prefix: string }
  | { kind: 'list'; prefix?: string }
  /** A line the batch must refuse (exit 2) without stopping. */
  | { kind: 'bad'; line: string; command: string | null };

/** As generated: the same, with revisions named relative to the model. */
type OpSpec =
  | Exclude<Op, { kind: 'set' | 'delete' }>
  | (Omit<Extract<Op, { kind: 'set' }>, 'condition'> & { condition?: SetConditionSpec })
  | { kind: 'delete'; key: string; ifRevision?: RevisionRef };

function resolveOp(spec: OpSpec, model: FrontModel): Op {
  if (spec.kind === 'set' && spec.condition?.kind === 'revision') {
    return { ...spec, condition: { kind: 'revision', revision: resolveRevision(spec.condition.ref, model, spec.key) } };
  }
  if (spec.kind === 'delete') return { ...spec, ifRevision: spec.ifRevision === undefined ? undefined : resolveRevision(spec.ifRevision, model, spec.key) };
  return spec as Op;
}

/** How a word is written on the line: each style says the same word per the contract's grammar. */
type Quoting = 'bare' | 'double' | 'single';

const conditionArb: fc.Arbitrary<SetConditionSpec | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant({ kind: 'absent' as const }) },
  { weight: 2, arbitrary: revisionRefArb.map((ref) => ({ kind: 'revision' as const, ref })) },
  { weight: 1, arbitrary: valueArb.map((value) => ({ kind: 'value' as const, value })) },
);

const opArb: fc.Arbitrary<OpSpec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      key: keyArb,
      value: valueArb,
      expiry: fc.oneof(fc.constant(undefined), fc.constant('keep' as const), ttlArb),
      condition: conditionArb,
    }).map(({ expiry, ...rest }): OpSpec => ({ ...rest, keepTtl: expiry === 'keep', ...(expiry && expiry !== 'keep' ? { ttl: expiry } : {}) })),
  },
  { weight: 4, arbitrary: keyArb.map((key): OpSpec => ({ kind: 'get', keys: [key] })) },
  { weight: 1, arbitrary: fc.array(keyArb, { minLength: 2, maxLength: 4 }).map((keys): OpSpec => ({ kind: 'get', keys })) },
  { weight: 2, arbitrary: fc.record({ key: keyArb, ifRevision: fc.option(revisionRefArb, { nil: undefined }) }).map((o): OpSpec => ({ kind: 'delete', ...o })) },
  { weight: 1, arbitrary: fc.oneof(prefixArb, fc.constant('')).map((prefix): OpSpec => ({ kind: 'deletePrefix', prefix })) },
  { weight: 3, arbitrary: fc.record({ key: keyArb, by: stepArb, name: fc.constantFrom('incr' as const, 'decr' as const) }).map((o): OpSpec => ({ kind: 'incr', ...o })) },
  { weight: 1, arbitrary: fc.option(prefixArb, { nil: undefined }).map((prefix): OpSpec => ({ kind: 'list', prefix })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<OpSpec>(
      { kind: 'bad', line: 'get ""', command: 'get' },
      { kind: 'bad', line: 'frobnicate a', command: null },
      { kind: 'bad', line: 'set a b --ttl 0', command: 'set' },
      { kind: 'bad', line: 'set a b --ttl 1h --keep-ttl', command: 'set' },
      { kind: 'bad', line: 'delete --prefix ""', command: 'delete' },
      { kind: 'bad', line: 'set "open b', command: null },
    ),
  },
);

// ---- words and lines ------------------------------------------------------------------------------------------

/** The command's name, its options and its positional words (one-shot argv and batch lines share them). */
function wordsOf(op: Exclude<Op, { kind: 'bad' }>): { name: string; options: string[]; args: string[] } {
  switch (op.kind) {
    case 'set': {
      const options = op.ttl ? ['--ttl', op.ttl.text] : op.keepTtl ? ['--keep-ttl'] : [];
      const c = op.condition;
      if (c?.kind === 'absent') options.push('--if-absent');
      if (c?.kind === 'revision') options.push('--if-revision', String(c.revision));
      if (c?.kind === 'value') options.push('--if-value', c.value);
      return { name: 'set', options, args: [op.key, op.value] };
    }
    case 'get':
      return { name: 'get', options: [], args: op.keys };
    case 'delete':
      return { name: 'delete', options: op.ifRevision === undefined ? [] : ['--if-revision', String(op.ifRevision)], args: [op.key] };
    case 'deletePrefix':
      return { name: 'delete', options: op.prefix === '' ? ['--all'] : ['--prefix', op.prefix], args: [] };
    case 'incr':
      return { name: op.name, options: [], args: [op.key, String(op.by)] };
    case 'list':
      return { name: 'list', options: [], args: op.prefix === undefined ? [] : [op.prefix] };
  }
}

/** argv: words that start with `-` go after `--`, so they are arguments, not options. */
function argvOf(words: { name: string; options: string[]; args: string[] }): string[] {
  const { name, options, args } = words;
  return [name, ...options, ...(args.some((a) => a.startsWith('-')) ? ['--'] : []), ...args];
}

/** The contract's quoting: `"…"` with \" \\ \n \t escapes, `'…'` verbatim, or bare when nothing needs quoting. */
function quote(word: string, style: Quoting): string {
  const bareOk = word !== '' && !/[\s"'#]/u.test(word);
  if (style === 'bare' && bareOk) return word;
  if (style === 'single' && !/['\n]/.test(word)) return `'${word}'`;
  return `"${word.replace(/[\\"\n\t]/g, (ch) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t' })[ch]!)}"`;
}

/** Aliases and case: the batch must treat `DEL`, `rm` and `delete` alike. */
const SPELLINGS: Record<string, string[]> = { set: ['set', 'SET'], get: ['get', 'Get'], delete: ['delete', 'del', 'rm', 'DELETE'], incr: ['incr', 'INCR'], decr: ['decr'], list: ['list', 'ls'] };

function lineOf(op: Op, style: number): string {
  if (op.kind === 'bad') return op.line;
  const argv = argvOf(wordsOf(op));
  const spellings = SPELLINGS[argv[0]!]!;
  const styles: Quoting[] = ['bare', 'double', 'single'];
  return [spellings[style % spellings.length]!, ...argv.slice(1).map((w, i) => (w.startsWith('--') && !/\s/.test(w) ? w : quote(w, styles[(style + i) % 3]!)))].join(' ');
}

// ---- what the model says ----------------------------------------------------------------------------------------

/** The fields of an entry in get/list answers. */
function entryExpected(model: FrontModel, entry: Entry, window: Window) {
  const { key, value, revision, createRevision, version } = entry;
  return { key, value: value.toString('utf8'), ttl: model.ttlRange(entry, window), revision, createRevision, version };
}

function writeOf(op: WriteOp, window: Window): Write {
  switch (op.kind) {
    case 'set': {
      const c = op.condition;
      const condition = c?.kind === 'value' ? { kind: 'value' as const, value: Buffer.from(c.value) } : c;
      return { op: 'set', key: op.key, value: Buffer.from(op.value), expiresAt: op.ttl ? window.sentMs + op.ttl.seconds * 1000 : null, keepTtl: op.keepTtl, condition };
    }
    case 'delete':
      return { op: 'delete', key: op.key, condition: op.ifRevision === undefined ? undefined : { kind: 'revision', revision: op.ifRevision } };
    case 'incr':
      return { op: 'incr', key: op.key, by: op.name === 'incr' ? op.by : -op.by };
  }
}

/** A write's answer from the model's result (the fields of `--json`, one-shot and batch alike). */
function writeAnswer(command: string, write: Write, result: ModelResult, model: FrontModel, window: Window): { answer: object; code: number } {
  switch (result.status) {
    case 'conflict':
      return { answer: { ok: false, command, key: write.key, error: 'conflict', revision: result.current }, code: 4 };
    case 'missing':
      return { answer: { ok: false, command, key: write.key, error: 'not_found' }, code: 1 };
    case 'invalid':
      return { answer: { ok: false, command, error: 'usage' }, code: 2 };
    case 'applied': {
      if (write.op === 'delete') return { answer: { ok: true, command, key: write.key, revision: result.revision }, code: 0 };
      const after = result.after!; // TTLs of an hour: a write never leaves its key expired here
      const fields = { key: write.key, ttl: model.ttlRange(after, window), revision: after.revision, createRevision: after.createRevision, version: after.version };
      return { answer: { ok: true, command, ...fields, ...(write.op === 'incr' ? { value: after.value.toString() } : {}) }, code: 0 };
    }
  }
}

/**
 * Applies `op` to the model and says what the batch must answer: the JSON object (without `line`) and the exit
 * code it counts for (a missing key and a failed condition are answers in a batch: 0).
 */
function batchAnswer(op: Op, model: FrontModel, window: Window): { answer: object; code: number } {
  switch (op.kind) {
    case 'bad':
      return { answer: { ok: false, command: op.command, error: 'usage' }, code: 2 };
    case 'get': {
      if (op.keys.length === 1) {
        const entry = model.get(op.keys[0]!);
        return { answer: entry ? { ok: true, command: 'get', ...entryExpected(model, entry, window) } : { ok: false, command: 'get', key: op.keys[0], error: 'not_found' }, code: 0 };
      }
      const found = op.keys.map((key) => model.get(key));
      const missing = op.keys.filter((_, i) => !found[i]);
      const entries = found.filter((e): e is Entry => e !== undefined).map((e) => entryExpected(model, e, window));
      return { answer: { ok: missing.length === 0, command: 'get', entries, missing }, code: 0 };
    }
    case 'deletePrefix': {
      const { count, revision } = model.deletePrefix(op.prefix);
      return { answer: { ok: true, command: 'delete', prefix: op.prefix, count, revision }, code: 0 };
    }
    case 'list':
      return { answer: { ok: true, command: 'list', entries: model.list(op.prefix).map((e) => entryExpected(model, e, window)) }, code: 0 };
    case 'set':
    case 'delete':
    case 'incr': {
      const write = writeOf(op, window);
      const { answer, code } = writeAnswer(op.kind === 'incr' ? op.name : op.kind, write, model.apply(write, window), model, window);
      return { answer, code: code === 2 ? 2 : 0 };
    }
  }
}

// ---- the real side ----------------------------------------------------------------------------------------------

/** One sequence's batch process and what it has answered so far. */
class Real {
  readonly db = tempDbPath();
  readonly batch = new BatchSession(['--json'], { TBASE_DB: this.db, TBASE_SERVERS: testServers() });
  /** Input lines sent (each op is one line: the `line` field of its answer). */
  lines = 0;
  private answered = 0;
  /** The exit status the batch owes so far. */
  worst = 0;

  /** Sends the lines at once; their JSON answers (one each) and the time it took. */
  async ask(lines: string[]): Promise<{ answers: Record<string, unknown>[]; window: Window }> {
    const sentMs = Date.now();
    this.batch.send(lines);
    this.lines += lines.length;
    const all = await this.batch.waitForLines(this.answered + lines.length);
    const answers = all.slice(this.answered, this.answered + lines.length).map((l) => JSON.parse(l) as Record<string, unknown>);
    this.answered += lines.length;
    return { answers, window: { sentMs, answeredMs: Date.now() } };
  }
}

type Box = { model: FrontModel };
type BatchCommand = fc.AsyncCommand<Box, Real>;

/** Ops sent as one write (one op: one line, answered before the next; several: a burst the batch groups). */
class SendLines implements BatchCommand {
  private shown: string[] = [];
  constructor(
    private readonly specs: OpSpec[],
    private readonly style: number,
  ) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    // A line's revisions are named from the model as that line will find it: a burst's later lines are resolved
    // on a fork that has seen the earlier ones.
    const planner = box.model.fork();
    const ops = this.specs.map((spec) => {
      const op = resolveOp(spec, planner);
      batchAnswer(op, planner, { sentMs: Date.now(), answeredMs: Date.now() });
      return op;
    });
    const lines = ops.map((op) => lineOf(op, this.style));
    this.shown = lines;
    const first = real.lines + 1;
    const { answers, window } = await real.ask(lines);
    ops.forEach((op, i) => {
      const { answer, code } = batchAnswer(op, box.model, window);
      expectMatch(`line ${first + i}: ${lines[i]}`, answers[i], { ...answer, line: first + i });
      real.worst = Math.max(real.worst, code);
    });
  }
  toString = () => `send(${JSON.stringify(this.shown.length ? this.shown : this.specs)})`;
}

/** Another process writes the same database (one-shot `tbase … --json`): answered like the model says, then seen by the batch. */
class OtherProcessWrites implements BatchCommand {
  private shown: string[] = [];
  constructor(private readonly spec: WriteSpec) {}
  check = () => true;
  async run(box: Box, real: Real): Promise<void> {
    const { model } = box;
    const op = resolveOp(this.spec, model) as WriteOp;
    const argv = argvOf(wordsOf(op));
    this.shown = argv;
    const sentMs = Date.now();
    const r = await runTbase(['--db', real.db, '--servers', testServers(), '--json', ...argv]);
    const window = { sentMs, answeredMs: Date.now() };
    const write = writeOf(op, window);
    const { answer, code } = writeAnswer(op.kind === 'incr' ? op.name : op.kind, write, model.apply(write, window), model, window);
    expectMatch(`one-shot ${JSON.stringify(argv)}`, JSON.parse(r.out), answer);
    expectMatch(`exit status of ${JSON.stringify(argv)} (stderr: ${r.stderr})`, r.code, code);
    // The batch sees it at once: its next read of the key answers the model's state.
    await new SendLines([{ kind: 'get', keys: [op.key] }], 0).run(box, real);
  }
  toString = () => `other process: tbase ${JSON.stringify(this.shown.length ? this.shown : this.spec)}`;
}

type WriteSpec = Extract<OpSpec, { kind: 'set' | 'delete' | 'incr' }>;
const writeOpArb = opArb.filter((op): op is WriteSpec => op.kind === 'set' || op.kind === 'delete' || op.kind === 'incr');

const oneLine = fc.tuple(opArb, fc.nat(5)).map(([op, style]) => new SendLines([op], style));
const burst = fc.tuple(fc.array(opArb, { minLength: 2, maxLength: 6 }), fc.nat(5)).map(([ops, style]) => new SendLines(ops, style));
/** fc.commands picks its arbitraries evenly: repeats weigh them (a one-shot process costs ~0.5 s, a line ~5 ms). */
const commandsArb = fc.commands([oneLine, oneLine, oneLine, burst, burst, writeOpArb.map((op) => new OtherProcessWrites(op))], { maxCommands: 25, size: 'max' });

/** The end of a sequence: the whole state through `list` and `export`, then the batch's exit status. */
async function expectFinalState(model: FrontModel, real: Real): Promise<void> {
  const { answers, window } = await real.ask(['list', 'export']);
  const [list, exported] = answers as [Record<string, unknown>, { document: Record<string, unknown> }];
  expectMatch('final list', list, { ok: true, command: 'list', entries: model.list().map((e) => entryExpected(model, e, window)) });
  const entries = model.list().map(({ key, value, revision, createRevision, version }) => ({ key, value: value.toString('utf8'), revision, createRevision, version }));
  expectMatch('final export', exported.document, { format: 'tenantbase-export', entries, count: entries.length, revision: model.revision });
  const code = await real.batch.end();
  expectMatch(`the batch's exit status (stderr: ${real.batch.err})`, code, real.worst);
}

test('batch mode answers every command as the model does, through the built bin', async () => {
  await checkProperty(
    'model: batch through the built bin',
    fc.asyncProperty(commandsArb, async (commands) => {
      const real = new Real();
      const box = { model: new FrontModel() };
      try {
        await fc.asyncModelRun(() => ({ model: box, real }), commands);
        await expectFinalState(box.model, real);
      } finally {
        real.batch.kill();
      }
    }),
    { runs: 40 },
  );
}, 180_000);
