/** Runs the built bin as a user would, piped, and collects what it printed. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/tbase', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  out: string;
  ms: number;
}

export interface RunOptions {
  stdin?: string | Buffer;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Working folder (default: this process's). */
  cwd?: string;
}

export function runTbase(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...options.env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  const child = spawn(process.execPath, [BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20000);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      const out = Buffer.concat(stdout);
      resolve({ code, stdout: out, out: out.toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), ms: Date.now() - started });
    });
  });
}
