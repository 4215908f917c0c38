/**
 * The Keyboard with real Inquirer prompts (ours and stock ones) on a stream standing in for the terminal: keys
 * typed ahead, split and timed any way, reach the prompt waiting for them; Ctrl-C and Ctrl-D cancel questions.
 */
import { PassThrough } from 'node:stream';
import { AbortPromptError } from '@inquirer/core';
import { confirm, input } from '@inquirer/prompts';
import { Keyboard } from '../../src/repl/keyboard.js';
import { linePrompt, type LinePromptConfig } from '../../src/repl/line-prompt.js';
import { pickList } from '../../src/repl/pick-list.js';
import { checkProperty, fc } from '../helpers/pbt.js';

const keyboards: Keyboard[] = [];
afterEach(() => {
  for (const keyboard of keyboards.splice(0)) keyboard.stop();
});

function terminal() {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  stdout.resume(); // what the prompts draw is not looked at here
  const keyboard = new Keyboard({ input: stdin, output: stdout });
  keyboard.start();
  keyboards.push(keyboard);
  return { stdin, keyboard };
}

const pause = (ms: number) => new Promise((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));

function lineConfig(overrides: Partial<LinePromptConfig> = {}): LinePromptConfig {
  return { prompt: () => 'tbase> ', history: [], lookupKeys: async () => ({ keys: [], truncated: false }), ...overrides };
}

const KEYS = ['greeting', 'greetings', 'other'];
/** The store's prefix lookup, taking `ms` to answer. */
const slowKeys = (ms: number) => async (prefix: string) => {
  await pause(ms);
  return KEYS.filter((key) => key.startsWith(prefix));
};

/** What the REPL does for `delete` alone: line, pick-list, confirmation, next line. */
async function deleteSession(keyboard: Keyboard, lookupMs: number, commandMs: number) {
  const question = { ctrlCancels: true };
  const first = await keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false });
  await pause(commandMs); // the loop opens the store, counts keys…
  const key = await keyboard.ask(pickList, { message: 'Key to delete', source: slowKeys(lookupMs) }, question);
  const sure = await keyboard.ask(confirm, { message: `Delete ${key}?`, default: false }, question);
  await pause(commandMs); // the delete runs
  const next = await keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false });
  return { first, key, sure, next };
}

const TYPED = 'delete\rgreeting\ry\rget greeting\r';
const EXPECTED = { first: { kind: 'line', line: 'delete' }, key: 'greeting', sure: true, next: { kind: 'line', line: 'get greeting' } };

test('everything typed before the first prompt exists reaches each prompt in turn', async () => {
  const { stdin, keyboard } = terminal();
  stdin.write(TYPED);
  await expect(deleteSession(keyboard, 5, 5)).resolves.toEqual(EXPECTED);
});

test('property: however the keys are split and timed, and however slow the lookups, every key lands where it was meant', async () => {
  const cuts = fc.uniqueArray(fc.integer({ min: 1, max: TYPED.length - 1 }), { maxLength: 8 }).map((at) => [...at].sort((a, b) => a - b));
  await checkProperty(
    'keyboard: type-ahead split and timed any way',
    fc.asyncProperty(cuts, fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 9, maxLength: 9 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 3 }), async (at, gaps, lookupMs, commandMs) => {
      const { stdin, keyboard } = terminal();
      const chunks = [0, ...at].map((start, i) => TYPED.slice(start, at[i] ?? TYPED.length));
      const typing = (async () => {
        for (const [i, chunk] of chunks.entries()) {
          await pause(gaps[i]!);
          stdin.write(chunk);
        }
      })();
      const answers = await deleteSession(keyboard, lookupMs, commandMs);
      await typing;
      expect(answers).toEqual(EXPECTED);
      keyboard.stop();
    }),
    { runs: 60 },
  );
});

test('a pasted block gives each line prompt one line, and the unfinished end waits in the next', async () => {
  const { stdin, keyboard } = terminal();
  stdin.write('set a 1\r\nset b 2\rget');
  const lines: unknown[] = [];
  for (let i = 0; i < 2; i++) lines.push(await keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false }));
  const third = keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false });
  stdin.write(' a\r');
  lines.push(await third);
  expect(lines).toEqual([
    { kind: 'line', line: 'set a 1' },
    { kind: 'line', line: 'set b 2' },
    { kind: 'line', line: 'get a' },
  ]);
});

test('Tab typed ahead completes before the keys after it apply', async () => {
  const { stdin, keyboard } = terminal();
  stdin.write('get gr\t\r');
  const lookupKeys = async (prefix: string) => {
    await pause(10);
    return { keys: ['greeting'].filter((key) => key.startsWith(prefix)), truncated: false };
  };
  await expect(keyboard.ask(linePrompt, lineConfig({ lookupKeys }), { ctrlCancels: false })).resolves.toEqual({ kind: 'line', line: 'get greeting ' });
});

describe.each([
  ['Ctrl-C', '\x03'],
  ['Ctrl-D', '\x04'],
])('%s', (_name, key) => {
  test('cancels a question, typed ahead or not, and the next prompt gets the keys after it', async () => {
    const { stdin, keyboard } = terminal();
    stdin.write(`gree${key}stats\r`);
    const question = { ctrlCancels: true };
    await expect(keyboard.ask(pickList, { message: 'Key', source: slowKeys(5) }, question)).rejects.toBeInstanceOf(AbortPromptError);
    await expect(keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false })).resolves.toEqual({ kind: 'line', line: 'stats' });
    const asked = keyboard.ask(input, { message: 'Key' }, question);
    await pause(5);
    stdin.write(`user:1${key}`);
    await expect(asked).rejects.toBeInstanceOf(AbortPromptError);
  });

  test('on an empty line prompt, leaves', async () => {
    const { stdin, keyboard } = terminal();
    stdin.write(key);
    await expect(keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false })).resolves.toEqual({ kind: 'exit' });
  });
});

test('Ctrl-C while a command runs interrupts it and drops what was typed ahead; between commands it is kept as a key', async () => {
  const { stdin, keyboard } = terminal();
  let interrupts = 0;
  const stopListening = keyboard.onInterrupt(() => interrupts++);
  stdin.write('get a\r');
  await pause(5);
  stdin.write('\x03');
  await pause(5);
  stopListening();
  expect(interrupts).toBe(1);
  stdin.write('x\x03stats\r'); // no command runs: Ctrl-C is the line prompt's (it clears the line)
  await expect(keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false })).resolves.toEqual({ kind: 'line', line: 'stats' });
  expect(interrupts).toBe(1);
});

test('the end of input cancels the waiting prompt once the keys before it are used', async () => {
  const { stdin, keyboard } = terminal();
  stdin.end('y\r');
  await expect(keyboard.ask(confirm, { message: 'Sure?' }, { ctrlCancels: true })).resolves.toBe(true);
  await expect(keyboard.ask(linePrompt, lineConfig(), { ctrlCancels: false })).rejects.toBeInstanceOf(AbortPromptError);
});
