/** `incr` and `decr`: one counter command, two names, the step's sign the only difference. */
import type { CommandSpec } from './types.js';
import { parseKey, parseStep } from './args.js';
import { writeOne } from './write-result.js';

export interface IncrOptions {
  key: string;
  /** Signed; decr negates its step. */
  by: bigint;
}

function counterCommand(name: 'incr' | 'decr'): CommandSpec<IncrOptions> {
  const sign = name === 'incr' ? 1n : -1n;
  return {
    name,
    summary: `${name === 'incr' ? 'add to' : 'subtract from'} a signed 64-bit counter (missing key = 0, TTL kept); prints the new value`,
    args: [
      { name: 'key', required: true, description: 'the counter' },
      { name: 'by', required: false, description: 'the step (default 1)' },
    ],
    options: [],
    examples: [`tbase ${name} visits`, `tbase ${name} quota:alice 5`],
    parse([key, by]) {
      return { key: parseKey(key, `${name} <key> [BY]`), by: sign * parseStep(by) };
    },
    async run(ctx, { key, by }) {
      const write = { op: 'incr' as const, key, by };
      return (await writeOne(await ctx.store(), write)).answer;
    },
  };
}

export const incrCommand = counterCommand('incr');
export const decrCommand = counterCommand('decr');
