/** Starts the built `tbase serve` as a real process on a free port, against real memcached and a temp SQLite file. */
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/memcached.js';
import { BIN } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

export interface ServerProcess {
  url: string;
  port: number;
  dbPath: string;
  /** The environment the server runs with, for CLI commands on the same database and memcached. */
  env: Record<string, string>;
  child: ChildProcess;
  stderr(): string;
  /** Resolves once stderr contains `text`. */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string | undefined>;
  dbPath?: string;
  /** Resolve as soon as the process exits instead of waiting for the listening line (for refusals). */
  expectExit?: boolean;
}

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const port = await freePort();
  const dbPath = options.dbPath ?? tempDbPath();
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, TBASE_DB: dbPath, TBASE_SERVERS: testServers(), NO_COLOR: '1', ...options.env })) {
    if (value !== undefined && name !== 'FORCE_COLOR') env[name] = value;
  }
  const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), ...(options.args ?? [])], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
    for (const check of waiters) check();
  });
  child.stdout!.resume();
  // 'close' comes after the last stderr chunk, so a waiter that sees it has seen everything the server printed.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitForStderr = (text: string, timeoutMs = 15000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`server did not print ${JSON.stringify(text)} within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const check = () => {
        if (!stderr.includes(text)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      void exited.then(() => {
        if (!waiters.delete(check)) return;
        clearTimeout(timer);
        reject(new Error(`server exited before printing ${JSON.stringify(text)}; stderr: ${stderr}`));
      });
      check();
    });
  const server: ServerProcess = {
    url: `http://127.0.0.1:${port}`,
    port,
    dbPath,
    env: { TBASE_DB: dbPath, TBASE_SERVERS: env.TBASE_SERVERS! },
    child,
    stderr: () => stderr,
    waitForStderr,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (!options.expectExit) await waitForStderr('tbase: serving http://');
  return server;
}

/** Kills servers a failed test left running. */
export async function stopAll(servers: ServerProcess[]): Promise<void> {
  await Promise.all(
    servers.splice(0).map(async (server) => {
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
      await server.stop();
      clearTimeout(timer);
    }),
  );
}

/**
 * One server for the whole test file (or the describe block it is called in): started before its tests, stopped
 * (and temp folders removed) after them. `options` may be a function, called at the start, for options that need
 * awaiting (a database made first). The result reads the running server.
 */
export function serverForFile(options: StartOptions | (() => Promise<StartOptions>) = {}): () => ServerProcess {
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    server = await startServer(typeof options === 'function' ? await options() : options);
  });
  afterAll(async () => {
    if (server) await stopAll([server]);
    removeTempDirs();
  });
  return () => server!;
}
