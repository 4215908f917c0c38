/** Validation of the words commands share: keys, values, durations, counts. Each failure is a UsageError. */
import { UsageError } from '../errors.js';

export const MAX_KEY_BYTES = 1024;
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;

export function requireArg(value: string | undefined, name: string, usage: string): string {
  if (value === undefined) throw new UsageError(`missing <${name}>; usage: ${usage}`);
  return value;
}

export function parseKey(raw: string | undefined, usage: string): string {
  const key = requireArg(raw, 'key', usage);
  if (key === '') throw new UsageError('key is empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new UsageError(`key is ${bytes} bytes; the limit is ${MAX_KEY_BYTES}`);
  if (hasLoneSurrogate(key)) throw new UsageError('key is not valid UTF-8');
  return key;
}

/**
 * Whether `text` holds a lone surrogate, which has no UTF-8 form (Buffer.from would write U+FFFD instead). Most
 * text holds no surrogate at all, which one scan shows without a copy.
 */
export function hasLoneSurrogate(text: string): boolean {
  return /[\uD800-\uDFFF]/.test(text) && /[\uD800-\uDFFF]/u.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''));
}

export function checkValueSize(value: Buffer): Buffer {
  if (value.length > MAX_VALUE_BYTES) {
    throw new UsageError(`value is ${value.length} bytes; the limit is ${MAX_VALUE_BYTES} (64 MiB)`);
  }
  return value;
}

/** Far beyond any real use, and keeps expiry timestamps exact. */
const MAX_TTL_SECONDS = 100 * 365 * 86400;
const UNIT_SECONDS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `90`, `90s`, `5m`, `2h`, `1d` → seconds. Zero, negative, fractional or anything else is a usage error. */
export function parseDuration(raw: string): number {
  const match = /^(\d+)([smhd]?)$/i.exec(raw.trim());
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2]!.toLowerCase()]! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new UsageError(`bad TTL ${JSON.stringify(raw)}: use a positive whole number with an optional unit, e.g. 90, 90s, 5m, 2h, 1d`);
  }
  if (seconds > MAX_TTL_SECONDS) throw new UsageError(`bad TTL ${JSON.stringify(raw)}: the longest is 100 years`);
  return seconds;
}

export function parseLimit(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`bad --limit ${JSON.stringify(raw)}: use a positive whole number`);
  }
  return n;
}

/** A revision: a whole number, 0 or more (0 in a condition means "absent"). */
export function parseRevision(raw: unknown, name: string): number {
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`bad ${name} ${JSON.stringify(raw)}: use a revision, a whole number (0: the key must not exist)`);
  }
  return n;
}

/** A counter step: a signed 64-bit decimal integer. */
export function parseStep(raw: string | undefined): bigint {
  if (raw === undefined) return 1n;
  const match = /^[-+]?\d{1,19}$/.test(raw) ? BigInt(raw) : null;
  if (match === null || match > (1n << 63n) - 1n || match < -(1n << 63n)) {
    throw new UsageError(`bad step ${JSON.stringify(raw)}: use a whole number that fits in a signed 64-bit integer`);
  }
  return match;
}
