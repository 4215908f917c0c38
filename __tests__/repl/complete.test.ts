import { complete, completionTarget } from '../../src/repl/complete.js';

describe('completionTarget', () => {
  test.each([
    ['', { kind: 'command', prefix: '' }],
    ['se', { kind: 'command', prefix: 'se' }],
    ['help g', { kind: 'command', prefix: 'g' }],
    ['get ', { kind: 'key', prefix: '' }],
    ['GET us', { kind: 'key', prefix: 'us' }],
    ['rm "my k', { kind: 'key', prefix: 'my k' }],
    ["del 'a b", { kind: 'key', prefix: 'a b' }],
    ['set k ', { kind: 'none' }], // the value is not a key
    ['set --ttl 5m us', { kind: 'key', prefix: 'us' }],
    ['set --ttl ', { kind: 'none' }], // a TTL is expected here
    ['ls user:', { kind: 'key', prefix: 'user:' }],
    ['stats ', { kind: 'none' }],
    ['get a b ', { kind: 'key', prefix: '' }], // a multi-get takes any number of keys
    ['incr vis', { kind: 'key', prefix: 'vis' }],
    ['decr visits ', { kind: 'none' }], // the step is not a key
    ['delete --prefix us', { kind: 'key', prefix: 'us' }], // a prefix of keys
    ['set k v --if-revision ', { kind: 'none' }], // a revision is expected here
    ['nosuch x', { kind: 'none' }],
    ['# get x', { kind: 'none' }],
  ])('%j', (line, target) => {
    expect(completionTarget(line)).toEqual(target);
  });

  test('an option of the command', () => {
    expect(completionTarget('get k --no')).toEqual({ kind: 'option', prefix: '--no', options: ['--no-newline'] });
    expect(complete('set k v --if').candidates).toEqual(['--if-absent', '--if-revision', '--if-value']);
    expect(complete('delete --p').line).toBe('delete --prefix ');
    expect(complete('in')).toEqual({ line: 'incr ', candidates: ['incr'] });
    expect(complete('de').candidates).toEqual(['decr', 'del', 'delete']);
  });
});

describe('complete', () => {
  test('the fixed words of `cache pool set`', () => {
    expect(complete('cac')).toEqual({ line: 'cache ', candidates: ['cache'] });
    expect(complete('cache ')).toEqual({ line: 'cache pool ', candidates: ['pool'] });
    expect(complete('cache pool s')).toEqual({ line: 'cache pool set ', candidates: ['set'] });
    expect(complete('cache pool set ')).toEqual({ line: 'cache pool set ', candidates: [] }); // servers: not keys
  });

  test('a unique command name, then a blank', () => {
    expect(complete('sta')).toEqual({ line: 'stats ', candidates: ['stats'] });
  });

  test('command names are case-insensitive', () => {
    expect(complete('STA').line).toBe('stats ');
  });

  test('several commands: extended to what they share, all are listed', () => {
    expect(complete('de')).toEqual({ line: 'de', candidates: ['decr', 'del', 'delete'] });
    expect(complete('del')).toEqual({ line: 'del', candidates: ['del', 'delete'] });
    expect(complete('e').candidates).toEqual(expect.arrayContaining(['exit', 'export']));
  });

  test('a unique key, quoted when it needs it', () => {
    expect(complete('get gr', ['greeting'])).toEqual({ line: 'get greeting ', candidates: ['greeting'] });
    expect(complete('get my', ['my key'])).toEqual({ line: 'get "my key" ', candidates: ['my key'] });
    expect(complete('get "my', ['my key']).line).toBe('get "my key" ');
  });

  test('several keys: extended to what they share, and listed', () => {
    expect(complete('get u', ['user:1', 'user:2'])).toEqual({ line: 'get user:', candidates: ['user:1', 'user:2'] });
    expect(complete('get user:', ['user:1', 'user:2'])).toEqual({ line: 'get user:', candidates: ['user:1', 'user:2'] });
  });

  test('a shared start that needs quoting stays open for more typing', () => {
    expect(complete('get a', ['a b 1', 'a b 2']).line).toBe('get "a b ');
  });

  test('keys that do not start with the word are ignored', () => {
    expect(complete('get us', ['other', 'user'])).toEqual({ line: 'get user ', candidates: ['user'] });
  });

  test('no match leaves the line as it is', () => {
    expect(complete('get zz', [])).toEqual({ line: 'get zz', candidates: [] });
    expect(complete('set k v')).toEqual({ line: 'set k v', candidates: [] });
  });

  test('a truncated lookup never extends the word or finishes it', () => {
    expect(complete('get u', ['user:1'], true)).toEqual({ line: 'get u', candidates: ['user:1'] });
    expect(complete('get u', ['ua', 'ub'], true)).toEqual({ line: 'get u', candidates: ['ua', 'ub'] });
  });

  test('options and help topics', () => {
    expect(complete('get k --no').line).toBe('get k --no-newline ');
    expect(complete('help li').line).toBe('help list ');
  });

  test('the completed line splits back into the intended words', async () => {
    const { splitLine } = await import('../../src/grammar.js');
    const key = 'tab\there "quoted" \\ back';
    expect(splitLine(complete('get t', [key]).line)).toEqual(['get', key]);
  });
});
