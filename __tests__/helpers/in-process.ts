/**
 * Runs the CLI's entry (src/cli.ts `main`) inside the test process, piped: the same parsing, commands, rendering
 * and exit codes as the bin without a process start, for properties that need hundreds of runs. stdout is kept as
 * bytes.
 */
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli.js';
import { IO } from '../../src/io.js';
import { testServers } from './temp.js';

export interface InProcessRun {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/**
 * main() with piped (not terminal) streams and a stdin that is already closed, so nothing waits for input. Fails
 * after `timeoutMs`: a command that does not finish on closed input hangs.
 */
export async function runInProcess(argv: string[], env: Record<string, string>, stdin: Buffer | string = '', timeoutMs = 15_000): Promise<InProcessRun> {
  const input = new PassThrough();
  input.end(stdin);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const io = new IO({ stdin: input, stdout, stderr, isStdinTTY: false, isStdoutTTY: false, isStderrTTY: false, env });
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${JSON.stringify(argv).slice(0, 300)} did not finish in ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const code = await Promise.race([main(argv, io, env), hang]);
    await io.flush();
    return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
  } finally {
    clearTimeout(timer);
  }
}

/** `tbase --db <db> --servers <test memcached> …args`, with `stdin` piped in. */
export function runOnDb(db: string, args: string[], stdin: Buffer | string = ''): Promise<InProcessRun> {
  return runInProcess(['--db', db, '--servers', testServers(), ...args], {}, stdin);
}
