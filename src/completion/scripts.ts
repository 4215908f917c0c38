/**
 * The completion scripts `tbase completion SHELL` prints. Each is a thin adapter: it hands the command line to
 * `tbase __complete` (run.ts), which knows the commands, options and keys, so a script installed once never goes
 * stale when commands change. Records come back NUL-ended, so keys holding newlines survive; the first is the
 * directive (`words`, or `files` for the shell's own file name completion).
 */
import type { Shell } from './reply.js';

const BASH = `# tbase completion for bash. In this shell: source <(tbase completion bash)
# For every new shell: tbase completion bash > ~/.local/share/bash-completion/completions/tbase
_tbase_complete() {
  local directive reply
  COMPREPLY=()
  {
    IFS= read -r -d '' directive || return 0
    while IFS= read -r -d '' reply; do COMPREPLY+=("$reply"); done
  } < <("\${COMP_WORDS[0]}" __complete bash "\${COMP_LINE:0:COMP_POINT}" "$COMP_WORDBREAKS" 2>/dev/null)
  # Nothing of ours here: let readline complete a file name.
  if [[ $directive == files ]]; then compopt -o default 2>/dev/null; fi
  return 0
}
complete -F _tbase_complete tbase
`;

const ZSH = `#compdef tbase
# tbase completion for zsh. Install: tbase completion zsh > ~/.zfunc/_tbase (~/.zfunc in fpath before compinit)
# In this shell only: source <(tbase completion zsh)
_tbase() {
  local out
  local -a reply
  # The words before the cursor as typed, and the word being typed (an open quote is in QIPREFIX).
  out=$("\${words[1]}" __complete zsh "\${(j: :)words[1,CURRENT-1]} $QIPREFIX$PREFIX" 2>/dev/null)
  reply=("\${(@0)\${out%$'\\0'}}")
  case $reply[1] in
    files) compset -P '--*='; _files ;;
    words) shift reply; (( $#reply )) && compadd -- "\${reply[@]}" ;;
  esac
}
if [[ $funcstack[1] == _tbase ]]; then _tbase "$@"; else compdef _tbase tbase; fi
`;

const FISH = `# tbase completion for fish. Install: tbase completion fish > ~/.config/fish/completions/tbase.fish
function __tbase_complete
    # The program as typed, past any VAR=value before it (fish runs those as the command's environment).
    set -l program (commandline -opc | string match -rv '^[A-Za-z_][A-Za-z0-9_]*=')[1]
    type -q -- $program; or return # fish would report a missing command in spite of 2>/dev/null
    set -l reply ($program __complete fish (commandline -cp) 2>/dev/null | string split0)
    if test "$reply[1]" = files
        # A file name, also after --db=: complete what follows the = and keep the option in front.
        set -l token (commandline -ct)
        set -l option (string match -r -- '^--[^=]*=' $token; or echo '')
        set reply $option(__fish_complete_path (string replace -r -- '^--[^=]*=' '' $token))
    else
        set -e reply[1]
    end
    # printf with no words would still print one (empty) record.
    test (count $reply) -gt 0; and printf '%s\\0' $reply
end
complete -c tbase -f -a '(__tbase_complete | string split0)'
`;

const SCRIPTS: Record<Shell, string> = { bash: BASH, zsh: ZSH, fish: FISH };

export function completionScript(shell: Shell): string {
  return SCRIPTS[shell];
}
