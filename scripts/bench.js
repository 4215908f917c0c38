#!/usr/bin/env node
/**
 * `npm run bench` (`-- --json` for machine-readable output): tbase beside real baselines, measured in the same run.
 *
 *   1  one-shot `tbase get k` (a cache hit) wall time       vs `node -e 0` (Node's own start-up floor)
 *   2  one-shot `tbase set k v` wall time                    vs `node -e 0`
 *   3  batch of N `set` lines on stdin, throughput           vs the sqlite3 shell: the same N upserts, one transaction
 *   4  batch of N `get` lines, cache hot, throughput         vs raw memjs: the same N cache keys, pipelined, same window
 *   5  batch of N `get` lines, cache cold (every get fills)  vs the same raw memjs figure
 *   6  peak RSS of the N-line batches of rows 3 and 4, of a batch of M set lines, and of `list` and `export` over
 *      M keys (memory must not grow with the input)          vs `node -e 0`
 *
 * Every figure is a median of several runs; the two sides of a row alternate so that load drift hits both.
 * Processes are timed whole (start-up included) on both sides. It starts its own memcached on a free loopback
 * port and uses temporary databases. SQLite runs as tbase runs it: WAL, synchronous=FULL.
 *
 * Environment: BENCH_N (batch commands, default 100000), BENCH_MEM_N (memory rows, default 1000000),
 * BENCH_RUNS (runs per batch row, default 3), BENCH_ONESHOT_RUNS (default 25), BENCH_QUICK=1 (a quick pass:
 * N=20000, M=100000, 1 batch run, 7 one-shot runs), SQLITE3 (the sqlite3 shell, default /usr/bin/sqlite3).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMemcached } from '../__tests__/helpers/memcached.mjs';
import { alternate, check, median, runProcess, table } from '../bench/lib.js';

const quick = process.env.BENCH_QUICK === '1';
const N = Number(process.env.BENCH_N ?? (quick ? 20_000 : 100_000));
const MEM_N = Number(process.env.BENCH_MEM_N ?? (quick ? 100_000 : 1_000_000));
const RUNS = Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3));
const ONESHOT_RUNS = Number(process.env.BENCH_ONESHOT_RUNS ?? (quick ? 7 : 25));
const WINDOW = 256; // cache calls in flight at once: what tbase's batch reads use (cache-aside.ts GET_PIPELINE)
const json = process.argv.includes('--json');

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'tbase');
const rawMemjs = join(root, 'bench', 'raw-memjs.js');
const sqliteShell = process.env.SQLITE3 ?? '/usr/bin/sqlite3';
const node = process.execPath;

if (!existsSync(join(root, 'dist', 'bundle', 'tbase.cjs'))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
if (!existsSync(sqliteShell)) {
  console.error(`bench: the sqlite3 shell (${sqliteShell}) is missing. Install it with: apt-get update && apt-get install -y sqlite3`);
  console.error('       (or point SQLITE3 at another sqlite3 binary)');
  process.exit(2);
}

const log = (text) => process.stderr.write(`bench: ${text}\n`);
const dir = mkdtempSync(join(tmpdir(), 'tbase-bench-'));
const memcached = await startMemcached();
const rows = [];
const extra = {};
try {
  const key = (i) => `key:${i}`;
  const value = (i) => `value-${i}-${'x'.repeat(16)}`;
  const tbaseArgs = (db) => [bin, '--db', db, '--servers', memcached.address];
  const nodeFloor = () => runProcess(node, ['-e', '0']).then((run) => check(run, 'node -e 0').seconds * 1000);

  // --- 1, 2: one-shot start-up ---------------------------------------------------------------------------------
  const oneDb = join(dir, 'oneshot.db');
  check(await runProcess(node, [...tbaseArgs(oneDb), 'set', 'k', 'v']), 'tbase set k v');
  check(await runProcess(node, [...tbaseArgs(oneDb), 'set', 'w', 'v']), 'tbase set w v');
  // A write leaves a tombstone (3 s) that refuses fills; wait it out, then one get fills the cache.
  log('one-shot: waiting 3.2 s for the tombstone of the setup write to expire');
  await sleep(3200);
  check(await runProcess(node, [...tbaseArgs(oneDb), 'get', 'k']), 'tbase get k (fill)');
  check(await runProcess(node, [...tbaseArgs(oneDb), '--json', 'get', 'k']), 'tbase get k (hit)', (run) =>
    run.last.includes('"source":"cache"'),
  );
  log(`one-shot get (hit) and node -e 0, ${ONESHOT_RUNS} runs each`);
  const getOne = await alternate(
    ONESHOT_RUNS,
    async () => check(await runProcess(node, [...tbaseArgs(oneDb), 'get', 'k']), 'tbase get k', (r) => r.last === 'v').seconds * 1000,
    nodeFloor,
  );
  rows.push(row(1, 'one-shot `get k` (cache hit), wall', getOne.ours, 'node -e 0', getOne.baseline, 'ms', '≤ 1.3×', (r) => r <= 1.3, getOne.pairRatio));
  log(`one-shot set and node -e 0, ${ONESHOT_RUNS} runs each`);
  const setOne = await alternate(
    ONESHOT_RUNS,
    async (i) => check(await runProcess(node, [...tbaseArgs(oneDb), 'set', 'w', `v${i}`]), 'tbase set w').seconds * 1000,
    nodeFloor,
  );
  rows.push(row(2, 'one-shot `set k v`, wall', setOne.ours, 'node -e 0', setOne.baseline, 'ms', '–', null, setOne.pairRatio));

  // --- 3: batch set vs the sqlite3 shell ---------------------------------------------------------------------
  const setsFile = join(dir, 'sets.txt');
  const getsFile = join(dir, 'gets.txt');
  writeLines(setsFile, N, (i) => `set ${key(i)} ${value(i)}\n`);
  writeLines(getsFile, N, (i) => `get ${key(i)}\n`);
  const sqlFile = join(dir, 'sets.sql');
  const quote = (s) => `'${s.replace(/'/g, "''")}'`;
  writeLines(
    sqlFile,
    N,
    (i) =>
      `${i === 0 ? 'BEGIN IMMEDIATE;\n' : ''}INSERT INTO entries (key, value, expires_at) VALUES (${quote(key(i))}, ${quote(value(i))}, NULL) ` +
      `ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;\n${i === N - 1 ? 'COMMIT;\n' : ''}`,
  );
  const shellSchema =
    'PRAGMA journal_mode=WAL;\nCREATE TABLE entries (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at INTEGER);\n';
  let tbaseDb = '';
  const batchRss = [];
  log(`batch of ${N} set lines and the sqlite3 shell, ${RUNS} runs each`);
  const sets = await alternate(
    RUNS,
    async (i) => {
      tbaseDb = join(dir, `sets-${i}.db`);
      check(await runProcess(node, [...tbaseArgs(tbaseDb), 'stats']), 'tbase stats'); // schema made outside the timing
      const run = check(await runProcess(node, tbaseArgs(tbaseDb), { inputFile: setsFile, measureRss: true }), 'tbase batch set', (r) => r.lines === N);
      batchRss.push(run.rssKiB);
      return N / run.seconds;
    },
    async (i) => {
      const db = join(dir, `shell-${i}.db`);
      spawnSync(sqliteShell, [db], { input: shellSchema });
      const run = check(await runProcess(sqliteShell, ['-cmd', 'PRAGMA synchronous=FULL', db], { inputFile: sqlFile }), 'sqlite3 shell');
      const count = spawnSync(sqliteShell, [db, 'SELECT count(*) FROM entries'], { encoding: 'utf8' }).stdout.trim();
      if (Number(count) !== N) throw new Error(`sqlite3 shell stored ${count} rows, not ${N}`);
      return N / run.seconds;
    },
  );
  rows.push(row(3, `batch ${N} \`set\` (stdin), throughput`, sets.ours, 'sqlite3 shell, same upserts, 1 transaction', sets.baseline, 'ops/s', '≥ 1.0×', (r) => r >= 1.0, sets.pairRatio));

  // --- 4, 5: batch get, cache cold and hot, vs raw memjs -----------------------------------------------------
  // The cache keys tbase uses: `tb:<namespace>.<pool epoch>:<key>` (the batch set above recorded the pool).
  const meta = (name) => spawnSync(sqliteShell, [tbaseDb, `SELECT value FROM meta WHERE name = '${name}'`], { encoding: 'utf8' }).stdout.trim();
  const keyPrefix = `tb:${meta('namespace_id')}.${JSON.parse(meta('pool')).epoch}:key:`;
  const lastValue = value(N - 1);
  const cold = [];
  const hot = [];
  const hotRss = [];
  const raw = [];
  log(`batch of ${N} get lines (cold, then hot) and raw memjs, ${RUNS} runs each`);
  for (let i = 0; i < RUNS; i++) {
    await flushAll(memcached.port);
    const c = check(await runProcess(node, tbaseArgs(tbaseDb), { inputFile: getsFile }), 'tbase batch get (cold)', (r) => r.lines === N && r.last === lastValue);
    cold.push(N / c.seconds);
    const ours = async () => {
      const run = check(await runProcess(node, tbaseArgs(tbaseDb), { inputFile: getsFile, measureRss: true }), 'tbase batch get (hot)', (r) => r.lines === N && r.last === lastValue);
      hot.push(N / run.seconds);
      hotRss.push(run.rssKiB);
    };
    const baseline = async () => {
      const run = check(await runProcess(node, [rawMemjs, memcached.address, keyPrefix, String(N), String(WINDOW)]), 'raw memjs', (r) => r.last === String(N));
      raw.push(N / run.seconds);
    };
    if (i % 2 === 0) await ours().then(baseline);
    else await baseline().then(ours);
  }
  const rawMedian = median(raw);
  rows.push(row(4, `batch ${N} \`get\`, cache hot, throughput`, median(hot), `raw memjs, same keys, ${WINDOW} in flight`, rawMedian, 'ops/s', '≥ 0.8×', (r) => r >= 0.8, median(hot.map((h, i) => h / raw[i]))));
  rows.push(row(5, `batch ${N} \`get\`, cache cold (fills), throughput`, median(cold), 'raw memjs (row 4)', rawMedian, 'ops/s', '–', null));

  // --- 6: peak memory ------------------------------------------------------------------------------------------
  const floorRss = [];
  for (let i = 0; i < 3; i++) floorRss.push(check(await runProcess(node, ['-e', '0'], { measureRss: true }), 'node -e 0').rssKiB);
  const floor = median(floorRss) / 1024;
  const memRow = (id, name, kib) => row(id, name, kib / 1024, 'node -e 0', floor, 'MiB', '≤ 2×', (r) => r <= 2);
  rows.push(memRow('6a', `peak RSS, batch of ${N} set lines`, median(batchRss)));
  rows.push(memRow('6b', `peak RSS, batch of ${N} get lines (row 4)`, median(hotRss)));
  const bigFile = join(dir, 'big.txt');
  writeLines(bigFile, MEM_N, (i) => `set ${key(i)} ${value(i)}\n`);
  const bigDb = join(dir, 'big.db');
  log(`peak memory: batch of ${MEM_N} set lines, then list and export over ${MEM_N} keys`);
  const big = check(await runProcess(node, tbaseArgs(bigDb), { inputFile: bigFile, measureRss: true }), 'tbase big batch', (r) => r.lines === MEM_N);
  rmSync(bigFile, { force: true });
  rows.push(memRow('6c', `peak RSS, batch of ${MEM_N} set lines`, big.rssKiB));
  const list = check(await runProcess(node, [...tbaseArgs(bigDb), 'list'], { measureRss: true }), 'tbase list', (r) => r.lines === MEM_N);
  rows.push(memRow('6d', `peak RSS, \`list\` over ${MEM_N} keys`, list.rssKiB));
  const exported = check(await runProcess(node, [...tbaseArgs(bigDb), 'export'], { measureRss: true }), 'tbase export');
  rows.push(memRow('6e', `peak RSS, \`export\` over ${MEM_N} keys`, exported.rssKiB));
  extra.bigBatchSeconds = big.seconds;
  extra.listSeconds = list.seconds;
  extra.exportSeconds = exported.seconds;
} finally {
  await memcached.stop();
  rmSync(dir, { recursive: true, force: true });
}

const info = {
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  n: N,
  memN: MEM_N,
  runs: RUNS,
  oneShotRuns: ONESHOT_RUNS,
  sqlite: spawnSync(sqliteShell, ['-version'], { encoding: 'utf8' }).stdout.trim().split(' ')[0],
  ...extra,
};
if (json) {
  process.stdout.write(`${JSON.stringify({ ...info, rows }, null, 2)}\n`);
} else {
  console.log(`tbase bench — Node ${info.node}, ${info.cpus} CPU (${info.cpuModel}), SQLite ${info.sqlite}; medians of ${ONESHOT_RUNS} (one-shot) / ${RUNS} (batch) runs`);
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log('Ratio: tbase / baseline for times and memory (lower is better), throughput tbase / baseline (higher is better).');
  console.log('Rows 1-4: the median of the ratios of runs made back to back (bench/lib.js, alternate), not of the two medians.');
  console.log('Both sides are whole processes, start-up included. SQLite: WAL, synchronous=FULL on both sides.');
}

// Helpers --------------------------------------------------------------------------------------------------------

/** A table row; `ratio` defaults to ours / baseline (the timed rows pass the median of their pairs' ratios). */
function row(id, name, ours, baselineName, baseline, unit, target, meets, ratio = ours / baseline) {
  return { id, name, ours, baseline, baselineName, unit, ratio, target, met: meets ? meets(ratio) : null };
}

function writeLines(path, n, make) {
  const fd = openSync(path, 'w');
  let buffer = '';
  for (let i = 0; i < n; i++) {
    buffer += make(i);
    if (buffer.length > 1 << 20) {
      writeSync(fd, buffer);
      buffer = '';
    }
  }
  writeSync(fd, buffer);
  closeSync(fd);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Empties memcached (text protocol `flush_all`), so the next batch of gets finds nothing and fills. */
function flushAll(port) {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => socket.write('flush_all\r\n'));
    socket.on('data', (data) => {
      if (data.toString().includes('OK')) {
        socket.destroy();
        resolve();
      }
    });
  });
}
