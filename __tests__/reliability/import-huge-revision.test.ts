/**
 * Regression (found while generating bad export documents): a document in the line layout whose footer said
 * `"revision":99999999999999999999` was imported, and the database revision became 1e20 — stored as a float, so
 * the next write got the same revision again (revisions must move by one per change, CONTRACT.md "Revisions").
 * Now any document revision that would not stay exact is malformed, in both layouts, and nothing is imported.
 */
import { DatabaseProbe, runInProcess } from '../helpers/bad-input.js';
import { removeTempDirs, tempDbPath, testServers } from '../helpers/temp.js';

afterAll(removeTempDirs);

const entry = '{"key":"b","value":"v","expiresAt":null}';

test.each([
  ['line layout, 20 digits', `{"format":"tenantbase-export","version":2,"entries":[\n${entry}\n],"revision":99999999999999999999,"count":1}\n`],
  ['line layout, 2^53 - 1', `{"format":"tenantbase-export","version":2,"entries":[\n${entry}\n],"revision":9007199254740991,"count":1}\n`],
  ['whole document, 2^53 - 1', `{"format":"tenantbase-export","version":2,"entries":[${entry}],"revision":9007199254740991,"count":1}`],
])('%s: malformed, nothing imported, revisions still move by one', async (_name, document) => {
  const env = { TBASE_DB: tempDbPath(), TBASE_SERVERS: testServers() };
  expect((await runInProcess(['set', 'a', '1'], env)).code).toBe(0);
  const imported = await runInProcess(['import', '-'], env, Buffer.from(document));
  expect(imported.code).toBe(2);
  expect(imported.stderr).toMatch(/^tbase: malformed import: .*"revision" is not a whole number.*; nothing was imported\n$/);
  expect((await runInProcess(['set', 'c', '1'], env)).code).toBe(0);
  const probe = await DatabaseProbe.open(env.TBASE_DB);
  try {
    expect((await probe.snapshot()).split('\n', 1)[0]).toBe('2');
  } finally {
    await probe.close();
  }
});

test('the largest revision that stays exact is still imported', async () => {
  const env = { TBASE_DB: tempDbPath(), TBASE_SERVERS: testServers() };
  const document = `{"format":"tenantbase-export","version":2,"entries":[\n${entry}\n],"revision":9007199254740990,"count":1}\n`;
  expect((await runInProcess(['import', '-'], env, Buffer.from(document))).code).toBe(0);
});
