/**
 * The keys and values every round-trip property draws from (CONTRACT.md, "Data rules"): keys are any non-empty
 * UTF-8 string up to 1024 bytes, values any bytes up to 64 MiB. The generators lean on what breaks quoting,
 * escaping, argv parsing and encodings — blanks, quotes, backslashes, control characters, `#` or `-` first, text in
 * every script, lone combining marks, long keys at the byte limit, invalid UTF-8, empty and large values.
 */
import { fc } from '../helpers/pbt.js';

export const MAX_KEY_BYTES = 1024;

/** Pieces that mean something to a grammar, a shell, a URL, JSON, an escaper or a terminal. */
const TRICKY = [
  ' ', '  ', '"', "'", '\\', '\\\\', '\\"', '\\n', '\n', '\t', '\r', '\r\n', '\0', '\x1b', '\x7f', '\x0b', '\f',
  '#', '-', '--', '-n', '--json', '=', '%', '%2F', '/', '?', '&', '+', ':', '*', '$', '`', '{', '}', '[', ']',
  '\u0085', '\u00a0', '\u2028', '\u2029', '\ufeff', '\ufffd', '\u0301', 'é', 'e\u0301', 'ß', 'ﬃ', 'İ', '日本', '🔑',
  '👩‍👩‍👧', '🇫🇷', '\u{10ffff}', '\u{e0001}',
];

const trickyPiece = fc.constantFrom(...TRICKY);

/** Any text without lone surrogates: printable graphemes, any code point, the tricky pieces, mixed. */
export function textArb(maxPieces = 6): fc.Arbitrary<string> {
  const piece = fc.oneof(
    { weight: 4, arbitrary: trickyPiece },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 8 }) },
  );
  return fc.array(piece, { maxLength: maxPieces }).map((pieces) => pieces.join(''));
}

/** The longest prefix of `text`, cut between code points, that fits in `maxBytes` of UTF-8. */
export function fitBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes) break;
    out += ch;
    bytes += size;
  }
  return out;
}

export interface KeyOptions {
  /** Leave out NUL (argv cannot carry it). */
  noNul?: boolean;
  /** Bytes kept free for a prefix the test puts in front. */
  reserveBytes?: number;
}

/**
 * A valid key: mostly short tricky text, sometimes long (up to exactly the byte limit, the last code point being
 * a multi-byte one as often as not), `#` or `-` first.
 */
export function keyArb({ noNul = false, reserveBytes = 0 }: KeyOptions = {}): fc.Arbitrary<string> {
  const limit = MAX_KEY_BYTES - reserveBytes;
  const long = fc
    .tuple(fc.string({ unit: 'binary', minLength: 200, maxLength: 1100 }), fc.string({ unit: 'grapheme', minLength: 200, maxLength: 600 }))
    .map(([a, b]) => a + b);
  const body = fc.oneof({ weight: 12, arbitrary: textArb() }, { weight: 1, arbitrary: long });
  const lead = fc.constantFrom('', '', '', '', '#', '-', '--', ' ', '"');
  return fc
    .tuple(lead, body)
    .map(([first, rest]) => {
      const text = noNul ? (first + rest).replace(/\0/g, '') : first + rest;
      return fitBytes(text, limit);
    })
    .filter((key) => key !== '');
}

/** Bytes that are never valid UTF-8: a stray continuation byte, an overlong form, a surrogate's encoding, 0xFF… */
const INVALID_UTF8 = [[0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]];

const invalidUtf8 = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(...INVALID_UTF8), fc.string({ unit: 'binary', maxLength: 10 }))
  .map(([head, bad, tail]) => Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail, 'utf8')]));

/** `length` bytes from a tiny PRNG (fast-check would take long to make megabytes byte by byte, and to shrink them). */
export function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Around memcached's item limit (~1 MiB, the copy's header included) and a few MiB past it. */
const LARGE_SIZES = [1024 * 1024 - 4096 - 33, 1024 * 1024 - 4096 - 32, 1024 * 1024, 3 * 1024 * 1024 + 7];

export interface ValueOptions {
  /** Allow values of about 1 to 3 MiB (rarely drawn). */
  large?: boolean;
  /** Only valid UTF-8 (for a text-only front, such as a batch line). */
  textOnly?: boolean;
}

/** Any bytes: empty, small binary, text, invalid UTF-8, and rarely large. */
export function valueArb({ large = true, textOnly = false }: ValueOptions = {}): fc.Arbitrary<Buffer> {
  const text = textArb(8).map((s) => Buffer.from(s, 'utf8'));
  const bigSize = fc.oneof(fc.constantFrom(...LARGE_SIZES), fc.integer({ min: 1024 * 1024 - 8192, max: 3 * 1024 * 1024 }));
  const big = fc.tuple(bigSize, fc.integer()).map(([size, seed]) => pseudoRandomBytes(size, seed));
  const bigText = fc.tuple(bigSize, textArb(3)).map(([size, s]) => {
    const unit = s || 'x';
    return Buffer.from(fitBytes(unit.repeat(Math.ceil(size / unit.length)), size), 'utf8');
  });
  const options: fc.WeightedArbitrary<Buffer>[] = [
    { weight: 2, arbitrary: fc.constant(Buffer.alloc(0)) },
    { weight: 8, arbitrary: text },
  ];
  if (!textOnly) {
    options.push({ weight: 6, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)) });
    options.push({ weight: 4, arbitrary: invalidUtf8 });
  }
  if (large) options.push({ weight: 1, arbitrary: textOnly ? bigText : big });
  return fc.oneof(...options);
}

/** A string with at least one lone surrogate (no UTF-8 form: every front must refuse it as a key). */
export const loneSurrogateArb: fc.Arbitrary<string> = fc
  .tuple(textArb(3), fc.integer({ min: 0xd800, max: 0xdfff }), textArb(3))
  .map(([a, unit, b]) => `${a}${String.fromCharCode(unit)}${b}`)
  .filter((s) => Buffer.from(s, 'utf8').toString('utf8') !== s); // a lone surrogate does not survive UTF-8

/** An expiry: none, or some hours to days ahead (never near enough to pass during a test). */
export const expiresAtArb = (now: number): fc.Arbitrary<number | null> =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 3_600_000, max: 30 * 86_400_000 }).map((ms) => now + ms) });
