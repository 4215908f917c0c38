import type { CommandSpec } from './types.js';
import { checkValueSize, MAX_VALUE_BYTES, parseDuration, parseKey, parseRevision, requireArg } from './args.js';
import { writeOne } from './write-result.js';
import { UsageError } from '../errors.js';
import type { Condition } from '../store/writes.js';

export interface SetOptions {
  key: string;
  /** The value as given, or null for `-` (read stdin byte for byte). */
  value: Buffer | null;
  ttlSeconds: number | null;
  /** Keep the key's current expiry (a new key gets none). */
  keepTtl: boolean;
  /** Checked inside the write transaction; not met: nothing changes, exit 4. */
  condition: Condition | undefined;
}

const usage = 'set <key> <value|-> [--ttl D | --keep-ttl] [--if-absent | --if-revision N | --if-value OLD]';

export const setCommand: CommandSpec<SetOptions> = {
  name: 'set',
  summary: 'store a value (`-` reads it from stdin, byte for byte); --if-… make it a compare-and-set',
  args: [
    { name: 'key', required: true, description: 'any non-empty UTF-8 string up to 1024 bytes' },
    { name: 'value', required: true, description: 'the value, or - to read it from stdin' },
  ],
  options: [
    { flags: '--ttl <duration>', description: 'expire after 90, 90s, 5m, 2h or 1d' },
    { flags: '--keep-ttl', description: 'keep the expiry the key has (default: a set without --ttl clears it)' },
    { flags: '--if-absent', description: 'only if the key does not exist' },
    { flags: '--if-revision <n>', description: 'only if the key is at revision n (0: does not exist)' },
    { flags: '--if-value <old>', description: 'only if the key holds exactly this value' },
  ],
  examples: [
    'tbase set greeting "hello world"',
    'tbase set session:42 token --ttl 15m',
    'tbase set photo - < photo.jpg',
    'tbase set leader host-a --if-absent',
    'tbase set config v2 --if-revision 17',
  ],
  parse([key, value], opts) {
    const raw = requireArg(value, 'value', usage);
    if (opts.keepTtl === true && opts.ttl !== undefined) throw new UsageError('--ttl and --keep-ttl cannot go together');
    return {
      key: parseKey(key, usage),
      value: raw === '-' ? null : checkValueSize(Buffer.from(raw, 'utf8')),
      ttlSeconds: opts.ttl === undefined ? null : parseDuration(String(opts.ttl)),
      keepTtl: opts.keepTtl === true,
      condition: parseCondition(opts),
    };
  },
  async run(ctx, { key, value, ttlSeconds, keepTtl, condition }) {
    const bytes = value ?? (await ctx.readValueFromStdin(MAX_VALUE_BYTES));
    const store = await ctx.store(); // first: a shared database's clock is known once it is open (context.ts)
    const expiresAt = ttlSeconds === null ? null : ctx.now() + ttlSeconds * 1000;
    const write = { op: 'set' as const, key, value: bytes, expiresAt, keepTtl, condition };
    return (await writeOne(store, write)).answer;
  },
};

/** At most one of --if-absent, --if-revision N, --if-value OLD. */
export function parseCondition(opts: Record<string, unknown>): Condition | undefined {
  const given: Condition[] = [];
  if (opts.ifAbsent === true) given.push({ kind: 'absent' });
  if (opts.ifRevision !== undefined) given.push({ kind: 'revision', revision: parseRevision(opts.ifRevision, '--if-revision') });
  if (opts.ifValue !== undefined) given.push({ kind: 'value', value: checkValueSize(Buffer.from(String(opts.ifValue), 'utf8')) });
  if (given.length > 1) throw new UsageError('give at most one of --if-absent, --if-revision and --if-value');
  return given[0];
}
