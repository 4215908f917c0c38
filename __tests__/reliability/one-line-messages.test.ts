/**
 * Regression (found by properties/bad-argv.test.ts): an error message is one line even when the user's words in
 * it hold a newline, and commander's "Did you mean" suggestion stays on the message's line. Before, both printed
 * a second line, which a script reading one line per failure takes for another message.
 */
import { join } from 'node:path';
import { messageLines } from '../helpers/bad-input.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';
import { runTbase } from '../helpers/tbase.js';

afterAll(removeTempDirs);

const env = () => ({ TBASE_DB: tempDbPath(), TBASE_SERVERS: testServers() });

test.each([
  ['an unknown option with a newline in it', ['get', '--bo\ngus'], /^tbase: unknown option '--bo\\ngus'$/],
  ['a suggestion', ['set', '--json=1'], /^tbase: unknown option '--json=1' \(Did you mean --json\?\)$/],
  ['a file name with a newline in a system error', ['import', join('/nonexistent', 'a\nb.json')], /^tbase: cannot read import file "\/nonexistent\/a\\nb.json": .*a\\nb\.json'$/],
  ['an escape character', ['get', '--\x1b[31mred'], /^tbase: unknown option '--\\x1b\[31mred'$/],
])('%s: one line', async (_name, args, message) => {
  const result = await runTbase(args, { env: env() });
  expect(result.code).toBe(2);
  expect(messageLines(result.stderr)).toEqual([expect.stringMatching(message)]);
});

test('batch: a bad option with a carriage return in it is one message line', async () => {
  const result = await runTbase([], { env: env(), stdin: 'get k --x\ry\n' });
  expect(result.code).toBe(2);
  expect(messageLines(result.stderr)).toEqual([expect.stringMatching(/^tbase: line 1: unknown option '--x\\ry'$/)]);
});
