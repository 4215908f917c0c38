/**
 * Runs the CLI's entry (src/cli.ts `main`) inside the test process, piped, against real memcached: the same
 * parsing, commands, rendering and exit codes as the bin without a process start, for properties that need
 * hundreds of runs. stdout is kept as bytes.
 */
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli.js';
import { IO } from '../../src/io.js';
import { testServers } from './temp.js';

export interface InProcessResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** `tbase --db <db> --servers <test memcached> …args`, with `stdin` piped in. */
export async function runInProcess(db: string, args: string[], stdin: Buffer | string = ''): Promise<InProcessResult> {
  const input = new PassThrough();
  input.end(stdin);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk));
  stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const io = new IO({ stdin: input, stdout, stderr, isStdinTTY: false, isStdoutTTY: false, isStderrTTY: false, env: {} });
  const code = await main(['--db', db, '--servers', testServers(), ...args], io, {});
  // Everything written has reached the listeners once both streams have ended.
  await Promise.all(
    [stdout, stderr].map(
      (stream) =>
        new Promise((resolve) => {
          stream.once('end', resolve);
          stream.end();
        }),
    ),
  );
  return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
}
