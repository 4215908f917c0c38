#!/usr/bin/env node
/**
 * `npm run bench`: batch throughput of tbase for N `set` and N cache-hot `get` commands, beside the same work done
 * in the same run by the sqlite3 shell (/usr/bin/sqlite3: same schema, WAL, synchronous=FULL, the upserts in
 * transactions of the size tbase groups) and by raw memjs (pipelined, 1000 calls in flight, no SQLite at all).
 * Starts its own memcached and uses temporary databases. N defaults to 100000 (env BENCH_N).
 *
 * tbase and sqlite3 are timed as whole processes (start-up included); raw memjs in-process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import memjs from 'memjs';
import { startMemcached } from '../__tests__/helpers/memcached.mjs';

const N = Number(process.env.BENCH_N ?? 100_000);
const GROUP = 4096; // rows per sqlite3 transaction: about what tbase commits per input group
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'tbase');
const sqliteShell = process.env.SQLITE3 ?? '/usr/bin/sqlite3';

if (!existsSync(join(root, 'dist', 'index.js'))) {
  console.error('bench: dist/ is missing; run `npm run build` first');
  process.exit(2);
}
if (!existsSync(sqliteShell)) {
  console.error(`bench: ${sqliteShell} not found (apt-get install -y sqlite3, or set SQLITE3)`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'tbase-bench-'));
const memcached = await startMemcached();
try {
  const key = (i) => `key:${i}`;
  const value = (i) => `value-${i}-${'x'.repeat(16)}`;
  const lines = (make) => {
    let text = '';
    for (let i = 0; i < N; i++) text += make(i);
    return text;
  };
  writeFileSync(join(dir, 'sets.txt'), lines((i) => `set ${key(i)} ${value(i)}\n`));
  writeFileSync(join(dir, 'gets.txt'), lines((i) => `get ${key(i)}\n`));

  // tbase: whole processes, commands on stdin, output counted and checked.
  const db = join(dir, 'tbase.db');
  const tbase = (file) => runProcess(process.execPath, [bin, '--db', db, '--servers', memcached.address], file);
  const tSet = await tbase(join(dir, 'sets.txt'));
  await tbase(join(dir, 'gets.txt')); // warm: fills the cache
  const tGet = await tbase(join(dir, 'gets.txt'));
  check(tSet, 'tbase set', (out) => out.lines === N);
  check(tGet, 'tbase get', (out) => out.lines === N && out.last === value(N - 1));

  // sqlite3 shell: the same upserts and point reads, as SQL.
  const sdb = join(dir, 'shell.db');
  const quote = (s) => `'${s.replace(/'/g, "''")}'`;
  const schema = 'PRAGMA journal_mode=WAL;\nCREATE TABLE entries (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, expires_at INTEGER);\n';
  let sql = '';
  for (let i = 0; i < N; i++) {
    if (i % GROUP === 0) sql += `${i ? 'COMMIT;\n' : ''}BEGIN IMMEDIATE;\n`;
    sql += `INSERT INTO entries (key, value, expires_at) VALUES (${quote(key(i))}, ${quote(value(i))}, NULL) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;\n`;
  }
  writeFileSync(join(dir, 'sets.sql'), `${sql}COMMIT;\n`);
  const now = Date.now();
  writeFileSync(
    join(dir, 'gets.sql'),
    lines((i) => `SELECT value FROM entries WHERE key = ${quote(key(i))} AND (expires_at IS NULL OR expires_at > ${now});\n`),
  );
  spawnSync(sqliteShell, [sdb], { input: schema });
  const sSet = await runProcess(sqliteShell, ['-cmd', 'PRAGMA synchronous=FULL', sdb], join(dir, 'sets.sql'));
  const sGet = await runProcess(sqliteShell, [sdb], join(dir, 'gets.sql'));
  check(sSet, 'sqlite3 set', () => true);
  check(sGet, 'sqlite3 get', (out) => out.lines === N);

  // Raw memjs: the same keys and values, 1000 calls in flight on one connection.
  const client = memjs.Client.create(memcached.address, { logger: { log() {} }, timeout: 5, retries: 0 });
  const window = 1000;
  const pipelined = async (call) => {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i += window) {
      const calls = [];
      for (let j = i; j < Math.min(N, i + window); j++) calls.push(call(j));
      await Promise.all(calls);
    }
    return Number(process.hrtime.bigint() - started) / 1e9;
  };
  const mSet = await pipelined((i) => client.set(`raw:${key(i)}`, Buffer.from(value(i)), { expires: 0 }));
  let hits = 0;
  const mGet = await pipelined(async (i) => {
    if ((await client.get(`raw:${key(i)}`)).value) hits++;
  });
  client.close();
  if (hits !== N) throw new Error(`raw memjs: ${hits} of ${N} gets hit`);

  const rate = (seconds) => N / seconds;
  const fmt = (seconds) => `${Math.round(rate(seconds)).toLocaleString('en-US').padStart(9)} /s  ${seconds.toFixed(2).padStart(6)} s`;
  const ratio = (a, b) => `${(rate(a) / rate(b)).toFixed(2)}×`;
  const rows = [
    [`${N} set`, tSet.seconds, sSet.seconds, mSet],
    [`${N} get (cache-hot)`, tGet.seconds, sGet.seconds, mGet],
  ];
  console.log(`tbase batch benchmark: ${N} commands per row; memcached ${memcached.address}; SQLite WAL, synchronous=FULL`);
  console.log('');
  console.log(`| workload | tbase batch | sqlite3 shell | raw memjs (pipelined) | tbase / sqlite3 | tbase / memjs |`);
  console.log(`|---|---:|---:|---:|---:|---:|`);
  for (const [name, t, s, m] of rows) console.log(`| ${name} | ${fmt(t)} | ${fmt(s)} | ${fmt(m)} | ${ratio(t, s)} | ${ratio(t, m)} |`);
  console.log('');
  console.log(`tbase and sqlite3: whole processes, start-up included; sqlite3 commits every ${GROUP} upserts; memjs: in-process.`);
} finally {
  await memcached.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Runs a process with a file on stdin; counts output lines and keeps the last one. */
function runProcess(command, args, inputFile) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let lines = 0;
    let tail = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) lines++;
      tail = (tail + chunk).slice(-200);
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    createReadStream(inputFile).pipe(child.stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const last = tail.trimEnd().split('\n').at(-1);
      resolve({ code, seconds, lines, last, stderr });
    });
  });
}

function check(run, name, ok) {
  if (run.code !== 0 || !ok(run)) {
    throw new Error(`${name}: exit ${run.code}, ${run.lines} lines, last ${JSON.stringify(run.last)}; stderr: ${run.stderr.slice(0, 500)}`);
  }
}
