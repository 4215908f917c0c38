/**
 * Peak memory of the work that has no size bound: batch mode, and list, export and import (docs/architecture.md, "Memory").
 *
 * V8 sizes its heap for throughput. While objects survive its young-generation collections — and a batch's
 * group in flight always does — it doubles the young generation up to 2 × 16 MiB, and it lets the old generation
 * grow to several times its live size before a full collection. Together that was about as much memory as the
 * whole rest of the process (a 1M-line batch peaked at 93 MiB, against Node's own 40 MiB), and it grew with the
 * input. So this work bounds both:
 *  - the young generation stops growing at 2 × 4 MiB in batch: each semi-space then holds a group in flight with
 *    room to spare, so its objects die young instead of being copied twice and promoted. (At 2 × 2 MiB, the bound
 *    before, most were: a collection every ~780 lines and ~0.7 KB a line promoted; a 100k `set` batch takes ~13%
 *    less CPU with the larger bound.) List, export, import and watch stop at 2 × 2 MiB: their rows die as soon
 *    as written.
 *  - in batch, the old generation is marked again as soon as a full collection is over (the incremental-marking
 *    triggers: marking starts once it holds 30% of what V8 would let it reach, which it does just after a
 *    collection). V8 lets it grow by at least 8 MiB plus the young generation's size over its live size before
 *    collecting; marked continuously, it stays within a few MiB of it. That pays for the larger young generation:
 *    a 1M-line batch peaks no higher than with 2 × 2 MiB and V8's schedule. The cost is twice as many full
 *    collections (~20 for 1M lines), mostly on helper threads. (The other work keeps V8's schedule: marking
 *    continuously made `list` ~10% slower, for no less memory.)
 *  - the old generation grows by a fifth of its live size (--heap-growing-percent), where V8's factor is larger.
 *
 * All are V8 flags that its collector reads as it runs, so they can be set after start-up. They are not set for
 * plain one-shot commands (loading node:v8 costs ~3 ms, and those allocate little), nor in bin/tbase: V8 rejects a
 * code cache recorded under other flags (scripts/bundle.js records it under the defaults).
 */

import type * as PerfHooks from 'node:perf_hooks';
import type * as V8 from 'node:v8';

let bounded = false;

/** `holds`: what the work keeps alive — `rows` that die as soon as written (list, export, import, watch), or batch `groups`. */
export function boundHeapGrowth(holds: 'rows' | 'groups' = 'rows'): void {
  // A run that records a code cache (scripts/bundle.js, through bin/tbase) leaves the flags as every run starts
  // with them: V8 stamps a cache with the flags of the process that made it, and rejects it under any others.
  if (bounded || process.env.TBASE_RECORD_CODE_CACHE) return;
  bounded = true;
  // Synchronously and without import(): the bundle runs in a vm.Script (bin/tbase), which has no loader for import().
  const v8 = process.getBuiltinModule('node:v8') as typeof V8;
  const { PerformanceObserver } = process.getBuiltinModule('node:perf_hooks') as typeof PerfHooks;
  v8.setFlagsFromString('--heap-growing-percent=20');
  const youngBytes = (holds === 'groups' ? 8 : 4) * 1024 * 1024; // new_space counts both semi-spaces
  if (holds === 'groups') {
    v8.setFlagsFromString('--incremental-marking-soft-trigger=30');
    v8.setFlagsFromString('--incremental-marking-hard-trigger=40');
  }
  // V8 grows the young generation only during a collection, one doubling at a time; after each collection, once it
  // has reached the bound, growth is turned off (a growth factor of 1) and nothing more needs watching.
  const observer = new PerformanceObserver(() => {
    const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    if (!young || young.space_size < youngBytes) return;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}
