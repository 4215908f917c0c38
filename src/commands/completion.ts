import type { CommandSpec } from './types.js';
import { requireArg } from './args.js';
import { UsageError } from '../errors.js';
import { SHELLS, type Shell } from '../completion/reply.js';
import { completionScript } from '../completion/scripts.js';

export interface CompletionOptions {
  shell: Shell;
}

const usage = `completion ${SHELLS.join('|')}`;

export const completionCommand: CommandSpec<CompletionOptions> = {
  name: 'completion',
  summary: 'print a shell completion script (commands, options, keys from the database) for bash, zsh or fish',
  args: [{ name: 'shell', required: true, description: SHELLS.join(', '), choices: [...SHELLS] }],
  options: [],
  examples: [
    'source <(tbase completion bash)                  # bash, this shell (put it in ~/.bashrc for every shell)',
    'tbase completion zsh > ~/.zfunc/_tbase           # zsh, with ~/.zfunc in fpath before compinit',
    'tbase completion fish > ~/.config/fish/completions/tbase.fish',
  ],
  parse([shell]) {
    const name = requireArg(shell, 'shell', usage);
    if (!SHELLS.includes(name as Shell)) throw new UsageError(`no completion for shell ${JSON.stringify(name)}; usage: ${usage}`);
    return { shell: name as Shell };
  },
  async run(_ctx, { shell }) {
    return { kind: 'script', shell, script: completionScript(shell) };
  },
};
