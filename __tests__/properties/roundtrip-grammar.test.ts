/**
 * The REPL/batch line grammar (src/grammar.ts): quoteWord is what the REPL's completion and history use to write
 * a word back into a line, so for any words, quoting each and joining them with blanks splits back into exactly
 * those words — whatever blanks join them, with a CRLF ending, and for words the grammar itself produced. And
 * splitLine never fails on any text except with the one documented usage error, an unterminated quote.
 */
import { UsageError } from '../../src/errors.js';
import { quoteWord, splitLine } from '../../src/grammar.js';
import { checkProperty, fc } from '../helpers/pbt.js';
import { textArb } from './arbitraries.js';

/** One UTF-16 code unit, any (fast-check 4 has no char16bits). */
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));

/** Any JS string: the tricky text, any code point, and raw UTF-16 units (lone surrogates too: the grammar works on strings). */
const wordArb = fc.oneof(
  { weight: 6, arbitrary: textArb() },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: utf16Unit, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '#', '#x', '"', "'", '\\', '\\"', '"\'"', '\r', 'a\r', '\t\r\n') },
);
const wordsArb = fc.array(wordArb, { minLength: 1, maxLength: 8 });
const blanksArb = fc.stringMatching(/^[ \t]{1,3}$/);

test('quote each word, join with blanks: splitLine gives the words back', async () => {
  await checkProperty(
    'roundtrip-grammar: quoteWord → splitLine',
    fc.property(wordsArb, (words) => {
      expect(splitLine(words.map(quoteWord).join(' '))).toEqual(words);
    }),
    { runs: 3000 },
  );
});

test('any blanks between, before and after the words, and a CRLF ending, change nothing', async () => {
  await checkProperty(
    'roundtrip-grammar: blanks and CRLF',
    fc.property(wordsArb, fc.array(blanksArb, { minLength: 9, maxLength: 9 }), fc.boolean(), fc.boolean(), (words, blanks, lead, crlf) => {
      const inner = words.map((word, i) => (i === 0 ? '' : blanks[i]!) + quoteWord(word)).join('');
      const line = `${lead ? blanks[0] : ''}${inner}${blanks[8]}${crlf ? '\r' : ''}`;
      expect(splitLine(line)).toEqual(words);
    }),
    { runs: 2000 },
  );
});

/** Lines (no LF: batch and the REPL cut lines there) of grammar characters, so quotes, escapes and comments meet often. */
const lineArb = fc
  .oneof(
    fc.string({ unit: fc.constantFrom(' ', '\t', '"', "'", '\\', 'n', 't', '#', 'a', '\r', 'é', '\0', '\u00a0', '\ufeff'), maxLength: 30 }),
    fc.string({ unit: utf16Unit, maxLength: 30 }),
    textArb(10),
  )
  .map((line) => line.replace(/\n/g, ''));

test('splitLine never throws on any text but the unterminated-quote usage error; what it splits quotes back to itself', async () => {
  await checkProperty(
    'roundtrip-grammar: splitLine total',
    fc.property(lineArb, (line) => {
      let words: string[] | null;
      try {
        words = splitLine(line);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        expect((error as Error).message).toMatch(/^unterminated (double|single) quote$/);
        return;
      }
      if (words === null) {
        // Skipped: white space only, or `#` first after white space. (Any white space, not only the blanks that
        // separate words: a line of a lone NBSP or CR is skipped, not run as a command. quoteWord quotes all white
        // space, so no line it writes is ever skipped: the round trips above show it.)
        expect(line).toMatch(/^\s*(#.*)?$/su);
        return;
      }
      expect(words.length).toBeGreaterThan(0);
      expect(splitLine(words.map(quoteWord).join(' '))).toEqual(words);
    }),
    { runs: 5000 },
  );
});
