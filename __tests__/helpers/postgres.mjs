// Starts private PostgreSQL 15 servers on free loopback ports for tests. Plain JavaScript so that jest's global
// setup (which runs outside the TypeScript transform) and the tests share it; types in postgres.d.mts.
//
// initdb costs about a second, so global setup runs it once into a template (TBASE_TEST_PG_TEMPLATE) and every
// server starts from a copy of it.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './memcached.mjs';

const BIN_DIR = '/usr/lib/postgresql/15/bin';
// initdb and postgres refuse to run as root, so as root they run as nobody.
const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const runAs = asRoot ? { uid: NOBODY, gid: NOBODY } : {};

/** @param {string} name */
export function postgresBinary(name) {
  return join(BIN_DIR, name);
}

export function postgresAvailable() {
  return existsSync(postgresBinary('initdb')) && existsSync(postgresBinary('postgres'));
}

function requirePostgres() {
  if (!postgresAvailable()) {
    throw new Error(`PostgreSQL 15 is not installed in ${BIN_DIR}. Install it with: apt-get update && apt-get install -y postgresql`);
  }
}

/**
 * Creates a fresh cluster in `dir` (which must not exist yet). As root the cluster belongs to nobody, so every
 * parent folder of `dir` must be traversable by nobody (mkdtemp makes 0700 folders: chmod them 0755).
 * @param {string} dir
 */
export async function makeTemplate(dir) {
  requirePostgres();
  mkdirSync(dir, { mode: 0o700 });
  if (asRoot) chownSync(dir, NOBODY, NOBODY);
  // --no-sync: a test cluster need not survive a power cut while it is being made.
  const args = ['-D', dir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'];
  const { code, output } = await run(postgresBinary('initdb'), args, runAs);
  if (code !== 0) throw new Error(`initdb -D ${dir} failed (exit ${code}):\n${output}`);
}

/** Runs a command to its end without blocking the event loop (servers started together copy in parallel). */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/**
 * Starts a server from a copy of the template (or a fresh initdb when run without jest's global setup) and
 * creates `database` in it (default tbase; 'postgres' skips the CREATE DATABASE).
 * @param {{ database?: string, settings?: Record<string, string | number | boolean> }} [options]
 */
export async function startPostgres(options = {}) {
  requirePostgres();
  const database = options.database ?? 'tbase';
  // fsync stays on unless the caller turns it off: tests of durability need the real thing.
  const settings = { listen_addresses: '127.0.0.1', fsync: 'on', ...options.settings };
  const root = mkdtempSync(join(tmpdir(), 'tbase-pg-'));
  chmodSync(root, 0o755);
  const dataDir = join(root, 'data');
  const sockDir = join(root, 'sock');
  const logPath = join(root, 'postgres.log');
  try {
    const template = process.env.TBASE_TEST_PG_TEMPLATE;
    if (template) {
      // cp -a keeps the template's owner (nobody) and 0700 mode, which postgres insists on; it is also faster
      // than fs.cpSync, which would need a chown -R afterwards.
      const copy = await run('cp', ['-a', template, dataDir]);
      if (copy.code !== 0) throw new Error(`could not copy the PostgreSQL template ${template}: ${copy.output}`);
    } else {
      await makeTemplate(dataDir);
    }
    // Unix sockets go to a folder of our own: the default /var/run/postgresql may be missing or not writable.
    mkdirSync(sockDir);
    if (asRoot) chownSync(sockDir, NOBODY, NOBODY);
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }

  const port = await freePort();
  const args = ['-D', dataDir, '-p', String(port), '-k', sockDir];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);

  /** @type {import('node:child_process').ChildProcess} */
  let child;
  /** @type {import('node:child_process').ChildProcess | undefined} */
  let reaper;
  let removed = false;

  const launch = async () => {
    const log = openSync(logPath, 'a');
    // detached: its own session, so a Ctrl-C at jest's terminal does not reach it; the reaper ends it instead.
    child = spawn(postgresBinary('postgres'), args, { ...runAs, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.on('error', () => {}); // a failed spawn shows as the missing pid below
    if (child.pid === undefined) throw new Error(`could not run ${postgresBinary('postgres')}. Its log:\n${readLog(logPath)}`);
    child.unref();
    reaper = startReaper(child.pid, root);
    await waitReady(child, port, logPath);
  };

  const crash = async () => {
    if (exited(child)) return;
    // Backends too, as a machine crash would: orphaned ones would keep the shared memory busy for a restart.
    const backends = await freeze(child.pid);
    for (const pid of backends) signalTree(pid, 'SIGKILL');
    signalTree(child.pid, 'SIGKILL');
    await waitExit(child, 5000);
    await waitStates(backends, ['Z'], 'did not die on SIGKILL');
  };

  const resume = () => {
    if (exited(child)) return;
    for (const pid of childrenOf(child.pid)) signalTree(pid, 'SIGCONT');
    signalTree(child.pid, 'SIGCONT');
  };

  const halt = async () => {
    if (!exited(child)) {
      resume(); // a paused server would never act on the SIGINT
      child.kill('SIGINT'); // postgres' fast shutdown: it waits for its backends to end before it exits
      if (!(await waitExit(child, 15000))) await crash();
    }
    reaper?.kill('SIGKILL');
    reaper = undefined;
  };

  try {
    await launch();
    if (database !== 'postgres') await createDatabase(port, database);
  } catch (error) {
    await halt();
    rmSync(root, { recursive: true, force: true });
    throw error;
  }

  return {
    url: `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    port,
    dataDir,
    get pid() {
      return child.pid;
    },
    log: () => readLog(logPath),
    stop: async () => {
      await halt();
      if (!removed) rmSync(root, { recursive: true, force: true });
      removed = true;
    },
    kill: crash,
    restart: async () => {
      if (removed) throw new Error('this PostgreSQL server was stopped; start a new one');
      await halt();
      await launch();
    },
    pause: async () => {
      if (!exited(child)) await freeze(child.pid);
    },
    resume,
  };
}

// Every postgres child process calls setsid(), so a signal to the postmaster's process group does not reach the
// backends: they are found in /proc by parent pid, and each is signalled as its own group (with anything it forked).

/** SIGSTOPs the postmaster, then its children; resolves with the children's pids once all have stopped. */
async function freeze(postmaster) {
  signalTree(postmaster, 'SIGSTOP');
  await waitStates([postmaster], ['T'], 'did not stop on SIGSTOP');
  // A stopped postmaster forks no new backend, so this list is complete.
  const children = childrenOf(postmaster);
  for (const pid of children) signalTree(pid, 'SIGSTOP');
  await waitStates(children, ['T', 'Z'], 'did not stop on SIGSTOP');
  return children;
}

function signalTree(pid, signal) {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      // Not a group leader (then the pid alone), or already gone.
    }
  }
}

/** /proc/PID/stat as [pid, state, ppid] rows; empty where there is no /proc. */
function processTable() {
  const rows = [];
  if (!existsSync('/proc/self/stat')) return rows;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The fields after the ")" that closes the command name: state, ppid, ...
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    rows.push([Number(entry), state, Number(ppid)]);
  }
  return rows;
}

function childrenOf(pid) {
  return processTable()
    .filter(([, , ppid]) => ppid === pid)
    .map(([child]) => child);
}

// Signals arrive after kill() returns; this waits until each pid is in one of `states` or gone.
async function waitStates(pids, states, what) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const table = new Map(processTable().map(([pid, state]) => [pid, state]));
    const pending = pids.filter((pid) => table.has(pid) && !states.includes(table.get(pid)));
    if (pending.length === 0) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${pending.join(', ')} ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

// Inside jest, process.on('exit') registers on the sandbox's copy of `process` and never fires, and a worker
// killed by jest runs no handler at all. So a tiny shell holds the other end of a pipe from this process: when
// this process ends in any way the pipe closes, and it kills the postmaster and its children (found in /proc as
// above) and removes the server's folder. Its own session, so a Ctrl-C to jest's process group cannot kill it first.
// dash's kill takes "-s KILL -- -PGID" but not "-KILL -- -PGID".
function startReaper(pid, root) {
  const script = [
    'read _',
    'kill -s STOP "$1" 2>/dev/null',
    'for f in /proc/[0-9]*/stat; do',
    '  read -r p c s pp rest < "$f" 2>/dev/null || continue',
    '  [ "$pp" = "$1" ] && { kill -s KILL -- "-$p" || kill -s KILL "$p"; } 2>/dev/null',
    'done',
    'kill -s KILL "$1" 2>/dev/null',
    'rm -rf -- "$2"',
  ].join('\n');
  const reaper = spawn('sh', ['-c', script, 'tbase-pg-reaper', String(pid), root], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  reaper.unref();
  reaper.stdin.unref();
  return reaper;
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}
/** Resolves true when the child has exited, false after `ms`. */
function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  child.ref(); // it was unref'd so that a forgotten server cannot hold jest open; here we do want its exit
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(exited(child)), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function readLog(logPath) {
  try {
    return readFileSync(logPath, 'utf8');
  } catch {
    return '';
  }
}

async function waitReady(child, port, logPath) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (exited(child)) break;
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      // Refused while the postmaster binds, or 57P03 "the database system is starting up".
      await client.end().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const why = exited(child) ? `exited (${child.exitCode ?? child.signalCode})` : 'did not accept connections within 15 s';
  throw new Error(`PostgreSQL on port ${port} ${why}. Its log:\n${readLog(logPath)}`);
}

async function createDatabase(port, database) {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}
