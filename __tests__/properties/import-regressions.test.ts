/**
 * Documents the import property (roundtrip-import.test.ts) found to be imported although they are not valid
 * exports: each must be refused as malformed, with nothing imported. Read through the real reader (readExport).
 */
import { readExport } from '../../src/transfer/format.js';

async function read(document: string | Buffer): Promise<number> {
  let writes = 0;
  for await (const chunk of readExport([document])) writes += chunk.length;
  return writes;
}

const HEAD = '{"format":"tenantbase-export","version":2,"entries":[\n';
const ENTRY = '{"key":"k","value":"v","expiresAt":null,"revision":1,"createRevision":1,"version":1}\n';

test('a valid streamed document still reads (the baseline of the cases below)', async () => {
  expect(await read(`${HEAD}${ENTRY}],"revision":1,"count":1}\n\n \t\r\n`)).toBe(1);
});

test('bug: Unicode white space (NBSP, BOM) after the end of a streamed document was taken for blank', async () => {
  for (const junk of ['\u00a0', '\ufeff', '\u2028', '\u3000']) {
    await expect(read(`${HEAD}${ENTRY}],"revision":1,"count":1}\n${junk}`)).rejects.toThrow(/malformed import: line 4: text after the end/);
    await expect(read(`${HEAD}${ENTRY}],"revision":1,"count":1}${junk}\n`)).rejects.toThrow(/malformed import/);
  }
});

test('bug: a streamed footer revision past 2^53 (or with leading zeros) was imported: the database revision would jump to an inexact number', async () => {
  for (const footer of ['"revision":99999999999999999999,"count":1', '"revision":9007199254740993,"count":1', '"revision":01,"count":1', '"revision":1,"count":01']) {
    await expect(read(`${HEAD}${ENTRY}],${footer}}\n`)).rejects.toThrow(/malformed import/);
  }
});

test('bug: a text value holding a lone surrogate ("\\ud800" escape) was imported as U+FFFD instead of refused', async () => {
  for (const value of ['\\ud800', 'a\\udc00b', '\\udbff\\udbff\\udfff']) {
    const entry = `{"key":"k","value":"${value}","expiresAt":null}\n`;
    await expect(read(`${HEAD}${entry}],"count":1}\n`)).rejects.toThrow(/malformed import: line 2: "value" is not valid UTF-8 text/);
    await expect(read(`{"format":"tenantbase-export","version":2,"entries":[${entry}],"count":1}`)).rejects.toThrow(/malformed import: entry 1/);
  }
  expect(await read(`${HEAD}{"key":"k","value":"\\ud83d\\udd11","expiresAt":null}\n],"count":1}\n`)).toBe(1); // a pair is text
});
