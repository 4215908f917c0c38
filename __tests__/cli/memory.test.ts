/**
 * memory.ts: work of any size runs with V8's heap growth bounded. Checked in a child process (the flags are
 * process-wide), against a control without the bound, so the test shows the bound is what keeps the young
 * generation small.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const memoryModule = fileURLToPath(new URL('../../dist/memory.js', import.meta.url));

/** Allocates like a batch: a group of objects kept alive across a few collections, over and over. */
const workload = `
  const groups = [];
  for (let round = 0; round < 400; round++) {
    const group = Array.from({ length: 2000 }, (_, i) => ({ key: 'key:' + round + ':' + i, value: Buffer.from('v' + i) }));
    groups.push(group);
    if (groups.length > 3) groups.shift();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const v8 = await import('node:v8');
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  console.log(young.space_size);
`;

function youngGenerationBytes(bounded: boolean): number {
  const script = `${bounded ? `(await import(${JSON.stringify(memoryModule)})).boundHeapGrowth();` : ''}${workload}`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return Number(run.stdout.trim());
}

test('the young generation stops growing at 2 × 2 MiB; without the bound it grows past that', () => {
  const bounded = youngGenerationBytes(true);
  const unbounded = youngGenerationBytes(false);
  expect(bounded).toBeGreaterThan(0);
  expect(bounded).toBeLessThanOrEqual(4 * 1024 * 1024);
  expect(unbounded).toBeGreaterThan(4 * 1024 * 1024);
});
