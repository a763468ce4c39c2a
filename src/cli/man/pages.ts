/**
 * The man pages, made from what they document: tlspool(1) from the command
 * specs (what --help shows), tlspool.conf(5) from docs/configuration.md
 * (whose key table a unit test holds to the configuration schema). The build
 * writes them to dist/man (scripts/make-man.js).
 */
import { type AnySpec, optionLabel } from '../args';
import type { CliCommand } from '../registry';
import { FD_NAMES } from '../../daemon/systemd/activation';
import { escape, literal, markdownToMan, finishPage } from './roff';

export interface PageInfo {
  readonly version: string;
  /** The date in the page's header, YYYY-MM-DD. */
  readonly date: string;
}

function header(name: string, section: number, info: PageInfo): string[] {
  // No hyphenation: paths and option names are copied as they are printed.
  return [`.TH ${name} ${section} ${info.date} "tlspool ${info.version}" "TLS Pool"`, '.nh'];
}

/** Text written for --help (lines broken for a terminal) as roff text lines. */
function text(helpText: string): string[] {
  return helpText.split('\n').map(escape);
}

/** `.TP` tag of an option: `-c, --count N`. */
function optionTag(spec: AnySpec, name: string): string {
  const short = spec.options[name]?.short;
  const [flag, metavar] = optionLabel(spec, name).split(' ');
  const tag = `${short ? `${literal(`-${short}`)}, ` : ''}${literal(flag!)}`;
  return metavar ? `${tag} \\fI${escape(metavar)}\\fR` : tag;
}

function commandSection(spec: AnySpec): string[] {
  const out = [`.SS ${JSON.stringify(`tlspool ${spec.name}`)}`, '.nf', ...spec.usage.split('\n').map((l, i) => (i === 0 ? `\\fBtlspool\\fR ${escape(l)}` : escape(l.trim().startsWith('tlspool ') ? `\\fBtlspool\\fR ${l.trim().slice(8)}` : `  ${l.trim()}`))), '.fi', '.PP', ...text(spec.summary)];
  const options = Object.keys(spec.help);
  for (const name of options) out.push('.TP', optionTag(spec, name), ...text((spec.help as Record<string, string>)[name]!));
  out.push('.TP', `${literal('-h')}, ${literal('--help')}`, 'show the help of this command');
  return out;
}

/** tlspool(1): every command, subcommand and option, as --help has them. */
export function tlspoolPage(commands: readonly CliCommand[], info: PageInfo): string {
  const specs = commands.flatMap((c) => c.specs);
  const synopsis = specs.flatMap((s) => s.usage.split('\n').map((l, i) => (i === 0 ? `\\fBtlspool\\fR ${escape(l)}` : null)).filter((l): l is string => l !== null));
  const lines = [
    ...header('TLSPOOL', 1, info),
    '.SH NAME',
    'tlspool \\- a TLS Pool: a local daemon that does TLS for applications, and its tools',
    '.SH SYNOPSIS',
    '.nf',
    ...synopsis,
    `\\fBtlspool\\fR ${literal('--help')} | ${literal('--version')}`,
    '.fi',
    '.SH DESCRIPTION',
    'An application connects to the pool\'s UNIX socket, hands over a connected socket',
    'with STARTTLS, and gets back a descriptor over which it talks plaintext while the',
    'pool speaks TLS to the peer. Certificates, private keys (on PKCS #11 tokens) and',
    'PINs stay in the pool, never in the application.',
    '.PP',
    `${literal('tlspool daemon')} runs the pool; the other commands manage its state, talk to it, or`,
    'install what runs it. Every command has',
    `${literal('--help')}, which shows what this page says about it.`,
    '.SH COMMANDS',
    ...commands.flatMap((c) => c.specs.flatMap(commandSection)),
    '.SH SOCKET ACTIVATION',
    `Started by systemd with sockets (${literal('LISTEN_FDS')}), ${literal('tlspool daemon')} takes the one whose`,
    `FileDescriptorName= is ${literal(FD_NAMES.pool)} as the pool socket and ${literal(FD_NAMES.control)} as the control socket, and`,
    'leaves their files to systemd. It holds them to the rules of a socket it makes:',
    'a socket others can write is refused, and one its group can write only with that',
    `group as ${literal('socket_group')}. With ${literal('NOTIFY_SOCKET')} set it sends READY=1 once it answers,`,
    'STATUS= lines with its clients and connections, and STOPPING=1 (Type=notify).',
    `${literal('tlspool install-units')} installs units that do this.`,
    '.SH ENVIRONMENT',
    '.TP',
    literal('TLSPOOL_SOCKET'),
    'the pool socket, when no --socket is given',
    '.TP',
    literal('TLSPOOL_CONTROL_SOCKET'),
    'the control socket, when no --control-socket is given',
    '.TP',
    literal('TLSPOOL_STATE_DIR'),
    'the state directory, when no --state-dir is given',
    '.TP',
    literal('TLSPOOL_CONFIG'),
    'the configuration file, when no --config is given',
    '.TP',
    `${literal('LISTEN_FDS')}, ${literal('LISTEN_PID')}, ${literal('LISTEN_FDNAMES')}`,
    'sockets passed by systemd (see SOCKET ACTIVATION)',
    '.TP',
    literal('NOTIFY_SOCKET'),
    "the service manager's notification socket (see SOCKET ACTIVATION)",
    '.TP',
    literal('TLSPOOL_DEBUG'),
    'when set, a failure prints its stack trace too',
    '.SH EXIT STATUS',
    '0 on success, 1 when the command failed (one line on stderr says why), 2 for a',
    'usage error (an unknown option, a missing or malformed argument).',
    '.SH FILES',
    '.TP',
    literal('$XDG_RUNTIME_DIR/tlspool.sock'),
    'the pool socket of a user (/var/run/tlspool.sock for root)',
    '.TP',
    literal('~/.config/tlspool/tlspool.yaml'),
    'the configuration file of a user (/etc/tlspool/tlspool.yaml for root); see tlspool.conf(5)',
    '.TP',
    literal('~/.local/state/tlspool/tlspool.db'),
    'the state database of a user (/var/lib/tlspool for root)',
    '.SH SEE ALSO',
    '.BR tlspool.conf (5),',
    '.BR systemd.socket (5),',
    '.BR sd_notify (3)',
  ];
  return finishPage(lines.join('\n')) + '\n';
}

/** tlspool.conf(5): docs/configuration.md, whole. */
export function configPage(configurationMd: string, info: PageInfo): string {
  const intro = configurationMd.split('\n## ')[0]!;
  const rest = configurationMd.slice(intro.length);
  const lines = [
    ...header('TLSPOOL.CONF', 5, info),
    '.SH NAME',
    "tlspool.conf \\- the configuration file of the TLS Pool daemon, tlspool.yaml",
    '.SH SYNOPSIS',
    '.nf',
    literal('~/.config/tlspool/tlspool.yaml'),
    literal('/etc/tlspool/tlspool.yaml'),
    '.fi',
    '.SH DESCRIPTION',
    ...markdownToMan(intro),
    ...markdownToMan(rest),
    '.SH SEE ALSO',
    '.BR tlspool (1)',
  ];
  return finishPage(lines.join('\n')) + '\n';
}
