/** The one-shot fast path (src/argv.ts) must give exactly commander's outcome for every line it accepts. */
import { parseSimpleCommandLine } from '../../src/argv.js';
import { parseCommandLine } from '../../src/program.js';

const viaCommander = (argv: string[]) => parseCommandLine(argv, '0.0.0', { writeOut: () => undefined });

test.each([
  ['get', 'k'],
  ['set', 'k', 'v'],
  ['set', 'key with spaces', 'value with spaces'],
  ['set', 'ключ', 'значение'],
  ['delete', 'k'],
  ['del', 'k'],
  ['rm', 'k'],
  ['ttl', 'k'],
  ['stats'],
  ['import', 'file.json'],
  ['--db', '/tmp/x.db', 'get', 'k'],
  ['--servers', 'a:1,b:2', '--json', '--no-cache', 'set', 'k', 'v'],
  ['--db', 'one.db', '--db', 'two.db', 'get', 'k'],
  ['--json', 'get', 'help'],
  ['get', 'a', 'b'],
  ['get', 'a', 'b c', 'ключ'],
  ['list'],
  ['list', 'user:'],
  ['export'],
  ['incr', 'n'],
  ['decr', 'n', '5'],
])('%j: the same outcome as through commander', (...argv) => {
  const fast = parseSimpleCommandLine(argv);
  expect(fast).not.toBeNull();
  const reference = viaCommander(argv);
  expect(reference.kind).toBe('command');
  if (fast === null || reference.kind !== 'command') return;
  expect(fast.invocation.spec).toBe(reference.invocation.spec);
  expect(fast.invocation.options).toEqual(reference.invocation.options);
  // commander reports flags not given as absent or with their defaults; both resolve alike (config.ts).
  expect({ ...fast.flags, cache: fast.flags.cache !== false }).toEqual({ ...reference.flags, cache: reference.flags.cache !== false });
});

test.each([
  [[]],
  [['--help']],
  [['-V']],
  [['get']],
  [['get', '-n', 'k']],
  [['get', 'k', '--json']],
  [['set', 'k', '-5']],
  [['set', 'k', '-']],
  [['set', 'k', 'v', '--ttl', '5m']],
  [['list', 'a', 'b']],
  [['incr', 'n', '-5']],
  [['delete', '--prefix', 'p']],
  [['set', 'k', 'v', '--if-revision', '3']],
  [['GET', 'k']],
  [['nope', 'k']],
  [['batch', 'file']],
  [['serve']],
  [['--db', '--json', 'get', 'k']],
  [['--db=x.db', 'get', 'k']],
  [['help', 'get']],
])('%j goes to commander', (argv) => {
  expect(parseSimpleCommandLine(argv)).toBeNull();
});

test('a bad argument fails the same way on both paths', () => {
  expect(() => parseSimpleCommandLine(['get', ''])).toThrow(expect.objectContaining({ message: expect.any(String) }));
  let fastError: unknown;
  let commanderError: unknown;
  try {
    parseSimpleCommandLine(['get', '']);
  } catch (error) {
    fastError = error;
  }
  try {
    viaCommander(['get', '']);
  } catch (error) {
    commanderError = error;
  }
  expect(fastError).toEqual(commanderError);
  expect((fastError as Error).constructor).toBe((commanderError as Error).constructor);
});
