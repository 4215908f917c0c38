/**
 * Model-based tests of the cache-aside store: random command sequences (fc.commands) run through the real policy
 * over real memcached and each real store, and every answer — values, found or not, conditions met or not (with the
 * revision), counters, the revision fields, the database revision — must equal the reference model's
 * (helpers/model.ts); at the end of each sequence, so must the full state. Keys come from a small alphabet so
 * commands collide, with a few odd ones (a space, a tab, unicode, a key too long for a plain memcached key).
 *
 * Time is a controlled clock (the policy takes `now`): TTLs expire by advancing it, without sleeping.
 * Faults are commands too, on a memcached of this file's own: frozen (SIGSTOP) and thawed, killed and restarted
 * empty, flushed, and another process writing the same database (with its own cache, or with none, leaving its
 * invalidations in the outbox). A cache problem must never change an answer, and no read after a write is stale.
 */
import { CacheAsideStore } from '../../src/store/cache-aside.js';
import { MemcachePool } from '../../src/store/memcache.js';
import type { Condition, Entry, Write, WriteResult } from '../../src/store/writes.js';
import { FaultyMemcached, type MemcachedState } from '../helpers/memcached-faults.js';
import { TbaseModel, type ModelResult } from '../helpers/model.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { storeKinds, type StoreKind } from '../helpers/stores.js';

/** Short, so a frozen memcached costs a command little; the breaker then skips it for RETRY_MS. */
const TIMEOUT_MS = 100;
const RETRY_MS = 100;
const RUNS = { sqlite: 60, postgres: 25 };
const MAX_COMMANDS = 30;

const LONG_KEY = 'k'.repeat(300); // hashed as a memcached key (over 250 bytes)
const COMMON_KEYS = ['a', 'b', 'ab'];
/** Unicode whose UTF-16 order differs from UTF-8 byte order (Ａ is U+FF21, 𝄞 U+1D11E), and the last code point. */
const ODD_KEYS = ['a b', 'tab\tkey', 'ü', '日本語', 'Ａ', '𝄞x', '\u{10FFFF}z', LONG_KEY];
const ALL_KEYS = [...COMMON_KEYS, ...ODD_KEYS];
const PREFIXES = ['a', 'ab', 'ü', 'z', ' ', '𝄞', '\u{10FFFF}'];
const MAX_INT64 = 2n ** 63n - 1n;
/** Too big for memcached (served from the store), used rarely. */
const BIG_VALUE = Buffer.alloc(1_100_000, 0x62);

interface Clock {
  now: number;
}

/** What fast-check's commands see: the reference model, plus what the faults did to memcached. */
interface World {
  db: TbaseModel;
  memcached: MemcachedState;
}

interface Real {
  kind: StoreKind;
  clock: Clock;
  policy: CacheAsideStore;
  /** Another process on the same database: with its own pool on the same memcached, or with --no-cache. */
  other: Partial<Record<'cached' | 'uncached', CacheAsideStore>>;
}

let memcached: FaultyMemcached;
const seen = { cacheHits: 0, cacheFaults: 0, faults: 0, commands: 0 };

beforeAll(async () => {
  memcached = await FaultyMemcached.start();
});
afterAll(async () => {
  await memcached?.stop();
});

function policyOn(store: CacheAsideStore['store'], clock: Clock, cached: boolean): CacheAsideStore {
  const cache = cached ? new MemcachePool([memcached.address], { timeoutMs: TIMEOUT_MS, retryAfterMs: RETRY_MS }) : null;
  // Tombstones of 1 s (0-1 s in memcached) instead of 3: a sequence lasts about a second, and a key must be cached
  // again after its writes for a stale copy to have a chance to show.
  return new CacheAsideStore(store, cache, { now: () => clock.now, onCacheFault: () => seen.cacheFaults++, tombstoneTtlSeconds: 1 });
}

// ---- what the model and the store answered, in one comparable shape ----

function shownValue(value: Buffer): string {
  if (value === BIG_VALUE || value.equals(BIG_VALUE)) return '<BIG_VALUE>';
  const text = value.toString('utf8');
  return Buffer.from(text, 'utf8').equals(value) ? text : `hex:${value.toString('hex')}`;
}

function entryView(entry: Entry | undefined, withValue = true) {
  if (!entry) return undefined;
  const { key, value, expiresAt, revision, createRevision, version } = entry;
  return { key, value: withValue ? shownValue(value) : '', expiresAt, revision, createRevision, version };
}

function realView(result: WriteResult) {
  switch (result.status) {
    case 'applied':
      return { status: result.status, revision: result.revision, existed: result.existed, after: entryView(result.after) };
    case 'missing':
      return { status: result.status };
    case 'conflict':
      return { status: result.status, current: result.current };
    case 'invalid':
      return { status: result.status, reason: /overflow/.test(result.error.message) ? 'overflow' : 'not-a-counter' };
  }
}

function modelView(result: ModelResult) {
  return result.status === 'applied' ? { ...result, after: entryView(result.after) } : result;
}

// ---- writes as generated (some refer to the model's state, resolved when the command runs) ----

type ConditionSpec = Condition | { kind: 'revision'; revision: 'current' };
type WriteSpec =
  | { op: 'set'; key: string; value: Buffer; ttlSeconds: number | null | 'passed'; keepTtl: boolean; condition?: ConditionSpec }
  | { op: 'delete'; key: string; condition?: ConditionSpec }
  | { op: 'incr'; key: string; by: bigint };

function resolve(spec: WriteSpec, world: World, now: number): Write {
  const condition = (c: ConditionSpec | undefined): Condition | undefined =>
    c?.kind === 'revision' && c.revision === 'current' ? { kind: 'revision', revision: world.db.get(spec.key)?.revision ?? 0 } : (c as Condition | undefined);
  switch (spec.op) {
    case 'set': {
      const expiresAt = spec.ttlSeconds === null ? null : spec.ttlSeconds === 'passed' ? now : now + spec.ttlSeconds * 1000;
      return { op: 'set', key: spec.key, value: spec.value, expiresAt, keepTtl: spec.keepTtl, condition: condition(spec.condition) };
    }
    case 'delete':
      return { op: 'delete', key: spec.key, condition: condition(spec.condition) };
    case 'incr':
      return spec;
  }
}

function describeWrite(spec: WriteSpec): string {
  const cond = 'condition' in spec && spec.condition ? ` if ${spec.condition.kind}=${'revision' in spec.condition ? spec.condition.revision : 'value' in spec.condition ? shownValue(spec.condition.value) : ''}` : '';
  switch (spec.op) {
    case 'set':
      return `set ${JSON.stringify(spec.key)} ${JSON.stringify(shownValue(spec.value))}${spec.ttlSeconds === null ? '' : ` ttl=${spec.ttlSeconds}`}${spec.keepTtl ? ' keep-ttl' : ''}${cond}`;
    case 'delete':
      return `delete ${JSON.stringify(spec.key)}${cond}`;
    case 'incr':
      return `incr ${JSON.stringify(spec.key)} ${spec.by}`;
  }
}

const weighted = <T>(...parts: [number, fc.Arbitrary<T>][]) => fc.oneof(...parts.map(([weight, arbitrary]) => ({ weight, arbitrary })));

const keyArb = weighted([8, fc.constantFrom(...COMMON_KEYS)], [2, fc.constantFrom(...ODD_KEYS)]);
const valueArb = weighted(
  [8, fc.constantFrom('v1', 'v2', '', '5', '-3', 'abc').map((v) => Buffer.from(v))],
  [2, fc.constantFrom('9223372036854775807', '-9223372036854775808', '+7', '007', 'ü').map((v) => Buffer.from(v))],
  [1, fc.constantFrom(Buffer.from([0xff, 0x00, 0xfe]))],
  [1, weighted([19, fc.constant(Buffer.from('v3'))], [1, fc.constant(BIG_VALUE)])],
);
const revisionConditionArb: fc.Arbitrary<ConditionSpec> = weighted<ConditionSpec>(
  [3, fc.constant({ kind: 'revision' as const, revision: 'current' as const })],
  [1, fc.integer({ min: 0, max: 8 }).map((revision) => ({ kind: 'revision' as const, revision }))],
);
const setConditionArb: fc.Arbitrary<ConditionSpec | undefined> = weighted<ConditionSpec | undefined>(
  [8, fc.constant(undefined)],
  [1, fc.constant({ kind: 'absent' as const })],
  [1, fc.constant({ kind: 'present' as const })],
  [3, revisionConditionArb],
  [2, valueArb.map((value) => ({ kind: 'value' as const, value }))],
);
const writeArb: fc.Arbitrary<WriteSpec> = weighted<WriteSpec>(
  [6, fc.record({
    op: fc.constant('set' as const),
    key: keyArb,
    value: valueArb,
    ttlSeconds: weighted<number | null | 'passed'>([6, fc.constant(null)], [3, fc.constantFrom(1, 2, 5)], [1, fc.constant('passed' as const)]),
    keepTtl: weighted([4, fc.constant(false)], [1, fc.constant(true)]),
    condition: setConditionArb,
  })],
  [3, fc.record({
    op: fc.constant('incr' as const),
    key: keyArb,
    by: weighted([8, fc.constantFrom(1n, -1n, 2n, 10n, -5n)], [2, fc.constantFrom(MAX_INT64, -MAX_INT64 - 1n, 2n ** 62n, -(2n ** 62n))]),
  })],
  [3, fc.record({ op: fc.constant('delete' as const), key: keyArb, condition: weighted([3, fc.constant(undefined)], [2, revisionConditionArb]) })],
);

// ---- the commands ----

type Step = fc.AsyncCommand<World, Real, false>;

/** One command: `run` compares its own answers; afterwards the database revision must be the model's. */
function step(label: string, run: (world: World, real: Real) => Promise<void>, allowed: (world: World) => boolean = () => true): Step {
  return {
    check: allowed,
    async run(world, real) {
      seen.commands++;
      await run(world, real);
      expect(await real.policy.store.revision()).toBe(world.db.revision);
    },
    toString: () => label,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** After memcached comes back, the breaker tries it again once its pause is over: then the next command uses it. */
const pastBreaker = () => sleep(RETRY_MS + 20);

async function compareRead(world: World, real: Real, keys: string[], reader: CacheAsideStore = real.policy): Promise<void> {
  const lookups = await reader.getMany(keys);
  seen.cacheHits += lookups.filter((lookup) => lookup.source === 'cache').length;
  const expected = world.db.getMany(keys);
  expect(lookups.map((lookup) => entryView(lookup.entry))).toEqual(keys.map((key) => entryView(expected.get(key))));
}

async function compareList(world: World, real: Real, prefix: string, limit?: number, keysOnly = false): Promise<void> {
  const listed: Entry[] = [];
  for await (const entry of real.policy.list(prefix, limit, { keysOnly })) listed.push(entry);
  const expected = world.db.list(prefix).slice(0, limit);
  expect(listed.map((entry) => entryView(entry, !keysOnly))).toEqual(expected.map((entry) => entryView(entry, !keysOnly)));
}

async function otherProcess(real: Real, cached: boolean): Promise<CacheAsideStore> {
  const name = cached ? 'cached' : 'uncached';
  return (real.other[name] ??= policyOn(await real.kind.openAgain(real.policy.store), real.clock, cached));
}

const commandArb: fc.Arbitrary<Step> = weighted<Step>(
  [8, writeArb.map((spec) => step(describeWrite(spec), async (world, real) => {
    const write = resolve(spec, world, real.clock.now);
    const [result] = await real.policy.write([write]);
    expect(realView(result!)).toEqual(modelView(world.db.apply(write)));
  }))],
  [2, fc.array(writeArb, { minLength: 2, maxLength: 5 }).map((specs) => step(`one transaction [${specs.map(describeWrite).join('; ')}]`, async (world, real) => {
    // "The current revision" is the key's before the transaction: a later write on the same key then conflicts.
    const writes = specs.map((spec) => resolve(spec, world, real.clock.now));
    const expected = world.db.applyAll(writes);
    const results = await real.policy.write(writes);
    expect(results.map(realView)).toEqual(expected.map(modelView));
  }))],
  [14, keyArb.map((key) => step(`get ${JSON.stringify(key)}`, (world, real) => compareRead(world, real, [key])))],
  [3, fc.constant(step('get every key', (world, real) => compareRead(world, real, ALL_KEYS)))],
  [2, fc.array(keyArb, { minLength: 1, maxLength: 4 }).map((keys) => step(`get ${keys.map((k) => JSON.stringify(k)).join(' ')}`, (world, real) => compareRead(world, real, keys)))],
  [1, fc.constantFrom(...PREFIXES).map((prefix) => step(`delete --prefix ${JSON.stringify(prefix)}`, async (world, real) => {
    expect(await real.policy.deletePrefix(prefix)).toEqual(world.db.deletePrefix(prefix));
  }))],
  [1, fc.constant(step('delete --all', async (world, real) => {
    expect(await real.policy.deletePrefix('')).toEqual(world.db.deletePrefix(''));
  }))],
  [2, fc.record({ prefix: fc.constantFrom('', ...PREFIXES), limit: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }), keysOnly: fc.boolean() }).map(({ prefix, limit, keysOnly }) =>
    step(`list ${JSON.stringify(prefix)}${limit === undefined ? '' : ` --limit ${limit}`}${keysOnly ? ' --keys-only' : ''}`, (world, real) => compareList(world, real, prefix, limit, keysOnly)))],
  [4, fc.constantFrom(400, 1000, 1999, 2000, 5000).map((ms) => step(`clock +${ms} ms`, async (_world, real) => {
    real.clock.now += ms;
  }))],
  [1, fc.constant(step('expire due (a watcher\'s sweep)', async (world, real) => {
    expect(await real.policy.store.expireDue(real.clock.now)).toBe(world.db.expireDue());
  }))],
  // Faults.
  [1, fc.constant(step('memcached frozen (SIGSTOP)', async (world) => {
    seen.faults++;
    memcached.pause();
    world.memcached = 'paused';
  }, (world) => world.memcached === 'up'))],
  [2, fc.constant(step('memcached thawed (SIGCONT)', async (world) => {
    memcached.resume();
    world.memcached = 'up';
    await pastBreaker();
  }, (world) => world.memcached === 'paused'))],
  [1, fc.constant(step('memcached killed', async (world) => {
    seen.faults++;
    await memcached.kill();
    world.memcached = 'dead';
  }, (world) => world.memcached !== 'dead'))],
  [2, fc.constant(step('memcached restarted (empty)', async (world) => {
    await memcached.restart();
    world.memcached = 'up';
    await pastBreaker();
  }, (world) => world.memcached === 'dead'))],
  [2, fc.constant(step('memcached flush_all', async () => {
    seen.faults++;
    await memcached.flush();
  }, (world) => world.memcached === 'up'))],
  [3, fc.record({ spec: writeArb, cached: fc.boolean() }).map(({ spec, cached }) =>
    step(`another process${cached ? '' : ' (--no-cache)'}: ${describeWrite(spec)}`, async (world, real) => {
      seen.faults++;
      const other = await otherProcess(real, cached);
      const write = resolve(spec, world, real.clock.now);
      const [result] = await other.write([write]);
      expect(realView(result!)).toEqual(modelView(world.db.apply(write)));
    }))],
  [2, fc.array(keyArb, { minLength: 1, maxLength: 3 }).map((keys) =>
    step(`another process: get ${keys.map((k) => JSON.stringify(k)).join(' ')}`, async (world, real) => {
      await compareRead(world, real, keys, await otherProcess(real, true));
    }))],
);

/** After the sequence: memcached healthy again, every key read (twice: the second may be a copy) and listed. */
async function compareEverything(world: World, real: Real): Promise<void> {
  await memcached.heal();
  world.memcached = 'up';
  await pastBreaker();
  for (let round = 0; round < 2; round++) await compareRead(world, real, ALL_KEYS);
  await compareList(world, real, '');
  expect(await real.policy.store.revision()).toBe(world.db.revision);
}

describe.each(storeKinds())('the cache-aside store against the model (%s)', (kind) => {
  test('random command sequences with cache faults answer as the model does', async () => {
    const before = { ...seen };
    await checkProperty(
      `model-store: cache-aside over ${kind.name}`,
      fc.asyncProperty(fc.commands([commandArb], { maxCommands: MAX_COMMANDS, size: 'max' }), async (commands) => {
        const clock: Clock = { now: Date.now() };
        const real: Real = { kind, clock, policy: policyOn(await kind.open(), clock, true), other: {} };
        const world: World = { db: new TbaseModel(() => clock.now), memcached: memcached.state };
        try {
          await fc.asyncModelRun(() => ({ model: world, real }), commands);
          await compareEverything(world, real);
        } finally {
          await memcached.heal();
          for (const policy of [real.policy, ...Object.values(real.other)]) await policy.close();
        }
      }),
      { runs: RUNS[kind.name] },
    );
    // The sequences really used the cache and really broke it.
    expect(seen.cacheHits).toBeGreaterThan(before.cacheHits);
    expect(seen.cacheFaults).toBeGreaterThan(before.cacheFaults);
    expect(seen.faults).toBeGreaterThan(before.faults);
  }, 120_000);
});
