import { quoteWord, splitLine } from '../src/grammar.js';

describe('splitLine', () => {
  test.each([
    ['set k v', ['set', 'k', 'v']],
    ['  get\tk  ', ['get', 'k']],
    ['set "a key" \'single quoted\'', ['set', 'a key', 'single quoted']],
    ['set k "line\\nbreak\\ttab \\"q\\" back\\\\slash"', ['set', 'k', 'line\nbreak\ttab "q" back\\slash']],
    ['set k "unknown \\x escape"', ['set', 'k', 'unknown \\x escape']],
    ["set k 'no \\n escapes in single'", ['set', 'k', 'no \\n escapes in single']],
    ['set k a"b c"d', ['set', 'k', 'ab cd']],
    ['set k ""', ['set', 'k', '']],
    ['set k v\r', ['set', 'k', 'v']],
    ['set k #not-a-comment', ['set', 'k', '#not-a-comment']],
    ['set ключ 🔑', ['set', 'ключ', '🔑']],
  ])('%j', (line, words) => {
    expect(splitLine(line)).toEqual(words);
  });

  test('blank lines and comments have no words', () => {
    for (const line of ['', '   ', '\t', '# comment', '   # indented comment', '\r']) expect(splitLine(line)).toBeNull();
  });

  test('an open quote is a usage error', () => {
    expect(() => splitLine('set "open')).toThrow('unterminated double quote');
    expect(() => splitLine("set 'open")).toThrow('unterminated single quote');
    expect(() => splitLine('set "ends with escaped quote\\"')).toThrow('unterminated double quote');
  });

  test('each line gets words of its own (splitLine gathers them in one reused array)', () => {
    const first = splitLine('set a 1 extra words here')!;
    const second = splitLine('get b')!;
    expect(first).toEqual(['set', 'a', '1', 'extra', 'words', 'here']);
    expect(second).toEqual(['get', 'b']);
    second.push('pushed');
    expect(splitLine('del c')).toEqual(['del', 'c']);
    expect(() => splitLine('set d "open')).toThrow('unterminated double quote');
    // A line after a failed one is split on its own.
    expect(splitLine('x')).toEqual(['x']);
  });

  test('a 64 MiB word is split in linear time', () => {
    const value = 'v'.repeat(64 * 1024 * 1024);
    expect(splitLine(`set k ${value}`)?.[2]?.length).toBe(value.length);
  });
});

describe('quoteWord', () => {
  test.each(['plain', '', 'with space', 'tab\there', 'new\nline', 'q"uote', "single'q", 'back\\slash', '#hash'])(
    'round-trips %j through splitLine',
    (word) => {
      expect(splitLine(`set ${quoteWord(word)} v`)).toEqual(['set', word, 'v']);
    },
  );
});
