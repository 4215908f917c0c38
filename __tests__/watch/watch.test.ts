/**
 * `tbase watch` end to end: the built bin, real memcached and SQLite, real processes writing while others watch.
 * The truth each watcher is held to is what the writers were told: every write's `--json` answer carries its
 * revision (a prefix delete and an import too), and replaying those answers in revision order gives every change
 * of every revision. A watcher must print exactly the changes of the keys it watches from where it started: each
 * once, in revision order (key order within a revision), nothing missing, nothing extra. Everything it waits for
 * is waited for by what was printed, with a deadline; every process is killed after each test.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BatchSession } from '../helpers/batch-session.js';
import { BIN, runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import {
  byKeyBytes,
  firstDifference,
  jsonCommand,
  killWatchers,
  listEscape,
  seededRandom,
  sleep,
  Watcher,
  type WatchEvent,
} from '../helpers/watchers.js';

const batches: BatchSession[] = [];

afterEach(async () => {
  for (const batch of batches.splice(0)) batch.kill();
  await killWatchers();
});
afterAll(removeTempDirs);

function database(extra: Record<string, string> = {}) {
  const db = tempDbPath();
  return { db, env: { TBASE_DB: db, TBASE_SERVERS: testServers(), ...extra } };
}

// ---------------------------------------------------------------------------------------------------------------
// The truth: writes as their answers describe them, replayed into the changes of each revision.

type Write =
  | { kind: 'put'; key: string; value: Buffer; revision: number; createRevision: number; version: number; from: string }
  | { kind: 'delete'; key: string; revision: number; from: string }
  | { kind: 'deletePrefix'; prefix: string; count: number; revision: number; from: string }
  | { kind: 'import'; entries: { key: string; value: Buffer }[]; revision: number; from: string };

interface Change {
  type: 'put' | 'delete';
  key: string;
  value?: Buffer;
  revision: number;
  createRevision?: number;
  version?: number;
}

/**
 * Replays the writes in revision order. Checks on the way what the contract says of revisions themselves (one per
 * write, gap-free from 1) and that each put's answer agrees with the replay (createRevision, version), so that a
 * watcher is compared with a truth that is itself consistent. Returns the changes, in revision then key order.
 */
function replay(writes: Write[]): { changes: Change[]; problems: string[] } {
  const problems: string[] = [];
  const sorted = [...writes].sort((a, b) => a.revision - b.revision);
  sorted.forEach((write, i) => {
    if (write.revision !== i + 1) problems.push(`revision ${i + 1} expected, the next write (${write.from}) has ${write.revision}`);
  });
  const state = new Map<string, { createRevision: number; version: number }>();
  const changes: Change[] = [];
  const put = (key: string, value: Buffer, revision: number) => {
    const before = state.get(key);
    const life = before ? { createRevision: before.createRevision, version: before.version + 1 } : { createRevision: revision, version: 1 };
    state.set(key, life);
    changes.push({ type: 'put', key, value, revision, ...life });
    return life;
  };
  const remove = (key: string, revision: number) => {
    state.delete(key);
    changes.push({ type: 'delete', key, revision });
  };
  for (const write of sorted) {
    switch (write.kind) {
      case 'put': {
        const life = put(write.key, write.value, write.revision);
        if (life.createRevision !== write.createRevision || life.version !== write.version) {
          problems.push(`${write.from}: answered createRevision ${write.createRevision} version ${write.version}, replay says ${life.createRevision}/${life.version}`);
        }
        break;
      }
      case 'delete':
        if (!state.has(write.key)) problems.push(`${write.from}: deleted ${write.key}, which the replay says was absent`);
        remove(write.key, write.revision);
        break;
      case 'deletePrefix': {
        const keys = [...state.keys()].filter((key) => key.startsWith(write.prefix)).sort(byKeyBytes);
        if (keys.length !== write.count) problems.push(`${write.from}: answered count ${write.count}, replay says ${keys.length}`);
        for (const key of keys) remove(key, write.revision);
        break;
      }
      case 'import':
        for (const entry of [...write.entries].sort((a, b) => byKeyBytes(a.key, b.key))) put(entry.key, entry.value, write.revision);
        break;
    }
  }
  return { changes, problems };
}

const isUtf8 = (value: Buffer) => Buffer.from(value.toString('utf8'), 'utf8').equals(value);

/** A change as `watch --json` prints it (no TTLs in these writes: ttl null). */
function asJson(change: Change): WatchEvent {
  if (change.type === 'delete') return { type: 'delete', key: change.key, revision: change.revision };
  const value = isUtf8(change.value!) ? { value: change.value!.toString('utf8') } : { value: change.value!.toString('base64'), encoding: 'base64' as const };
  return { type: 'put', key: change.key, ...value, ttl: null, revision: change.revision, createRevision: change.createRevision!, version: change.version! };
}

/** A change as plain `watch` prints it. */
function asLine(change: Change): string {
  return change.type === 'put' ? `PUT\t${listEscape(change.key)}\t${listEscape(change.value!)}` : `DELETE\t${listEscape(change.key)}`;
}

/** Quotes a word for the batch grammar (double quotes: \\ \" \n \t escape). */
function quote(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

/** The write a one-shot `--json` answer describes (null when nothing changed). */
function writeOf(body: Record<string, unknown>, from: string, value?: Buffer, entries?: { key: string; value: Buffer }[]): Write | null {
  if (body.ok !== true) return null;
  const revision = body.revision as number;
  if (body.command === 'import') {
    expect(body.count).toBe(entries!.length);
    return { kind: 'import', entries: entries!, revision, from };
  }
  if (body.command === 'set') return { kind: 'put', key: body.key as string, value: value!, revision, createRevision: body.createRevision as number, version: body.version as number, from };
  if (body.command === 'incr' || body.command === 'decr') {
    return { kind: 'put', key: body.key as string, value: Buffer.from(body.value as string), revision, createRevision: body.createRevision as number, version: body.version as number, from };
  }
  if (body.command === 'delete' && typeof body.prefix === 'string') {
    return (body.count as number) > 0 ? { kind: 'deletePrefix', prefix: body.prefix, count: body.count as number, revision, from } : null;
  }
  if (body.command === 'delete') return { kind: 'delete', key: body.key as string, revision, from };
  throw new Error(`no write for ${JSON.stringify(body)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Writers: long-running batch processes with a seeded random mix of writes, paced so that they overlap.

const JOB_KEYS = ['job:a', 'job:b', 'job:c', 'job:d', 'job:with space', 'job:ключ'];
const X_KEYS = ['job:x1', 'job:x2', 'job:x3', 'job:x4'];
const COUNTERS = ['job:n1', 'job:n2'];
const OTHER_KEYS = ['other:1', 'other:2', 'other:3'];
const ODD_VALUES = ['tab\there', 'two\nlines', 'back\\slash', 'quote"d', 'unicode é 😀 \uFFFD', ''];

interface Planned {
  line: string;
  value?: Buffer;
}

function planner(writer: number, random: () => number) {
  let n = 0;
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  const value = () => {
    n++;
    return random() < 0.1 ? `w${writer}-${n} ${pick(ODD_VALUES)}` : `w${writer}-${n}`;
  };
  return (): Planned => {
    const roll = random();
    if (roll < 0.3) {
      const v = value();
      return { line: `set ${quote(pick(JOB_KEYS))} ${quote(v)}`, value: Buffer.from(v) };
    }
    if (roll < 0.45) {
      const v = value();
      return { line: `set ${quote(pick(X_KEYS))} ${quote(v)}`, value: Buffer.from(v) };
    }
    if (roll < 0.5) {
      // A condition that usually fails: an answer, and no revision, so no event.
      const v = value();
      return { line: `set ${quote(pick(JOB_KEYS))} ${quote(v)} --if-absent`, value: Buffer.from(v) };
    }
    if (roll < 0.58) return { line: `delete ${quote(pick([...JOB_KEYS, ...X_KEYS]))}` };
    if (roll < 0.72) return { line: `${pick(['incr', 'decr'])} ${pick(COUNTERS)} ${1 + Math.floor(random() * 5)}` };
    if (roll < 0.75) return { line: `delete ${pick(COUNTERS)}` };
    if (roll < 0.92) {
      const v = value();
      return { line: `set ${pick(OTHER_KEYS)} ${quote(v)}`, value: Buffer.from(v) };
    }
    return { line: `delete ${pick(OTHER_KEYS)}` };
  };
}

class Writer {
  readonly session: BatchSession;
  readonly sent: Planned[] = [];
  private readonly next: () => Planned;

  constructor(
    readonly id: number,
    env: Record<string, string>,
    seed: number,
  ) {
    this.session = new BatchSession(['--json'], env);
    batches.push(this.session);
    this.next = planner(id, seededRandom(seed));
  }

  /** Sends chunks of commands, each after the answers to the last, until `stop()` says so (and at least `min`). */
  async run(stop: () => boolean, min: number, random: () => number): Promise<void> {
    for (let round = 0; round < min || !stop(); round++) {
      const chunk = Array.from({ length: 1 + Math.floor(random() * 6) }, () => this.next());
      this.sent.push(...chunk);
      this.session.send(chunk.map((planned) => planned.line));
      await this.session.waitForLines(this.sent.length);
      await sleep(5 + Math.floor(random() * 30));
    }
  }

  /** The writes its answers describe; fails on an answer that is neither a success nor an expected refusal. */
  writes(): Write[] {
    const answers = this.session.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(answers).toHaveLength(this.sent.length);
    const writes: Write[] = [];
    answers.forEach((answer, i) => {
      const from = `writer ${this.id} line ${i + 1} (${this.sent[i]!.line})`;
      expect(answer.line).toBe(i + 1);
      if (answer.ok !== true) {
        // A missing key's delete and a failed --if-absent are answers that change nothing; nothing else may fail.
        const expected = this.sent[i]!.line.startsWith('delete ') ? 'not_found' : this.sent[i]!.line.endsWith('--if-absent') ? 'conflict' : 'no failure';
        expect(`${from}: ${String(answer.error)}`).toBe(`${from}: ${expected}`);
        return;
      }
      const write = writeOf(answer, from, this.sent[i]!.value);
      if (write) writes.push(write);
    });
    return writes;
  }
}

// ---------------------------------------------------------------------------------------------------------------

describe('many writers, several watchers', () => {
  test('every change of the watched keys, exactly once, in revision order; a restarted watcher resumes without loss', async () => {
    const started = Date.now();
    const seed = Number(process.env.TBASE_WATCH_SEED ?? Date.now() % 100000);
    const { env } = database();
    const writes: Write[] = [];
    let oneShots = 0;
    let importEntries: { key: string; value: Buffer }[] = [];
    const oneShot = async (args: string[], value?: Buffer, stdin?: Buffer) => {
      oneShots++;
      const { code, body, stderr } = await jsonCommand(args, env, { stdin });
      if (code !== 0) throw new Error(`tbase ${args.join(' ')} exited ${code}: ${stderr}`);
      const write = writeOf(body, `one-shot ${args.join(' ')}`, value, importEntries);
      if (write) writes.push(write);
      return body;
    };
    const set = (key: string, value: string) => oneShot(['set', key, value], Buffer.from(value));

    // An import document made the way users make one: `export` from another database.
    const scratch = database();
    await runTbase(['set', 'job:imp:é', 'accent'], { env: scratch.env });
    await runTbase(['set', 'job:imp:\uFFFD', 'replacement'], { env: scratch.env }); // U+FFFD sorts before 😀 in UTF-8, after it in UTF-16
    await runTbase(['set', 'job:imp:😀', 'smile'], { env: scratch.env });
    await runTbase(['set', 'job:imp:bin', '-'], { env: scratch.env, stdin: Buffer.from([0xc3, 0x28, 0x00, 0x0a]) });
    await runTbase(['set', 'job:x3', 'imported x3'], { env: scratch.env });
    await runTbase(['set', 'job:a', 'imported a'], { env: scratch.env });
    await runTbase(['set', 'other:imp', 'imported other'], { env: scratch.env });
    const exported = await runTbase(['export'], { env: scratch.env });
    expect(exported.code).toBe(0);
    const importFile = join(tempDir(), 'import.json');
    writeFileSync(importFile, exported.stdout);
    importEntries = (JSON.parse(readFileSync(importFile, 'utf8')) as { entries: { key: string; value: string; encoding?: string }[] }).entries.map((entry) => ({
      key: entry.key,
      value: Buffer.from(entry.value, entry.encoding === 'base64' ? 'base64' : 'utf8'),
    }));
    expect(importEntries).toHaveLength(7);

    // The watchers, all started "from now".
    const whole = new Watcher(['watch', '--prefix', 'job:', '--json'], env); // never interrupted
    let restarted = new Watcher(['watch', '--prefix', 'job:', '--json'], env); // stopped mid-run, then resumed
    const single = new Watcher(['watch', 'job:a'], env); // one key, plain lines
    const everything = new Watcher(['watch', '--prefix', ''], env); // every key, plain lines

    // They print nothing until something changes, so "started" is learnt by writing a marker until each shows it.
    // The markers are writes like any other; each watcher is then held to everything from its first event on.
    const markerRevision = new Map<string, number>();
    const shows = (watcher: Watcher, value: string) =>
      watcher.args.includes('--json') ? watcher.events.some((event) => event.key === 'job:a' && event.value === value) : watcher.lines.includes(`PUT\tjob:a\t${value}`);
    const markAll = async (label: string, watchers: Watcher[]) => {
      for (let n = 1; ; n++) {
        const value = `${label}-${n}`;
        const answer = await set('job:a', value);
        markerRevision.set(value, answer.revision as number);
        const deadline = Date.now() + 1500;
        while (Date.now() < deadline && !watchers.every((watcher) => shows(watcher, value))) await sleep(20);
        if (watchers.every((watcher) => shows(watcher, value))) return;
        if (n === 20) throw new Error(`watchers never all showed a ${label} marker: ${watchers.map((w) => `${w.args.join(' ')}: ${w.stderr}`).join('; ')}`);
      }
    };
    await markAll('ready', [whole, restarted, single, everything]);

    // Three batch writers run until the conductor below is done, with one-shot writes in between.
    const writers = [1, 2, 3].map((id) => new Writer(id, env, seed * 10 + id));
    let conducted = false;
    const pace = seededRandom(seed);
    const writing = Promise.all(writers.map((writer) => writer.run(() => conducted, 40, pace)));

    let firstRun: WatchEvent[] = [];
    let resumedFrom = 0;
    const conductor = (async () => {
      await sleep(300);
      await set('job:b', 'carriage\rreturn\r\n'); // \r only reaches a value through argv
      await sleep(150);
      await oneShot(['set', 'job:a', '-'], Buffer.from([0x41, 0xff, 0x00, 0x0d, 0x5c, 0x0a]), Buffer.from([0x41, 0xff, 0x00, 0x0d, 0x5c, 0x0a])); // not UTF-8
      await sleep(150);
      await set('job:x1', 'before the prefix delete');
      await set('job:x2', 'before the prefix delete');
      await oneShot(['delete', '--prefix', 'job:x']);
      await sleep(200);
      // Stop one watcher mid-run; the writers go on while it is gone.
      const stopped = await restarted.stop('SIGTERM');
      expect(stopped).toMatchObject({ code: 0, signal: null });
      expect(restarted.stderr).toBe('');
      firstRun = restarted.events;
      resumedFrom = firstRun.at(-1)!.revision + 1;
      await sleep(100);
      await oneShot(['import', importFile]);
      await sleep(300);
      restarted = new Watcher(['watch', '--prefix', 'job:', '--from-revision', String(resumedFrom), '--json'], env);
      await sleep(300);
      await set('job:x4', 'before the second prefix delete');
      await oneShot(['delete', '--prefix', 'job:x']);
      await sleep(200);
      await set('other:cr', 'line\r');
      await set('job:a', 'from a one-shot');
      await sleep(300);
    })();
    try {
      await conductor;
    } finally {
      conducted = true;
    }
    await writing;
    for (const writer of writers) {
      expect(await writer.session.end()).toBe(0);
      expect(writer.session.err).toBe('');
      writes.push(...writer.writes());
    }
    // A last marker, then every watcher has shown everything; then they stop.
    await markAll('end', [whole, restarted, single, everything]);
    for (const watcher of [whole, restarted, single, everything]) {
      expect(await watcher.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
      expect(watcher.stderr).toBe('');
    }

    // The truth.
    const { changes, problems } = replay(writes);
    expect(problems).toEqual([]);
    const revisions = writes.length;
    const from = (start: number, selected: (key: string) => boolean) => changes.filter((change) => change.revision >= start && selected(change.key));
    const plainStart = (watcher: Watcher) => {
      const first = /^PUT\tjob:a\t(ready-\d+)$/.exec(watcher.lines[0] ?? '');
      expect(first).not.toBeNull(); // a watcher started "from now" shows nothing older than the first marker
      return markerRevision.get(first![1]!)!;
    };

    const wholeStart = whole.events[0]!.revision;
    expect([...markerRevision.values()]).toContain(wholeStart);
    const wholeDiff = firstDifference(whole.events, from(wholeStart, (key) => key.startsWith('job:')).map(asJson));
    expect(wholeDiff).toBeNull();

    const firstStart = firstRun[0]!.revision;
    expect([...markerRevision.values()]).toContain(firstStart);
    expect(firstDifference(firstRun, from(firstStart, (key) => key.startsWith('job:')).filter((c) => c.revision < resumedFrom).map(asJson))).toBeNull();
    expect(restarted.events[0]!.revision).toBeGreaterThanOrEqual(resumedFrom);
    expect(firstDifference(restarted.events, from(resumedFrom, (key) => key.startsWith('job:')).map(asJson))).toBeNull();
    // The two runs of the restarted watcher together are the uninterrupted one's events (from where both watched).
    const common = Math.max(wholeStart, firstStart);
    expect(firstDifference([...firstRun, ...restarted.events].filter((e) => e.revision >= common), whole.events.filter((e) => e.revision >= common))).toBeNull();

    const singleStart = plainStart(single);
    expect(firstDifference(single.lines, from(singleStart, (key) => key === 'job:a').map(asLine))).toBeNull();
    const everythingStart = plainStart(everything);
    expect(firstDifference(everything.lines, from(everythingStart, () => true).map(asLine))).toBeNull();

    // The mix really had what the test is about.
    const multiKey = writes.filter((w) => w.kind === 'deletePrefix' || w.kind === 'import');
    expect(multiKey).toHaveLength(3);
    expect(whole.events.some((e) => e.encoding === 'base64')).toBe(true);
    expect(single.lines).toContain('PUT\tjob:a\tA\\xff\\x00\\r\\\\\\n');
    const stats = await runTbase(['stats'], { env });
    expect(stats.out).toContain(`revision\t${revisions}\n`);

    const commands = writers.reduce((sum, writer) => sum + writer.sent.length, 0);
    console.log(
      [
        `watch under load (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s):`,
        `  writers: ${writers.length} batch processes (${commands} commands, ${writers.map((w) => w.sent.length).join('/')}), ${oneShots} one-shot writes`,
        `  revisions: ${revisions} (${changes.length} changes; prefix deletes of ${multiKey.filter((w) => w.kind === 'deletePrefix').map((w) => (w.kind === 'deletePrefix' ? w.count : 0)).join(' and ')} keys, import of ${importEntries.length})`,
        `  watch --prefix job: --json: ${whole.events.length} events from revision ${wholeStart}`,
        `  same, restarted: ${firstRun.length} events (revisions ${firstStart}–${resumedFrom - 1}) + ${restarted.events.length} (from ${resumedFrom})`,
        `  watch job:a: ${single.lines.length} lines from revision ${singleStart}`,
        `  watch --prefix '': ${everything.lines.length} lines from revision ${everythingStart}`,
      ].join('\n'),
    );
  }, 180000);
});

// ---------------------------------------------------------------------------------------------------------------

describe('history retention', () => {
  test('TBASE_HISTORY_REVISIONS=20: an older --from-revision exits 4 naming the oldest kept; from that one it streams', async () => {
    const { env } = database({ TBASE_HISTORY_REVISIONS: '20' });
    const writer = new BatchSession(['--json'], env);
    batches.push(writer);
    // One line at a time, each its own transaction: a transaction never drops the changes of the revisions it
    // started after (a watcher caught up with its start must find them all), so trimming follows the writes.
    for (let i = 0; i < 100; i++) {
      writer.send([`set k${i % 7} v${i + 1}`]);
      await writer.waitForLines(i + 1);
    }
    expect(await writer.end()).toBe(0);
    const answers = writer.lines.map((line) => JSON.parse(line) as { key: string; revision: number });
    expect(answers.map((a) => a.revision)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const last = 100;

    const tooOld = await runTbase(['watch', '--prefix', '', '--from-revision', '1'], { env, timeoutMs: 10000 });
    expect(tooOld.code).toBe(4);
    expect(tooOld.out).toBe('');
    const match = /^tbase: revision 1 is no longer in the history; the oldest kept is (\d+)\n$/.exec(tooOld.stderr);
    expect(match).not.toBeNull();
    const oldest = Number(match![1]);
    // At least the last 20 revisions are kept, and trimming goes in steps of a tenth (2).
    const kept = last - oldest + 1;
    expect(kept).toBeGreaterThanOrEqual(20);
    expect(kept).toBeLessThanOrEqual(22);

    // The edge: one revision before the oldest kept is refused, naming it; the key form is held to it too.
    const justTooOld = await runTbase(['watch', '--prefix', 'k', '--from-revision', String(oldest - 1)], { env, timeoutMs: 10000 });
    expect(justTooOld.code).toBe(4);
    expect(justTooOld.stderr).toBe(`tbase: revision ${oldest - 1} is no longer in the history; the oldest kept is ${oldest}\n`);
    const keyTooOld = await runTbase(['watch', 'k1', '--from-revision', '1'], { env, timeoutMs: 10000 });
    expect(keyTooOld.code).toBe(4);

    const fromOldest = new Watcher(['watch', '--prefix', '', '--from-revision', String(oldest), '--json'], env);
    await fromOldest.waitFor((l) => l.length >= kept, `${kept} events`);
    await runTbase(['set', 'later', 'after 100 revisions'], { env });
    await fromOldest.waitFor((l) => l.length >= kept + 1, 'the event after');
    expect(await fromOldest.stop('SIGINT')).toMatchObject({ code: 0, signal: null });
    expect(fromOldest.stderr).toBe('');

    const expected = answers
      .filter((a) => a.revision >= oldest)
      .map((a) => ({ type: 'put', key: a.key, value: `v${a.revision}`, revision: a.revision }))
      .concat([{ type: 'put', key: 'later', value: 'after 100 revisions', revision: last + 1 }]);
    expect(fromOldest.events.map(({ type, key, value, revision }) => ({ type, key, value, revision }))).toEqual(expected);
    console.log(`retention: 100 revisions written with TBASE_HISTORY_REVISIONS=20; oldest kept ${oldest} of ${last} (${kept} kept); ${fromOldest.events.length} events from it`);
  }, 60000);

  test('a caught-up watcher of a quiet key (no --from-revision) keeps running while more than the kept history of other keys changes', async () => {
    // It asked for nothing old: it streams until interrupted, whatever happens to keys it does not watch.
    const { env } = database({ TBASE_HISTORY_REVISIONS: '20' });
    const quiet = new Watcher(['watch', 'quiet'], env);
    for (let n = 1; quiet.lines.length === 0; n++) {
      if (n > 20) throw new Error(`the quiet watcher never started: ${quiet.stderr}`);
      await runTbase(['set', 'quiet', `ready-${n}`], { env });
      await sleep(500);
    }
    const writer = new BatchSession(['--json'], env);
    batches.push(writer);
    // 100 revisions, one commit each (a line at a time, each waited for) ...
    for (let i = 1; i <= 100; i++) {
      writer.send([`set k${i % 7} paced-${i}`]);
      await writer.waitForLines(i);
    }
    await runTbase(['set', 'quiet', 'after paced writes'], { env });
    await quiet.waitFor((l) => l.includes('PUT\tquiet\tafter paced writes'), 'the quiet key changing after 100 paced writes');
    // ... and 100 more sent at once (batch commits the lines it has in one transaction).
    writer.send(Array.from({ length: 100 }, (_, i) => `set k${i % 7} burst-${i}`));
    await writer.waitForLines(200);
    expect(await writer.end()).toBe(0);
    await runTbase(['set', 'quiet', 'after a burst'], { env });
    await quiet.waitFor((l) => l.includes('PUT\tquiet\tafter a burst'), 'the quiet key changing after a burst of 100 writes');
    expect(await quiet.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
    expect(quiet.stderr).toBe('');
  }, 60000);

  test('--from-revision ahead of the database waits for that revision (the ones before it are not shown)', async () => {
    const { env } = database();
    await runTbase(['set', 'a', '1'], { env });
    const watcher = new Watcher(['watch', '--prefix', '', '--from-revision', '3', '--json'], env);
    await sleep(300);
    await runTbase(['set', 'a', '2'], { env }); // revision 2
    await runTbase(['set', 'a', '3'], { env }); // revision 3
    await watcher.waitFor((l) => l.length >= 1, 'revision 3');
    await runTbase(['set', 'a', '4'], { env });
    await watcher.waitFor((l) => l.length >= 2, 'revision 4');
    expect(await watcher.stop()).toMatchObject({ code: 0 });
    expect(watcher.events.map((e) => [e.revision, e.value])).toEqual([
      [3, '3'],
      [4, '4'],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('expiry', () => {
  test('a watched key set with --ttl 1 shows PUT, then EXPIRE when it expires, with no other process writing', async () => {
    const { env } = database();
    // Three watchers race to carry the expiry out: there must still be one EXPIRE, at one new revision.
    const plain = new Watcher(['watch', 'k'], env);
    const json = new Watcher(['watch', 'k', '--json'], env);
    const all = new Watcher(['watch', '--prefix', '', '--json'], env);
    for (let n = 1; ; n++) {
      await runTbase(['set', 'k', `ready-${n}`], { env });
      await sleep(400);
      if (plain.lines.includes(`PUT\tk\tready-${n}`) && json.lines.length > 0 && all.lines.length > 0) break;
      if (n === 20) throw new Error('the watchers never started');
    }
    const plainBefore = plain.lines.length;
    const jsonBefore = json.lines.length;

    const t0 = Date.now();
    const { code, body } = await jsonCommand(['set', 'k', 'v', '--ttl', '1'], env);
    const answered = Date.now();
    expect(code).toBe(0);
    const revision = body.revision as number;
    const seen = await Promise.all(
      [plain, json, all].map(async (watcher) => {
        await watcher.waitFor((l) => l.some((line) => line.startsWith('EXPIRE\t') || line.includes('"type":"expire"')), 'EXPIRE', 6000);
        return Date.now();
      }),
    );
    for (const at of seen) {
      expect(at - t0).toBeGreaterThanOrEqual(1000); // not before the key's time is up
      expect(at - answered).toBeLessThan(2500); // and soon after it
    }
    await sleep(1000); // time for a duplicate EXPIRE (or anything else) to show up, if it were going to
    expect(plain.lines.slice(plainBefore)).toEqual(['PUT\tk\tv', 'EXPIRE\tk']);
    expect(json.events.slice(jsonBefore).map(({ type, key, value, revision: r }) => ({ type, key, value, revision: r }))).toEqual([
      { type: 'put', key: 'k', value: 'v', revision },
      { type: 'expire', key: 'k', value: undefined, revision: revision + 1 },
    ]);
    expect(json.events.at(-1)).toEqual({ type: 'expire', key: 'k', revision: revision + 1 }); // the whole event
    const brief = (events: WatchEvent[]) => events.map(({ type, key, revision: r }) => ({ type, key, revision: r }));
    expect(brief(all.events.slice(-2))).toEqual(brief(json.events.slice(-2)));
    expect((await runTbase(['stats'], { env })).out).toContain(`revision\t${revision + 1}\n`);
    expect((await runTbase(['get', 'k'], { env })).code).toBe(1);
    for (const watcher of [plain, json, all]) expect(await watcher.stop()).toMatchObject({ code: 0 });
    console.log(`expiry: EXPIRE seen ${seen.map((at) => at - answered).join('/')} ms after the set's answer (ttl 1 s), at revision ${revision + 1}`);
  }, 30000);

  test("a PUT event's ttl is the key's time left, not counted from when the watcher started", async () => {
    const { env } = database();
    const watcher = new Watcher(['watch', '--prefix', 'ttl:', '--json'], env);
    for (let n = 1; watcher.lines.length === 0; n++) {
      if (n > 20) throw new Error('the watcher never started');
      await runTbase(['set', `ttl:ready`, String(n)], { env });
      await sleep(400);
    }
    await sleep(3000); // the watcher is now a few seconds old
    const { body } = await jsonCommand(['set', 'ttl:k', 'v', '--ttl', '10'], env);
    expect(body.ttl).toBe(10);
    await watcher.waitFor((l) => l.some((line) => line.includes('"ttl:k"')), 'the PUT');
    const put = watcher.events.find((e) => e.key === 'ttl:k')!;
    expect(await watcher.stop()).toMatchObject({ code: 0 });
    // Set with 10 s and printed at once: 10 (or 9) seconds are left, as `get --json` would say.
    expect(put.ttl).toBeLessThanOrEqual(10);
    expect(put.ttl).toBeGreaterThanOrEqual(9);
  }, 30000);
});

// ---------------------------------------------------------------------------------------------------------------

describe('how a watch ends', () => {
  test.each(['SIGINT', 'SIGTERM'] as const)('%s: exit 0, nothing on stderr, what was printed stays', async (signal) => {
    const { env } = database();
    const watcher = new Watcher(['watch', '--prefix', 'k'], env);
    for (let n = 1; watcher.lines.length === 0; n++) {
      if (n > 20) throw new Error('the watcher never started');
      await runTbase(['set', 'k', `v${n}`], { env });
      await sleep(400);
    }
    const exit = await watcher.stop(signal);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(watcher.stderr).toBe(''); // no stack trace, no notice
    expect(watcher.lines[0]).toMatch(/^PUT\tk\tv\d+$/);
  });

  test('without memcached (--no-cache) a watcher stays up with nothing else to keep it alive, and sees a write', async () => {
    // Regression: the feed's waits held no timer of their own, so with no memcached socket open Node found its event
    // loop empty and exited 0 at once.
    const { env } = database({ TBASE_NO_CACHE: '1' });
    expect((await runTbase(['set', 'x', '0'], { env })).code).toBe(0);
    const watcher = new Watcher(['watch', '--prefix', 'lone:'], env);
    await sleep(1000);
    expect((await runTbase(['set', 'lone:1', 'v'], { env })).code).toBe(0);
    await watcher.waitFor((lines) => lines.includes('PUT\tlone:1\tv'), 'the PUT');
    expect(await watcher.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
  }, 20000);

  test('an idle watcher (nothing printed yet) ends on SIGINT and SIGTERM too', async () => {
    const { env } = database();
    const a = new Watcher(['watch', 'nothing-here'], env);
    const b = new Watcher(['watch', '--prefix', 'nothing:', '--json'], env);
    await sleep(1000); // past start-up, waiting for changes
    expect(await a.stop('SIGINT')).toMatchObject({ code: 0, signal: null });
    expect(await b.stop('SIGTERM')).toMatchObject({ code: 0, signal: null });
    expect([a.stderr, b.stderr, a.lines.length, b.lines.length]).toEqual(['', '', 0, 0]);
  });

  test('its reader goes away (`watch k | head -1`): it exits 0 at the next event it would write', async () => {
    const { env } = database();
    const watcher = new Watcher(['watch', 'k'], env);
    for (let n = 1; watcher.lines.length === 0; n++) {
      if (n > 20) throw new Error('the watcher never started');
      await runTbase(['set', 'k', `v${n}`], { env });
      await sleep(400);
    }
    watcher.child.stdout!.destroy(); // the reader closes its end of the pipe, as `head -1` does after one line
    await sleep(200);
    await runTbase(['set', 'k', 'after the reader left'], { env });
    const exit = await watcher.waitExit(5000, 'exit after its reader left and a change came');
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(watcher.stderr).toBe('');
  });

  test('the same through a shell pipeline into head -1', async () => {
    const { env } = database();
    const script = `"${process.execPath}" "${BIN}" watch k | head -1; echo "watch exited \${PIPESTATUS[0]}" >&2`;
    const shellEnv: Record<string, string | undefined> = { ...process.env, ...env };
    delete shellEnv.NO_COLOR;
    delete shellEnv.FORCE_COLOR;
    // A process group of its own, so that a failure can kill the whole pipeline (bash, the watcher, head).
    const shell = spawn('bash', ['-c', script], { env: shellEnv as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    shell.stdout.on('data', (c: Buffer) => (out += c.toString()));
    shell.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const closed = new Promise<number | null>((resolve) => shell.on('close', resolve));
    try {
      for (let n = 1; out === ''; n++) {
        if (n > 20) throw new Error(`head never printed a line: ${err}`);
        await runTbase(['set', 'k', `v${n}`], { env });
        await sleep(400);
      }
      await runTbase(['set', 'k', 'one more'], { env }); // the watcher finds its reader gone here
      const code = await Promise.race([closed, sleep(5000).then(() => 'timeout' as const)]);
      expect(code).toBe(0);
      expect(out).toMatch(/^PUT\tk\tv\d+\n$/);
      expect(err).toBe('watch exited 0\n');
    } finally {
      try {
        process.kill(-shell.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
  });

  test.each([
    [['watch', '--prefix', 'k', '--from-revision', '0'], /revision/],
    [['watch', 'k', '--from-revision', '0'], /revision/],
    [['watch', '--prefix', 'k', '--from-revision', '-1'], /.+/],
    [['watch', '--prefix', 'k', '--from-revision', 'soon'], /.+/],
    [['watch'], /missing <key> or --prefix/],
    [['watch', '--prefix'], /.+/],
    [['watch', 'a', '--prefix', 'b'], /.+/],
  ])('usage error: tbase %j exits 2 at once', async (args, message) => {
    const { env } = database();
    const result = await runTbase(args, { env, timeoutMs: 10000 });
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('in batch, watch is a usage error answer (\\E usage, exit 2) and the batch goes on', async () => {
    const { env } = database();
    const plain = await runTbase([], { env, stdin: 'set k v\nwatch k\nwatch --prefix k\nget k\n', timeoutMs: 10000 });
    expect(plain.out).toBe('OK\n\\E usage\n\\E usage\nv\n');
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/^tbase: line 2: .*watch/m);
    expect(plain.stderr).toMatch(/^tbase: line 3: .*watch/m);
    const json = await runTbase(['--json', 'batch', '-'], { env, stdin: 'watch k\nget k\n', timeoutMs: 10000 });
    expect(json.code).toBe(2);
    const [first, second] = json.out.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).toMatchObject({ ok: false, command: 'watch', line: 1, error: 'usage' });
    expect(second).toMatchObject({ ok: true, command: 'get', line: 2, value: 'v' });
  });
});

// ---------------------------------------------------------------------------------------------------------------

describe('a stop in the middle of a large revision', () => {
  /** A database whose revision 2 puts 3000 keys at once (an import): far more than a pipe holds. */
  async function bigRevision() {
    const { env } = database();
    await runTbase(['set', 'job:first', '1'], { env });
    const entries = Array.from({ length: 3000 }, (_, i) => ({ key: `job:${String(i).padStart(5, '0')}`, value: `${'v'.repeat(100)}${i}`, expiresAt: null }));
    const file = join(tempDir(), 'big.json');
    writeFileSync(file, JSON.stringify({ format: 'tenantbase-export', version: 2, entries, count: entries.length }));
    const { code, body } = await jsonCommand(['import', file], env);
    expect(code).toBe(0);
    expect(body.revision).toBe(2);
    return env;
  }

  test('SIGTERM ends a watcher whose reader has stopped reading (its stdout pipe is full)', async () => {
    const env = await bigRevision();
    const watcher = new Watcher(['watch', '--prefix', 'job:', '--from-revision', '1', '--json'], env, { read: false });
    await sleep(1500); // it has filled the pipe and waits for the reader
    watcher.child.kill('SIGTERM');
    const exit = await watcher.waitExit(3000, 'end after SIGTERM while its reader does not read');
    expect(exit).toMatchObject({ code: 0, signal: null });
  }, 20000);

  test('a watcher stopped during a revision resumes at last revision + 1 without losing the rest of it', async () => {
    const env = await bigRevision();
    const first = new Watcher(['watch', '--prefix', 'job:', '--from-revision', '1', '--json'], env, { read: false });
    await sleep(1500); // it is part way through revision 2 (the pipe is full)
    first.child.kill('SIGTERM');
    first.startReading(); // and the reader reads on, as a terminal or a pipe into a program would
    expect(await first.waitExit(10000)).toMatchObject({ code: 0, signal: null });
    const seen = first.events;
    const last = seen.at(-1)!.revision;
    const resumed = new Watcher(['watch', '--prefix', 'job:', '--from-revision', String(last + 1), '--json'], env);
    await sleep(1500);
    expect(await resumed.stop()).toMatchObject({ code: 0 });
    const all = [...seen, ...resumed.events];
    const ofRevision2 = all.filter((e) => e.revision === 2).length;
    console.log(`stop during a 3000-key revision: the first run printed ${seen.length} events (last revision ${last}), the resumed run ${resumed.events.length}; revision 2 seen ${ofRevision2} of 3000 times`);
    expect(all).toHaveLength(3001);
    expect(ofRevision2).toBe(3000);
  }, 30000);
});
