/**
 * Database faults through the built bin: a read-only file system, a full disk, a lock held by another process.
 * Each: exit 3, one clear line, and the data committed before it intact. The file-system cases mount a small
 * tmpfs, which needs root (CI runs as root); elsewhere they are reported as not run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeTempDirs, tempDbPath, tempDir, testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

afterAll(removeTempDirs);

const canMount = (() => {
  if (process.getuid?.() !== 0) return false;
  const probe = tempDir();
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]).status === 0;
  if (mounted) spawnSync('umount', [probe]);
  return mounted;
})();
const withMount = canMount ? test : test.skip;
if (!canMount) console.warn('disk-faults: not root or mount not permitted; read-only and full-disk cases not run');

function mountTmpfs(sizeKb: number): { dir: string; remount(option: 'ro' | 'rw'): void; unmount(): void } {
  const dir = tempDir();
  const run = (args: string[]) => {
    const r = spawnSync('mount', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr}`);
  };
  run(['-t', 'tmpfs', '-o', `size=${sizeKb}k,mode=0700`, 'tmpfs', dir]);
  return {
    dir,
    remount: (option) => run(['-o', `remount,${option}`, dir]),
    unmount: () => void spawnSync('umount', ['-l', dir]),
  };
}

const integrity = (db: string) => spawnSync('sqlite3', [db, 'PRAGMA integrity_check;'], { encoding: 'utf8' }).stdout.trim();

withMount('read-only file system: reads still answer, writes exit 3 with a clear message', async () => {
  const fs = mountTmpfs(4096);
  try {
    const env = { TBASE_DB: join(fs.dir, 'db', 'tbase.db'), TBASE_SERVERS: testServers() };
    expect((await runTbase(['set', 'k', 'before'], { env })).code).toBe(0);
    fs.remount('ro');
    const write = await runTbase(['set', 'k', 'after'], { env });
    expect(write.code).toBe(3);
    expect(write.stderr.trim().split('\n')).toHaveLength(1);
    expect(write.stderr).toMatch(/read-only|cannot (open|read or write)/);
    expect(write.stderr).not.toMatch(/\n\s+at /);
    const read = await runTbase(['get', 'k'], { env });
    expect([0, 3]).toContain(read.code); // SQLite may refuse even reads of a WAL database it cannot lock
    if (read.code === 0) expect(read.out).toBe('before\n');
    const fresh = await runTbase(['set', 'k', 'v'], { env: { ...env, TBASE_DB: join(fs.dir, 'new', 'x.db') } });
    expect(fresh.code).toBe(3);
    expect(fresh.stderr).toMatch(/cannot create database .*: the file system is read-only/);
    fs.remount('rw');
    expect((await runTbase(['get', 'k'], { env })).out).toBe('before\n');
    expect(integrity(env.TBASE_DB)).toBe('ok');
  } finally {
    fs.unmount();
  }
});

withMount('full disk: the write fails with exit 3, earlier data intact, database not corrupted', async () => {
  const fs = mountTmpfs(1024);
  try {
    const env = { TBASE_DB: join(fs.dir, 'tbase.db'), TBASE_SERVERS: testServers() };
    expect((await runTbase(['set', 'small', 'kept'], { env })).code).toBe(0);
    const big = await runTbase(['set', 'big', '-'], { env, stdin: Buffer.alloc(3 * 1024 * 1024, 1) });
    expect(big.code).toBe(3);
    expect(big.stderr).toMatch(/disk is full|cannot (read or write|open)/);
    expect(big.stderr.trim().split('\n')).toHaveLength(1);
    expect((await runTbase(['get', 'small'], { env })).out).toBe('kept\n');
    expect((await runTbase(['get', 'big'], { env })).code).toBe(1);
    expect(integrity(env.TBASE_DB)).toBe('ok');
  } finally {
    fs.unmount();
  }
});

test('a lock held by another process beyond the busy timeout: exit 3, then fine once released', async () => {
  const db = tempDbPath();
  const env = { TBASE_DB: db, TBASE_SERVERS: testServers(), TBASE_BUSY_TIMEOUT_MS: '300' };
  expect((await runTbase(['set', 'k', 'v1'], { env })).code).toBe(0);
  // The sqlite3 shell takes the write lock and keeps it while its stdin stays open.
  const holder = spawn('sqlite3', [db], { stdio: ['pipe', 'pipe', 'pipe'] });
  holder.stdin.write('BEGIN IMMEDIATE;\nSELECT 1;\n');
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const blocked = await runTbase(['set', 'k', 'v2'], { env });
  expect(blocked.code).toBe(3);
  expect(blocked.stderr).toMatch(/database ".*" is locked by another process/);
  expect(blocked.stderr.trim().split('\n')).toHaveLength(1);
  // Readers are not blocked by a writer (WAL).
  expect((await runTbase(['get', 'k'], { env })).out).toBe('v1\n');
  holder.stdin.end('ROLLBACK;\n');
  await new Promise((resolve) => holder.on('close', resolve));
  expect((await runTbase(['set', 'k', 'v2'], { env })).code).toBe(0);
  expect((await runTbase(['get', 'k'], { env })).out).toBe('v2\n');
});

test('a database folder that does not exist yet is created', async () => {
  const base = tempDir();
  mkdirSync(join(base, 'a'));
  const env = { TBASE_DB: join(base, 'a', 'b', 'c', 'tbase.db'), TBASE_SERVERS: testServers() };
  expect((await runTbase(['set', 'k', 'v'], { env })).code).toBe(0);
  expect((await runTbase(['get', 'k'], { env })).out).toBe('v\n');
});
