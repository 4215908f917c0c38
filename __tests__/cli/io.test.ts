/**
 * io.ts: a one-shot answer written straight to stdout's descriptor (no stream made), and what happens around it —
 * the stream taking over, a reader that goes away, a descriptor that would block. In this process against a file,
 * and through the built bin against real pipes.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { IO } from '../../src/io.js';
import { BIN, runTbase } from '../helpers/tbase.js';
import { removeTempDirs, tempDbPath, tempDir } from '../helpers/temp.js';

afterAll(removeTempDirs);

/** An IO whose stdout descriptor is a temp file, and whose stdout stream is a PassThrough that records. */
function fileBackedIO(isStdoutTTY = false) {
  const path = join(tempDir(), 'out');
  const fd = openSync(path, 'w');
  const stream = new PassThrough();
  const streamed: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => streamed.push(chunk));
  let made = 0;
  const io = new IO({
    stdin: new PassThrough(),
    get stdout() {
      made++;
      return stream;
    },
    stderr: new PassThrough(),
    isStdinTTY: false,
    isStdoutTTY,
    isStderrTTY: false,
    env: {},
    stdoutFd: fd,
  });
  return {
    io,
    written: () => readFileSync(path, 'utf8'),
    streamed: () => Buffer.concat(streamed).toString('utf8'),
    streamsMade: () => made,
    close: () => closeSync(fd),
  };
}

describe('writing stdout directly', () => {
  test('strings and bytes go to the descriptor in order, and no stream is made', async () => {
    const out = fileBackedIO();
    out.io.writeStdoutDirectly();
    await out.io.out('é one\n');
    await out.io.out(Buffer.from('two\n'));
    await out.io.flush();
    out.close();
    expect(out.written()).toBe('é one\ntwo\n');
    expect(out.streamsMade()).toBe(0);
  });

  test('once something needs the stream, everything after goes through it', async () => {
    const out = fileBackedIO();
    out.io.writeStdoutDirectly();
    await out.io.out('before\n');
    out.io.promptStreams(); // needs stdout as a stream
    await out.io.out('after\n');
    out.io.writeStdoutDirectly(); // too late: the stream exists, and writes stay on it (their order)
    await out.io.out('last\n');
    out.close();
    expect(out.written()).toBe('before\n');
    expect(out.streamed()).toBe('after\nlast\n');
  });

  test('never to a terminal, and not unless asked', async () => {
    for (const [tty, asked] of [
      [true, true],
      [false, false],
    ]) {
      const out = fileBackedIO(tty);
      if (asked) out.io.writeStdoutDirectly();
      await out.io.out('x\n');
      out.close();
      expect(out.written()).toBe('');
      expect(out.streamed()).toBe('x\n');
    }
  });
});

describe('the built bin', () => {
  const db = tempDbPath();
  const big = 'v'.repeat(3 * 1024 * 1024); // more than a pipe or socket buffer holds
  beforeAll(async () => {
    const set = await runTbase(['--db', db, '--no-cache', 'set', 'big', '-'], { stdin: big });
    expect(set.code).toBe(0);
  });

  test('a reader that is gone before the answer: exit 0, nothing on stderr', async () => {
    const child = spawn(process.execPath, [BIN, '--db', db, '--no-cache', 'get', 'big'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // as `| head -c 0` would
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  test('a descriptor that would block (O_NONBLOCK set by another process) hands the rest to the stream', async () => {
    // libuv makes a child's stdio blocking before it runs, so the middle process starts tbase first and then makes
    // its own process.stdout, which sets O_NONBLOCK on the pipe they share; this process reads only later, so
    // tbase's write(2) meets a full pipe and EAGAIN (checked by hand with strace: direct writes, then EAGAIN, then
    // the stream's writes).
    const args = JSON.stringify([BIN, '--db', db, '--no-cache', 'get', 'big']);
    const middle = `const c = require('node:child_process').spawn(process.execPath, ${args}, { stdio: 'inherit' }); process.stdout; c.on('exit', (code) => (process.exitCode = code));`;
    const child = spawn(process.execPath, ['-e', middle], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pause();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise((resolve) => setTimeout(resolve, 600));
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stdout.resume();
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(Buffer.concat(chunks).toString()).toBe(`${big}\n`);
  });
});
