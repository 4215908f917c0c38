/**
 * colour.ts and IO.loadColours: piped output keeps NO_COLOUR (chalk is never loaded for it), a terminal or
 * FORCE_COLOR gets chalk's escape codes, each stream judged on its own, and NO_COLOR wins over a terminal.
 */
import { PassThrough } from 'node:stream';
import { NO_COLOUR, loadColours } from '../../src/colour.js';
import { IO } from '../../src/io.js';
import { main } from '../../src/cli.js';

function io(options: { stdoutTTY: boolean; stderrTTY: boolean; env?: Record<string, string | undefined> }) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (chunk: Buffer) => chunks.out.push(chunk));
  stderr.on('data', (chunk: Buffer) => chunks.err.push(chunk));
  const made = new IO({
    stdin: new PassThrough(),
    stdout,
    stderr,
    isStdinTTY: false,
    isStdoutTTY: options.stdoutTTY,
    isStderrTTY: options.stderrTTY,
    env: options.env ?? {},
  });
  return { io: made, err: () => Buffer.concat(chunks.err).toString('utf8') };
}

test('NO_COLOUR leaves text as it is, level 0, and loadColours(0) is NO_COLOUR itself', async () => {
  for (const paint of [NO_COLOUR.bold, NO_COLOUR.dim, NO_COLOUR.red, NO_COLOUR.green, NO_COLOUR.yellow, NO_COLOUR.cyan]) {
    expect(paint('a \x1b[31m b\n')).toBe('a \x1b[31m b\n');
  }
  expect(NO_COLOUR.level).toBe(0);
  expect(await loadColours(0)).toBe(NO_COLOUR);
});

test('a level above 0 paints with the escape codes a terminal reads, nested by wrapping', async () => {
  const c = await loadColours(1);
  expect(c.level).toBe(1);
  expect(c.red('x')).toBe('\x1b[31mx\x1b[39m');
  expect(c.green('x')).toBe('\x1b[32mx\x1b[39m');
  expect(c.yellow('x')).toBe('\x1b[33mx\x1b[39m');
  expect(c.cyan('x')).toBe('\x1b[36mx\x1b[39m');
  expect(c.dim('x')).toBe('\x1b[2mx\x1b[22m');
  expect(c.bold(c.cyan('tbase'))).toBe('\x1b[1m\x1b[36mtbase\x1b[39m\x1b[22m');
  expect((await loadColours(3)).level).toBe(3);
});

test('before loadColours, and for piped streams after it, both ends are NO_COLOUR', async () => {
  const piped = io({ stdoutTTY: false, stderrTTY: false });
  expect(piped.io.colour).toBe(NO_COLOUR);
  await piped.io.loadColours();
  expect(piped.io.colour).toBe(NO_COLOUR);
  expect(piped.io.errColour).toBe(NO_COLOUR);

  const terminal = io({ stdoutTTY: true, stderrTTY: true });
  expect(terminal.io.colour).toBe(NO_COLOUR);
  await terminal.io.loadColours();
  expect(terminal.io.colour.level).toBe(2);
  expect(terminal.io.errColour.red('e')).toBe('\x1b[31me\x1b[39m');
});

test('each stream is judged on its own; NO_COLOR beats a terminal, FORCE_COLOR colours a pipe', async () => {
  const mixed = io({ stdoutTTY: false, stderrTTY: true });
  await mixed.io.loadColours();
  expect(mixed.io.colour).toBe(NO_COLOUR);
  expect(mixed.io.errColour.level).toBe(2);

  const noColour = io({ stdoutTTY: true, stderrTTY: true, env: { NO_COLOR: '1' } });
  await noColour.io.loadColours();
  expect(noColour.io.colour).toBe(NO_COLOUR);
  expect(noColour.io.errColour).toBe(NO_COLOUR);

  const forced = io({ stdoutTTY: false, stderrTTY: false, env: { FORCE_COLOR: '1' } });
  await forced.io.loadColours();
  expect(forced.io.colour.level).toBe(1);
  expect(forced.io.errColour.level).toBe(1);
});

test('main() loads the colours before it reports: a usage error is red on a terminal stderr, plain on a pipe', async () => {
  const terminal = io({ stdoutTTY: false, stderrTTY: true });
  expect(await main(['no-such-command'], terminal.io, {})).toBe(2);
  expect(terminal.err()).toMatch(/^\x1b\[31mtbase:\x1b\[39m /);

  const piped = io({ stdoutTTY: false, stderrTTY: false });
  expect(await main(['no-such-command'], piped.io, {})).toBe(2);
  expect(piped.err()).toMatch(/^tbase: /);
  expect(piped.err()).not.toContain('\x1b');
});
