/**
 * The common one-shot command line without commander: global flags (`--db P`, `--servers S`, `--json`,
 * `--no-cache`), then a command name, then as many positional words as it takes (takesWords) and nothing that
 * looks like a flag.
 * Loading commander and building the command tree costs a one-shot command about 10 ms, more than the rest of
 * parsing together (docs/architecture.md, "Start-up"). Anything else — help, version, flags after the command, `--opt=value`,
 * an unknown name, missing or extra words — returns null and goes through commander (program.ts), which stays the
 * reference: a test checks that both give the same outcome for the lines this accepts.
 */
import { commands } from './commands/index.js';
import { takesWords, type CommandSpec } from './commands/types.js';
import type { GlobalFlags } from './config.js';
import type { ParseOutcome } from './program.js';

const byName = new Map<string, CommandSpec<unknown>>();
for (const spec of commands) for (const name of [spec.name, ...(spec.aliases ?? [])]) byName.set(name, spec);

export function parseSimpleCommandLine(argv: string[]): Extract<ParseOutcome, { kind: 'command' }> | null {
  const flags: GlobalFlags = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--json') flags.json = true;
    else if (word === '--no-cache') flags.cache = false;
    else if (word === '--db' || word === '--servers') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('-')) return null;
      if (word === '--db') flags.db = value;
      else flags.servers = value;
    } else break;
  }
  const spec = byName.get(argv[i] ?? '');
  const args = argv.slice(i + 1);
  if (!spec || !takesWords(spec, args.length) || args.some((word) => word.startsWith('-'))) return null;
  return { kind: 'command', invocation: { spec, options: spec.parse(args, {}) }, flags };
}
