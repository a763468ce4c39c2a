/** `tlspool completion bash`: the completion script, made from the command specs. */
import { bashCompletion } from '../completion';
import type { CliCommand } from '../registry';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

export const completionSpec = {
  name: 'completion',
  usage: 'completion bash',
  summary:
    'Print the bash completion script for tlspool: commands, subcommands, options, files\n' +
    'and directories where an option takes one, and local identity names from the store.\n' +
    'Load it with: source <(tlspool completion bash). zsh runs it too, after\n' +
    'autoload -U bashcompinit && bashcompinit.',
  options: {},
  help: {},
  positionals: true,
  choices: ['bash'],
} satisfies CommandSpec<Record<never, never>>;

export async function completion(argv: string[], commands: readonly CliCommand[]): Promise<number> {
  const args = parse(completionSpec, argv);
  if (!args) {
    process.stdout.write(helpText(completionSpec));
    return 0;
  }
  if (args.positionals.length !== 1 || args.positionals[0] !== 'bash') {
    throw new UsageError('tlspool completion: say which shell: bash (see tlspool completion --help)');
  }
  process.stdout.write(bashCompletion(commands));
  return 0;
}
