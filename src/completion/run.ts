/**
 * `tbase __complete SHELL LINE [WORDBREAKS]`: the hidden entry the completion scripts (scripts.ts) call at every
 * Tab. LINE is the command line up to the cursor (bash: COMP_LINE cut at COMP_POINT, by bash itself, which counts
 * in its locale's characters; zsh: its words; fish: `commandline -cp`); WORDBREAKS is bash's COMP_WORDBREAKS. It prints a directive — `words`, or `files` to let the shell complete file names — and
 * the candidates, each record ended by a NUL (keys may hold newlines).
 * Silent and exit 0 whatever happens: a Tab must never print into the user's command line. No Inquirer, no
 * commander, no memcached; the store is only read, and only when it exists (keys.ts).
 */
import { join } from 'node:path';
import { databaseLocation, homeFolder, type Env } from '../config.js';
import { ExitCode } from '../errors.js';
import type { IO } from '../io.js';
import { lookupKeys } from './keys.js';
import { bashReplies, SHELLS, usableBy, type Shell } from './reply.js';
import { scanShellLine } from './shell-line.js';
import { commandNames, shellTarget } from './shell-target.js';
import type { CompletionTarget } from './target.js';

/** The argument that selects this entry (cli.ts); not a command, so no help lists it. */
export const COMPLETE_ENTRY = '__complete';

/** bash's default, for a caller that does not pass its own. */
const DEFAULT_WORDBREAKS = ' \t\n"\'><=;|&(:';

export async function runCompletion(args: string[], io: IO, env: Env): Promise<number> {
  try {
    const records = await completionRecords(args, env);
    await io.out(records.map((record) => `${record}\0`).join(''));
  } catch {
    // nothing to offer
  }
  return ExitCode.ok;
}

async function completionRecords([shell, line = '', wordbreaks = DEFAULT_WORDBREAKS]: string[], env: Env): Promise<string[]> {
  if (!SHELLS.includes(shell as Shell)) return [];
  const scanned = scanShellLine(line, shell === 'fish' ? 'fish' : 'posix');
  const quoted = /^(\$?'|")/.test(line.slice(scanned.start));
  const { target, lead, db } = shellTarget(scanned, quoted);
  if (target.kind === 'file') return ['files'];
  const candidates = (await candidatesFor(target, db, env)).map((word) => lead + word).filter((word) => usableBy(shell as Shell, word));
  return ['words', ...(shell === 'bash' ? bashReplies(scanned, candidates, wordbreaks) : candidates)];
}

async function candidatesFor(target: Exclude<CompletionTarget, { kind: 'file' }>, db: string | undefined, env: Env): Promise<string[]> {
  switch (target.kind) {
    case 'command':
      return commandNames().filter((name) => name.startsWith(target.prefix));
    case 'option':
      return [...new Set(target.options)].filter((name) => name.startsWith(target.prefix));
    case 'choice':
      return target.choices.filter((word) => word.startsWith(target.prefix));
    case 'key': {
      const { keys, truncated } = await lookupKeys(databaseLocation(db === undefined ? undefined : expandHome(db, env), env), target.prefix);
      // Past the limit, the keys that came back share more than all keys under the prefix may: the prefix itself
      // as one more candidate keeps the shell from extending the word beyond what is typed.
      return truncated && !keys.includes(target.prefix) ? [...keys, target.prefix] : keys;
    }
    case 'none':
      return [];
  }
}

/** `~/…` as the shell would expand it when the command runs (the line is read unexpanded). */
function expandHome(path: string, env: Env): string {
  return path.startsWith('~/') ? join(homeFolder(env), path.slice(2)) : path;
}
