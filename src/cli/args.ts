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
  /** What the positional arguments are, for shell completion: names of local identities, or files. */
  operand?: 'identity' | 'file';
  /** The words the first positional argument may be (`on`, `off`, `status`), for shell completion and the man page. */
  choices?: readonly string[];
}

/** Any command's spec, as --help, the man page and shell completion read them. */
export type AnySpec = CommandSpec<Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>;

/**
 * What the value of each string option is, by option name (an option means
 * the same in every command that has it). --help, the man page and shell
 * completion show these; a test holds every string option to having one.
 */
export const METAVARS: Readonly<Record<string, string>> = {
  socket: 'PATH',
  'control-socket': 'PATH',
  config: 'FILE',
  'state-dir': 'DIR',
  'pkcs11-module': 'PATH',
  'renderer-dir': 'DIR',
  root: 'DIR',
  cert: 'FILE',
  key: 'FILE|URI',
  csr: 'FILE',
  pkcs11: 'URI',
  token: 'LABEL',
  login: 'LABEL',
  label: 'NAME',
  exec: 'COMMAND',
  count: 'N',
  limit: 'N',
  port: 'N',
  days: 'N',
  'log-rows': 'N',
  'pin-fd': 'N',
  listen: 'ADDR:PORT',
  connect: 'HOST:PORT',
  'local-id': 'ID',
  'remote-id': 'ID',
  usage: 'N',
  selector: 'N',
  matching: 'N',
  proto: 'tcp|udp',
};

/** `--name`, with what its value is for a string option (`--socket PATH`). */
export function optionLabel(spec: AnySpec, name: string): string {
  return spec.options[name]?.type === 'string' ? `--${name} ${METAVARS[name] ?? 'VALUE'}` : `--${name}`;
}

export function helpText<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>): string {
  const lines = [`Usage: tlspool ${spec.usage}`, '', spec.summary, '', 'Options:'];
  const entries = Object.entries(spec.help) as [string, string][];
  const label = (name: string) => {
    const opt = spec.options[name];
    const short = opt?.short ? `-${opt.short}, ` : '    ';
    return `  ${short}${optionLabel(spec as unknown as AnySpec, name)}`;
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
      args: negativeValues(spec, argv),
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

/**
 * `--limit -1` as `--limit=-1`: parseArgs takes a value that starts with a
 * dash for a forgotten one ("ambiguous"), where the person meant a number
 * that the command then refuses for what it is.
 */
function negativeValues<O extends NonNullable<ParseArgsConfig['options']>>(spec: CommandSpec<O>, argv: string[]): string[] {
  const takesValue = (arg: string) => {
    if (arg.startsWith('--')) return spec.options[arg.slice(2)]?.type === 'string';
    if (/^-[^-]$/.test(arg)) return Object.values(spec.options).some((o) => o.short === arg[1] && o.type === 'string');
    return false;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (next !== undefined && /^-\d/.test(next) && takesValue(arg)) {
      out.push(`${arg}=${next}`.replace(/^-([^-])=/, '-$1'));
      i++;
    } else out.push(arg);
  }
  return out;
}

/** A UsageError for a value an option cannot take: `tlspool ping: --count must be …, got "x"`. */
export function badValue(command: string, message: string): UsageError {
  return new UsageError(`tlspool ${command}: ${message} (see tlspool ${command} --help)`);
}
