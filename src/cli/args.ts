/** Argument parsing for `tlspool` subcommands, with help that is the truth. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Failure } from '../model/failure';

/** EINVAL from the command line: the CLI exits 2 for it (and 1 for every other failure). */
export class UsageError extends Failure {
  readonly exitCode = 2;
  constructor(message: string) {
    super('EINVAL', message);
  }
}

export interface CommandSpec<O extends NonNullable<ParseArgsConfig['options']>> {
  name: string;
  summary: string;
  usage: string;
  /** One line per option, in the order shown by --help. */
  help: Record<keyof O & string, string>;
  options: O;
  positionals?: boolean;
}

export function helpText<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>): string {
  const lines = [`Usage: tlspool ${spec.usage}`, '', spec.summary, '', 'Options:'];
  const entries = Object.entries(spec.help) as [string, string][];
  const label = (name: string) => {
    const opt = spec.options[name];
    const short = opt?.short ? `-${opt.short}, ` : '    ';
    return `  ${short}--${name}${opt?.type === 'string' ? ' VALUE' : ''}`;
  };
  const width = Math.max(...entries.map(([n]) => label(n).length), 20) + 2;
  for (const [name, text] of entries) lines.push(label(name).padEnd(width) + text);
  lines.push('  -h, --help'.padEnd(width) + 'show this help');
  return lines.join('\n') + '\n';
}

/** Parse, or throw a UsageError with a one-line reason. Returns null for --help. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(
  spec: CommandSpec<O>,
  argv: string[],
) {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: spec.positionals ?? false,
      strict: true,
    });
    if ((r.values as Record<string, unknown>).help) return null;
    return r;
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0].replace(/\. To specify.*$/, '');
    throw new UsageError(`tlspool ${spec.name}: ${msg} (see tlspool ${spec.name} --help)`);
  }
}
