/**
 * Peak memory of the work that has no size bound: batch mode, and list, export and import (docs/architecture.md, "Memory").
 *
 * V8 sizes its heap for throughput. While objects survive its young-generation collections — and a batch's
 * group in flight always does — it doubles the young generation up to 2 × 16 MiB, and it lets the old generation
 * grow to several times its live size before a full collection. Together that was about as much memory as the
 * whole rest of the process (a 1M-line batch peaked at 93 MiB, against Node's own 40 MiB), and it grew with the
 * input. So this work stops the young generation growing past 2 × 2 MiB, and lets the old generation grow by a
 * fifth of its live size. The cost is more, smaller collections: a few percent of CPU, measured by `npm run bench`.
 *
 * Both are V8 flags that its collector reads as it runs, so they can be set after start-up. They are not set for
 * plain one-shot commands (loading node:v8 costs ~3 ms, and those allocate little), nor in bin/tbase: V8 rejects a
 * code cache recorded under other flags (scripts/bundle.js records it under the defaults).
 */

import type * as PerfHooks from 'node:perf_hooks';
import type * as V8 from 'node:v8';

/** new_space counts both semi-spaces: 4 MiB is semi-spaces of 2 MiB. */
const YOUNG_GENERATION_BYTES = 4 * 1024 * 1024;

let bounded = false;

export function boundHeapGrowth(): void {
  // A run that records a code cache (scripts/bundle.js, through bin/tbase) leaves the flags as every run starts
  // with them: V8 stamps a cache with the flags of the process that made it, and rejects it under any others.
  if (bounded || process.env.TBASE_RECORD_CODE_CACHE) return;
  bounded = true;
  // Synchronously and without import(): the bundle runs in a vm.Script (bin/tbase), which has no loader for import().
  const v8 = process.getBuiltinModule('node:v8') as typeof V8;
  const { PerformanceObserver } = process.getBuiltinModule('node:perf_hooks') as typeof PerfHooks;
  v8.setFlagsFromString('--heap-growing-percent=20');
  // V8 grows the young generation only during a collection, one doubling at a time; after each collection, once it
  // has reached the bound, growth is turned off (a growth factor of 1) and nothing more needs watching.
  const observer = new PerformanceObserver(() => {
    const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    if (!young || young.space_size < YOUNG_GENERATION_BYTES) return;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
