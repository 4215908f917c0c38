/**
 * The styles tbase paints its own output with, and chalk loaded only when something will be painted.
 *
 * Piped output — every script, every one-shot command whose answer is read by another program — has no colour,
 * yet importing chalk cost every start ~2.5 ms: supports-color copies `process`, `os` and `tty` into module
 * objects and chalk defines its ~90 styles as getters. So the first file (scripts/bundle.js) keeps chalk's code but
 * runs it only from `loadColours`, which `main()` awaits when stdout or stderr will be coloured (a terminal, or
 * FORCE_COLOR). Until then, and at level 0, the styles are `NO_COLOUR`'s, which return the text unchanged.
 */

/** Wraps text in one style's escape codes (or not at all, at level 0). */
export type Paint = (text: string) => string;

/** The styles in use; a chalk instance has them all. Combine by nesting: `bold(cyan(text))`. */
export interface Colours {
  /** chalk's level: 0 none, 1 basic, 2 256 colours, 3 truecolor. */
  readonly level: 0 | 1 | 2 | 3;
  readonly bold: Paint;
  readonly dim: Paint;
  readonly red: Paint;
  readonly green: Paint;
  readonly yellow: Paint;
  readonly cyan: Paint;
}

const plain: Paint = (text) => text;

/** Level 0: every style leaves the text as it is. */
export const NO_COLOUR: Colours = { level: 0, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };

/** chalk at `level` (NO_COLOUR at 0, without loading chalk). */
export async function loadColours(level: 0 | 1 | 2 | 3): Promise<Colours> {
  if (level === 0) return NO_COLOUR;
  const { Chalk } = await import('chalk');
  return new Chalk({ level });
}
