/** Batch planning: the fast path (plain words straight to the command's own parse) must equal commander's parse. */
import { commands } from '../../src/commands/index.js';
import { splitLine } from '../../src/grammar.js';
import { createLineParser } from '../../src/program.js';
import { planLine } from '../../src/batch/plan.js';

const parseWords = createLineParser({ writeOut: () => undefined });

test.each([
  'set a b',
  'set "key with spaces" "value with spaces"',
  'set ключ значение',
  'get a',
  'delete a',
  'ttl a',
  'get a b c',
  'incr n',
  'decr n 7',
  'list',
  'list user:',
])('%s: the same options as through commander', (line) => {
  const words = splitLine(line)!;
  const spec = commands.find((c) => c.name === words[0])!;
  expect(spec.parse(words.slice(1), {})).toEqual(parseWords(words)!.options);
});

test('lines become steps: writes, reads, commands that run alone, invalid lines, nothing for comments', () => {
  const now = 1_000_000;
  const plan = (line: string) => planLine(line, 7, parseWords, now);
  expect(plan('# comment')).toBeNull();
  expect(plan('   ')).toBeNull();
  expect(plan('SET a 1 --ttl 5m')).toEqual({
    line: 7,
    kind: 'write',
    command: 'set',
    write: { op: 'set', key: 'a', value: Buffer.from('1'), expiresAt: now + 300_000, keepTtl: false, condition: undefined },
  });
  expect(plan('set a 1 --if-revision 4 --keep-ttl')).toMatchObject({ kind: 'write', write: { keepTtl: true, condition: { kind: 'revision', revision: 4 } } });
  expect(plan('set a 1 --if-value "x y"')).toMatchObject({ kind: 'write', write: { condition: { kind: 'value', value: Buffer.from('x y') } } });
  expect(plan('delete a --if-revision 0')).toMatchObject({ kind: 'write', write: { op: 'delete', key: 'a', condition: { kind: 'revision', revision: 0 } } });
  expect(plan('incr n')).toEqual({ line: 7, kind: 'write', command: 'incr', write: { op: 'incr', key: 'n', by: 1n } });
  expect(plan('decr n 5')).toMatchObject({ kind: 'write', command: 'decr', write: { op: 'incr', key: 'n', by: -5n } });
  expect(plan('get a b')).toMatchObject({ kind: 'other', command: 'get' }); // one round and one answer line of its own
  expect(plan('delete --prefix p')).toMatchObject({ kind: 'other', command: 'delete' }); // one transaction of its own
  expect(plan('incr n x')).toMatchObject({ kind: 'invalid', command: 'incr' });
  expect(plan('rm a')).toMatchObject({ kind: 'write', command: 'delete', write: { op: 'delete', key: 'a' } });
  expect(plan('get -n a')).toMatchObject({ kind: 'read', command: 'get', key: 'a', newline: false });
  expect(plan('ttl a')).toMatchObject({ kind: 'read', command: 'ttl', key: 'a' });
  expect(plan('set a -')).toMatchObject({ kind: 'other', command: 'set' }); // runs alone, and explains why it cannot
  expect(plan('ls p --limit 2')).toMatchObject({ kind: 'other', command: 'list' });
  expect(plan('get')).toMatchObject({ kind: 'invalid', command: 'get' });
  expect(plan('nope')).toMatchObject({ kind: 'invalid', command: undefined });
  expect(plan('set a "open')).toMatchObject({ kind: 'invalid' });
  expect(plan('set "" v')).toMatchObject({ kind: 'invalid', command: 'set' });
});
