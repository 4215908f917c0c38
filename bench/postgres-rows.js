// The PostgreSQL rows of `npm run bench` (scripts/bench.js): tbase on a private PostgreSQL server beside psql
// doing the same work on the same server in the same run.
//
//   11a  batch of N `set` lines                  vs psql: the same N upserts (1000 rows a statement, as tbase's
//                                                   unnest statements are), one transaction, revision stored once
//   11b  batch of N `get` lines, cache cold       vs psql: the same N keys read by `key = ANY(…)`, 1000 a statement
//   11c  batch of N `get` lines, cache hot        vs raw memjs, the same cache keys, same window (as row 4)
//   11d  one-shot `get k`, cache hit, wall        vs `node -e 0`
//   11e  one-shot `get k --no-cache`, wall        vs `node -e 0` (connect, schema check, clock, one read)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startMemcached } from '../__tests__/helpers/memcached.mjs';
import { startPostgres } from '../__tests__/helpers/postgres.mjs';
import { alternate, check, flushAll, row, runProcess, sleep, table, writeLines } from './lib.js';

const PSQL = process.env.PSQL ?? '/usr/bin/psql';
const ROWS_PER_STATEMENT = 1000;

/**
 * `b` carries what scripts/bench.js already has: N, RUNS, ONESHOT_RUNS, WINDOW, dir, node, bin, rawMemjs,
 * memcached, key(i), value(i), log, nodeFloor, and the files of `set` and `get` lines (setsFile, getsFile).
 */
export async function postgresRows(b) {
  const server = await startPostgres();
  try {
    const url = (schema) => `${server.url}?schema=${schema}`;
    const tbase = (schema, ...args) => [b.bin, '--db', url(schema), '--servers', b.memcached.address, ...args];
    const psql = (args, options) => runProcess(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', server.url, ...args], options);
    const hex = (text) => `'\\x${Buffer.from(text).toString('hex')}'`;
    const rows = [];

    // --- 11a: batch set vs psql upserts -------------------------------------------------------------------------
    const upserts = (schema) => {
      const file = join(b.dir, `pg-${schema}.sql`);
      writeLines(file, Math.ceil(b.N / ROWS_PER_STATEMENT), (s) => {
        const values = [];
        for (let i = s * ROWS_PER_STATEMENT; i < Math.min(b.N, (s + 1) * ROWS_PER_STATEMENT); i++) {
          values.push(`(${hex(b.key(i))}, ${hex(b.value(i))}, NULL, ${i + 1}, ${i + 1}, 1)`);
        }
        return (
          `${s === 0 ? 'BEGIN;\n' : ''}INSERT INTO ${schema}.entries (key, value, expires_at, revision, create_revision, version) VALUES ${values.join(',')} ` +
          'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at, revision = excluded.revision, version = entries.version + 1;\n' +
          ((s + 1) * ROWS_PER_STATEMENT >= b.N ? `UPDATE ${schema}.revision SET value = ${b.N} WHERE id = 1;\nCOMMIT;\n` : '')
        );
      });
      return file;
    };
    const count = (schema) => Number(spawnSync(PSQL, ['-X', '-A', '-t', '-d', server.url, '-c', `SELECT count(*) FROM ${schema}.entries`], { encoding: 'utf8' }).stdout.trim());
    let loaded = '';
    b.log(`PostgreSQL: batch of ${b.N} set lines and psql, ${b.RUNS} runs each`);
    const sets = await alternate(
      b.RUNS,
      async (i) => {
        loaded = `t_${i}`;
        check(await runProcess(b.node, tbase(loaded, 'stats')), 'tbase stats (PostgreSQL)'); // schema made outside the timing
        const run = check(await runProcess(b.node, tbase(loaded), { inputFile: b.setsFile }), 'tbase batch set (PostgreSQL)', (r) => r.lines === b.N);
        if (count(loaded) !== b.N) throw new Error(`tbase stored ${count(loaded)} rows in PostgreSQL, not ${b.N}`);
        return b.N / run.seconds;
      },
      async (i) => {
        const schema = `shell_${i}`;
        check(await runProcess(b.node, tbase(schema, 'stats')), 'tbase stats (shell schema)'); // the same tables
        const run = check(await psql(['-f', upserts(schema)]), 'psql upserts');
        if (count(schema) !== b.N) throw new Error(`psql stored ${count(schema)} rows, not ${b.N}`);
        return b.N / run.seconds;
      },
    );
    rows.push(row('11a', `PostgreSQL: batch ${b.N} \`set\`, throughput`, sets.ours, 'psql, same upserts (1000 a statement), 1 transaction', sets.baseline, 'ops/s', '–', null, sets.pairRatio));

    // --- 11b, 11c: batch get cold vs psql bulk reads, hot vs raw memjs -----------------------------------------------
    const readsFile = join(b.dir, 'pg-reads.sql');
    writeLines(readsFile, Math.ceil(b.N / ROWS_PER_STATEMENT), (s) => {
      const keys = [];
      for (let i = s * ROWS_PER_STATEMENT; i < Math.min(b.N, (s + 1) * ROWS_PER_STATEMENT); i++) keys.push(hex(b.key(i)));
      return `SELECT key, value, expires_at, revision, create_revision, version FROM ${loaded}.entries WHERE key = ANY(ARRAY[${keys.join(',')}]::bytea[]) AND (expires_at IS NULL OR expires_at > 0);\n`;
    });
    const meta = (name) => spawnSync(PSQL, ['-X', '-A', '-t', '-d', server.url, '-c', `SELECT value FROM ${loaded}.meta WHERE name = '${name}'`], { encoding: 'utf8' }).stdout.trim();
    const keyPrefix = `tb:${meta('namespace_id')}.${JSON.parse(meta('pool')).epoch}:key:`;
    const lastValue = b.value(b.N - 1);
    b.log(`PostgreSQL: batch of ${b.N} get lines (cold vs psql, hot vs raw memjs), ${b.RUNS} runs each`);
    const cold = await alternate(
      b.RUNS,
      async () => {
        await flushAll(b.memcached.port);
        const run = check(await runProcess(b.node, tbase(loaded), { inputFile: b.getsFile }), 'tbase batch get (PostgreSQL, cold)', (r) => r.lines === b.N && r.last === lastValue);
        return b.N / run.seconds;
      },
      async () => b.N / check(await psql(['-f', readsFile]), 'psql bulk reads', (r) => r.lines === b.N).seconds,
    );
    rows.push(row('11b', `PostgreSQL: batch ${b.N} \`get\`, cache cold (fills), throughput`, cold.ours, 'psql, same keys by = ANY (1000 a statement)', cold.baseline, 'ops/s', '–', null, cold.pairRatio));
    const hot = await alternate(
      b.RUNS,
      async () => b.N / check(await runProcess(b.node, tbase(loaded), { inputFile: b.getsFile }), 'tbase batch get (PostgreSQL, hot)', (r) => r.lines === b.N && r.last === lastValue).seconds,
      async () => b.N / check(await runProcess(b.node, [b.rawMemjs, b.memcached.address, keyPrefix, String(b.N), String(b.WINDOW)]), 'raw memjs', (r) => r.last === String(b.N)).seconds,
    );
    rows.push(row('11c', `PostgreSQL: batch ${b.N} \`get\`, cache hot, throughput`, hot.ours, `raw memjs, same keys, ${b.WINDOW} in flight`, hot.baseline, 'ops/s', '–', null, hot.pairRatio));

    // --- 11d, 11e: one-shot get ------------------------------------------------------------------------------------
    check(await runProcess(b.node, tbase('oneshot', 'set', 'k', 'v')), 'tbase set k v (PostgreSQL)');
    b.log('PostgreSQL: waiting 3.2 s for the tombstone of the setup write to expire');
    await sleep(3200);
    check(await runProcess(b.node, tbase('oneshot', 'get', 'k')), 'tbase get k (PostgreSQL, fill)');
    check(await runProcess(b.node, tbase('oneshot', '--json', 'get', 'k')), 'tbase get k (PostgreSQL, hit)', (r) => r.last.includes('"source":"cache"'));
    b.log(`PostgreSQL: one-shot get (hit, and --no-cache) and node -e 0, ${b.ONESHOT_RUNS} runs each`);
    const oneShot = (args) => async () => check(await runProcess(b.node, tbase('oneshot', ...args)), `tbase ${args.join(' ')}`, (r) => r.last === 'v').seconds * 1000;
    const hit = await alternate(b.ONESHOT_RUNS, oneShot(['get', 'k']), b.nodeFloor);
    rows.push(row('11d', 'PostgreSQL: one-shot `get k` (cache hit), wall', hit.ours, 'node -e 0', hit.baseline, 'ms', '–', null, hit.pairRatio));
    const direct = await alternate(b.ONESHOT_RUNS, oneShot(['--no-cache', 'get', 'k']), b.nodeFloor);
    rows.push(row('11e', 'PostgreSQL: one-shot `get k --no-cache` (from PostgreSQL), wall', direct.ours, 'node -e 0', direct.baseline, 'ms', '–', null, direct.pairRatio));
    return { rows, version: spawnSync(PSQL, ['-X', '-A', '-t', '-d', server.url, '-c', 'SHOW server_version'], { encoding: 'utf8' }).stdout.trim() };
  } finally {
    await server.stop();
  }
}

// `node bench/postgres-rows.js`: these rows alone (the same environment variables as scripts/bench.js).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.env.BENCH_QUICK === '1';
  const N = Number(process.env.BENCH_N ?? (quick ? 20_000 : 100_000));
  const root = fileURLToPath(new URL('..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tbase-bench-pg-'));
  const memcached = await startMemcached();
  try {
    const key = (i) => `key:${i}`;
    const value = (i) => `value-${i}-${'x'.repeat(16)}`;
    const setsFile = join(dir, 'sets.txt');
    const getsFile = join(dir, 'gets.txt');
    writeLines(setsFile, N, (i) => `set ${key(i)} ${value(i)}\n`);
    writeLines(getsFile, N, (i) => `get ${key(i)}\n`);
    const { rows, version } = await postgresRows({
      N,
      RUNS: Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3)),
      ONESHOT_RUNS: Number(process.env.BENCH_ONESHOT_RUNS ?? (quick ? 7 : 25)),
      WINDOW: 256,
      dir,
      node: process.execPath,
      bin: join(root, 'bin', 'tbase'),
      rawMemjs: join(root, 'bench', 'raw-memjs.js'),
      memcached,
      key,
      value,
      log: (text) => process.stderr.write(`bench: ${text}\n`),
      nodeFloor: async () => check(await runProcess(process.execPath, ['-e', '0']), 'node -e 0').seconds * 1000,
      setsFile,
      getsFile,
    });
    console.log(`tbase bench, PostgreSQL rows — Node ${process.version}, PostgreSQL ${version}, N=${N}`);
    console.log(table(rows));
  } finally {
    await memcached.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
