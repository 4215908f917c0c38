import type { CommandSpec } from './types.js';
import { checkValueSize, MAX_VALUE_BYTES, parseDuration, parseKey, requireArg } from './args.js';

export interface SetOptions {
  key: string;
  /** The value as given, or null for `-` (read stdin byte for byte). */
  value: Buffer | null;
  ttlSeconds: number | null;
}

const usage = 'set <key> <value|-> [--ttl DURATION]';

export const setCommand: CommandSpec<SetOptions> = {
  name: 'set',
  summary: 'store a value (`-` reads it from stdin, byte for byte)',
  args: [
    { name: 'key', required: true, description: 'any non-empty UTF-8 string up to 1024 bytes' },
    { name: 'value', required: true, description: 'the value, or - to read it from stdin' },
  ],
  options: [{ flags: '--ttl <duration>', description: 'expire after 90, 90s, 5m, 2h or 1d' }],
  examples: ['tbase set greeting "hello world"', 'tbase set session:42 token --ttl 15m', 'tbase set photo - < photo.jpg'],
  parse([key, value], opts) {
    const raw = requireArg(value, 'value', usage);
    return {
      key: parseKey(key, usage),
      value: raw === '-' ? null : checkValueSize(Buffer.from(raw, 'utf8')),
      ttlSeconds: opts.ttl === undefined ? null : parseDuration(String(opts.ttl)),
    };
  },
  async run(ctx, { key, value, ttlSeconds }) {
    const bytes = value ?? (await ctx.readValueFromStdin(MAX_VALUE_BYTES));
    const expiresAt = ttlSeconds === null ? null : ctx.now() + ttlSeconds * 1000;
    await (await ctx.store()).set(key, bytes, expiresAt);
    return { kind: 'stored', key, expiresAt };
  },
};
