/** The property runner itself: a passing property counts its cases, a failing one reports seed, path and counterexample. */
import { checkProperty, fc, pbtRuns } from '../helpers/pbt.js';

test('a passing property runs its cases', async () => {
  let cases = 0;
  await checkProperty('helper: passes', fc.property(fc.integer(), (n) => {
    cases++;
    return n + 0 === n;
  }), { runs: 50 });
  expect(cases).toBe(pbtRuns(50));
});

test('a failing property throws fast-check report with the seed, the path and the shrunk counterexample', async () => {
  const failing = fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (n) => {
    expect(n).toBeLessThan(500);
  });
  await expect(checkProperty('helper: fails', failing, { runs: 200 })).rejects.toThrow(/seed: -?\d+, path: "[\d:]+"[\s\S]*Counterexample: \[500\]/);
});
