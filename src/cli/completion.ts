/**
 * The bash completion script for `tlspool`, made from the command specs:
 * commands, subcommands, options, and for values the kind of thing they
 * are (files, directories, local identities from the store).
 */
import { type AnySpec, METAVARS } from './args';
import type { CliCommand } from './registry';

/** How a value is completed: by file, by directory, by the names of local identities, or not at all. */
type ValueKind = 'file' | 'dir' | 'identity' | 'none';

function valueKind(option: string): ValueKind {
  if (option === 'local-id') return 'identity';
  const metavar = METAVARS[option] ?? '';
  if (metavar === 'DIR') return 'dir';
  if (metavar === 'FILE' || metavar === 'PATH' || metavar === 'FILE|URI') return 'file';
  return 'none';
}

function options(spec: AnySpec): string[] {
  return [...Object.keys(spec.options).map((o) => `--${o}`), '--help'];
}

const quote = (words: string[]) => `'${words.join(' ')}'`;

/** One `case` arm per command (and per subcommand) with what can follow there. */
function arms(commands: readonly CliCommand[]): string[] {
  const out: string[] = [];
  for (const c of commands) {
    for (const spec of c.specs) {
      const key = spec.name; // "ping" or "identity add"
      const byKind = new Map<ValueKind, string[]>();
      for (const [name, o] of Object.entries(spec.options)) {
        if (o.type !== 'string') continue;
        const kind = valueKind(name);
        byKind.set(kind, [...(byKind.get(kind) ?? []), `--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
      }
      out.push(`    '${key}')`);
      out.push(`      opts=${quote(options(spec))}`);
      for (const kind of ['file', 'dir', 'identity', 'none'] as const) {
        const list = byKind.get(kind);
        if (list) out.push(`      valued_${kind}=${quote(list)}`);
      }
      if (spec.operand) out.push(`      operand=${spec.operand}`);
      if (spec.choices) out.push(`      words=${quote([...spec.choices])}`);
      out.push('      ;;');
    }
  }
  return out;
}

/** A bash function listing the local identities in the store that the command line names. */
const IDENTITIES_FN = `# The local identities in the store that this command line names (--state-dir, --config).
_tlspool_identities() {
  local -a args=()
  local i
  for ((i = 1; i < \${#COMP_WORDS[@]} - 1; i++)); do
    case "\${COMP_WORDS[i]}" in
      --state-dir|--config) args+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}") ;;
    esac
  done
  "\${COMP_WORDS[0]}" identity list --json "\${args[@]}" 2>/dev/null |
    sed -n 's/^ *"localid": "\\(.*\\)",\\{0,1\\}$/\\1/p'
}

`;

export function bashCompletion(commands: readonly CliCommand[]): string {
  const names = commands.map((c) => c.name);
  // Options that take a value, in any command: the word after one is its value, not an operand.
  const valued = [...new Set(commands.flatMap((c) => c.specs.flatMap((s) => Object.entries(s.options).filter(([, o]) => o.type === 'string').flatMap(([n, o]) => [`--${n}`, ...(o.short ? [`-${o.short}`] : [])]))))];
  const groups = commands
    .map((c) => ({ c, subs: c.specs.filter((s) => s.name.startsWith(`${c.name} `)).map((s) => s.name.slice(c.name.length + 1)) }))
    .filter((g) => g.subs.length > 0);
  return `# bash completion for tlspool, made from its command specs by \`tlspool completion bash\`.
# Load it with:  source <(tlspool completion bash)
# or install it: tlspool completion bash > ~/.local/share/bash-completion/completions/tlspool

${IDENTITIES_FN}_tlspool() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local prev=
  ((COMP_CWORD > 0)) && prev=\${COMP_WORDS[COMP_CWORD-1]}
  COMPREPLY=()
  local command= i word
  local -i operands=0
  # The command (and subcommand) are the first words that are not options.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      [[ " ${valued.join(' ')} " == *" $word "* ]] && ((i++))
      continue
    fi
    if [[ -z $command ]]; then
      command=$word
    elif [[ " ${groups.map((g) => g.c.name).join(' ')} " == *" $command "* && $command != *" "* ]]; then
      command="$command $word"
    else
      operands+=1
    fi
  done
  if [[ -z $command ]]; then
    COMPREPLY=($(compgen -W '${names.join(' ')} --help --version' -- "$cur"))
    return 0
  fi
  case $command in
${groups.map((g) => `    ${g.c.name})\n      COMPREPLY=($(compgen -W '${g.subs.join(' ')} --help' -- "$cur"))\n      return 0\n      ;;`).join('\n')}
  esac
  local opts= valued_file= valued_dir= valued_identity= valued_none= operand= words=
  case $command in
${arms(commands).join('\n')}
    *) return 0 ;;
  esac
  if [[ -n $prev && $prev == -* ]]; then
    if [[ " $valued_file " == *" $prev "* ]]; then
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0
    elif [[ " $valued_dir " == *" $prev "* ]]; then
      COMPREPLY=($(compgen -d -- "$cur"))
      return 0
    elif [[ " $valued_identity " == *" $prev "* ]]; then
      COMPREPLY=($(compgen -W "$(_tlspool_identities)" -- "$cur"))
      return 0
    elif [[ " $valued_none " == *" $prev "* ]]; then
      return 0
    fi
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ -n $words ]]; then
    ((operands == 0)) && COMPREPLY=($(compgen -W "$words" -- "$cur"))
  elif [[ $operand == identity ]]; then
    ((operands == 0)) && COMPREPLY=($(compgen -W "$(_tlspool_identities)" -- "$cur"))
  elif [[ $operand == file ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -o filenames -o bashdefault -F _tlspool tlspool
`;
}
