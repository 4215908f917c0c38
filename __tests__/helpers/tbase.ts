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

/**
 * A batch process fed `set keyNNNNNNNN …` lines until it has answered `answers` of them, then killed with SIGKILL
 * (crash tests): resolves to how many it answered and how many were sent.
 */
export async function killBatchMidway(args: string[], env: Record<string, string>, answers = 30_000): Promise<{ answered: number; sent: number }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
  let answered = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    answered += chunk.toString().split('\n').length - 1;
  });
  child.stdin.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let sent = 0;
  while (answered < answers) {
    let text = '';
    for (let i = 0; i < 2000; i++) text += `set ${sentKey(sent++)} ${'v'.repeat(20)}${sent}\n`;
    if (!child.stdin.write(text)) await new Promise((resolve) => child.stdin.once('drain', resolve));
  }
  child.kill('SIGKILL');
  await exited;
  return { answered, sent };
}

/**
 * What a killed batch must leave: every answered command committed (answers follow commits), and exactly a prefix
 * of what was sent (whole committed groups, in input order). `keys` in key order.
 */
export function expectSentPrefix(keys: string[], { answered, sent }: { answered: number; sent: number }): void {
  expect(keys.length).toBeGreaterThanOrEqual(answered);
  expect(keys.length).toBeLessThanOrEqual(sent);
  keys.forEach((key, i) => {
    if (key !== sentKey(i)) throw new Error(`row ${i} is ${key}: not a prefix`);
  });
}

function sentKey(i: number): string {
  return `key${String(i).padStart(8, '0')}`;
}
