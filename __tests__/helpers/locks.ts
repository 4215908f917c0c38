/**
 * Helpers for the `tbase lock` tests: long-lived tbase processes that a test signals or kills, the lease table
 * read and changed behind tbase's back with the `sqlite3` shell, and cleanup of every process a test started —
 * including a CMD that outlives its tbase (a holder killed with -9 leaves its child running).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { BIN } from './tbase.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to the tbase process's exit. */
  ms: number;
  /** Date.now() at the exit. */
  at: number;
}

export interface Started {
  child: ChildProcess;
  pid: number;
  startedAt: number;
  exit: Promise<Exit>;
}

const live = new Set<ChildProcess>();
const pidFiles = new Set<string>();

/**
 * Starts the built bin with piped stdout/stderr and no stdin. `exit` resolves on the process's exit, not on the
 * pipes' close: a CMD that outlives tbase holds them open. What arrived by then (plus a short drain) is kept.
 */
export function startTbase(args: string[], env: Record<string, string>, options: { cwd?: string } = {}): Started {
  const merged: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  const startedAt = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { env: merged as NodeJS.ProcessEnv, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      const at = Date.now();
      live.delete(child);
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.stdout!.destroy();
        child.stderr!.destroy();
        resolve({ code, signal, stdout, stderr, ms: at - startedAt, at });
      };
      child.once('close', finish);
      const timer = setTimeout(finish, 300);
    });
  });
  return { child, pid: child.pid!, startedAt, exit };
}

/** A file into which a CMD writes its pid (`echo $$ > FILE`): the process is killed at cleanup if still alive. */
export function trackPidFile(path: string): string {
  pidFiles.add(path);
  return path;
}

/** Whether pid is a live process started under a lock (its environment has TBASE_LOCK_NAME): never a reused pid. */
function isLockedCommand(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((entry) => entry.startsWith('TBASE_LOCK_NAME='));
  } catch {
    return false;
  }
}

export function pidFrom(path: string): number {
  return Number(readFileSync(path, 'utf8').trim().split(/\s+/)[0]);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every tbase still running and every tracked CMD still alive, and waits for the tbase exits. */
export async function killLeftovers(): Promise<void> {
  const exits = [...live].map((child) => new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    if (!child.kill('SIGKILL')) resolve();
  }));
  await Promise.all(exits);
  for (const path of pidFiles) {
    if (!existsSync(path)) continue;
    const pid = pidFrom(path);
    if (Number.isInteger(pid) && pid > 1 && isLockedCommand(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  pidFiles.clear();
}

/** Polls until `check` is true; fails with `what` after timeoutMs. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/**
 * Runs statements with the sqlite3 shell, one session (busy timeout: tbase may be writing); each argument is one
 * SQL statement or dot-command. Resolves to the output.
 */
export function sqlite(db: string, ...commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', ['-cmd', '.timeout 5000', db, ...commands], { timeout: 10_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`sqlite3 failed: ${error.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

export interface LockRow {
  owner: string;
  revision: number;
  expiresAt: number;
}

function quoted(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** The lease row of `name`, or null when nobody holds it (no row). */
export async function lockRow(db: string, name: string): Promise<LockRow | null> {
  const out = (await sqlite(db, `SELECT owner, revision, expires_at FROM locks WHERE name = ${quoted(name)}`)).trim();
  if (out === '') return null;
  const [owner, revision, expiresAt] = out.split('|');
  return { owner: owner!, revision: Number(revision), expiresAt: Number(expiresAt) };
}

/** Deletes the lease row behind the holder's back: its next renewal fails (a lost lease). */
export async function deleteLockRow(db: string, name: string): Promise<void> {
  await sqlite(db, `DELETE FROM locks WHERE name = ${quoted(name)}`);
}
