/**
 * `tlspool install-units --user|--system`: the systemd units of
 * contrib/systemd/, with ExecStart= pointing at this installation, written
 * where systemd looks for them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../util/package-root';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

const options = {
  user: { type: 'boolean' },
  system: { type: 'boolean' },
  root: { type: 'string' },
  force: { type: 'boolean' },
} as const;

export const spec = {
  name: 'install-units',
  usage: 'install-units --user | --system [--root DIR] [--force]',
  summary:
    'Install the systemd units that run the pool as a service, started by its sockets\n' +
    '(socket activation: tlspool.socket, tlspool-control.socket, tlspool.service), and\n' +
    'print the command that enables them. --user writes them to\n' +
    '$XDG_CONFIG_HOME/systemd/user (~/.config/systemd/user) for your session;\n' +
    '--system to /etc/systemd/system, with /etc/sysusers.d/tlspool.conf (user and\n' +
    'group "tlspool") and, when there is none, /etc/tlspool/tlspool.yaml\n' +
    '(socket_group: tlspool). ExecStart= runs this installation of tlspool. A unit\n' +
    'that exists with other contents is left alone unless --force.',
  options,
  help: {
    user: 'install the units for your user (systemctl --user)',
    system: 'install the system-wide units (as root)',
    root: '--system: write below DIR as if it were / (for packaging), and print what to run there',
    force: 'replace units (and the sysusers file) that exist with other contents',
  },
} satisfies CommandSpec<typeof options>;

interface Planned {
  readonly file: string;
  readonly text: string;
  /** A file a person edits (the configuration): written only when absent, never replaced. */
  readonly keep?: boolean;
}

/** How systemd must see a path in ExecStart=: quoted when it has spaces, `%` doubled. */
function execWord(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return /[\s"'\\;]/.test(word) ? `"${escaped}"` : escaped;
}

/** The command that runs this installation's tlspool: node and bin/tlspool.js, by absolute path. */
export function tlspoolCommand(): string {
  return [process.execPath, path.join(packageRoot(), 'bin', 'tlspool.js')].map(execWord).join(' ');
}

/** A unit of contrib/systemd with ExecStart= running `command` instead of /usr/bin/tlspool. */
export function unitText(source: string, command: string): string {
  return fs.readFileSync(source, 'utf8').replace(/^ExecStart=\/usr\/bin\/tlspool(?= |$)/m, `ExecStart=${command}`);
}

function plan(kind: 'user' | 'system', root: string): Planned[] {
  const from = path.join(packageRoot(), 'contrib', 'systemd', kind);
  const command = tlspoolCommand();
  const units = fs
    .readdirSync(from)
    .filter((f) => /\.(socket|service)$/.test(f))
    .sort();
  if (kind === 'user') {
    const config = process.env.XDG_CONFIG_HOME && path.isAbsolute(process.env.XDG_CONFIG_HOME) ? process.env.XDG_CONFIG_HOME : path.join(os.homedir(), '.config');
    return units.map((u) => ({ file: path.join(config, 'systemd', 'user', u), text: unitText(path.join(from, u), command) }));
  }
  const at = (p: string) => path.join(root, p);
  return [
    ...units.map((u) => ({ file: at(`/etc/systemd/system/${u}`), text: unitText(path.join(from, u), command) })),
    { file: at('/etc/sysusers.d/tlspool.conf'), text: fs.readFileSync(path.join(from, 'tlspool.sysusers'), 'utf8') },
    { file: at('/etc/tlspool/tlspool.yaml'), text: fs.readFileSync(path.join(from, 'tlspool.yaml'), 'utf8'), keep: true },
  ];
}

function current(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function installUnits(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const v = args.values;
  const usage = (m: string) => new UsageError(`tlspool install-units: ${m} (see tlspool install-units --help)`);
  if (v.user === v.system) throw usage('say --user or --system');
  if (v.root !== undefined && !v.system) throw usage('--root goes with --system');
  const kind = v.user ? 'user' : 'system';
  const root = v.root === undefined ? '/' : path.resolve(v.root);
  const files = plan(kind, root);

  // Decide for every file before writing any: a refusal leaves all as they were.
  const actions = files.map((f) => {
    const now = current(f.file);
    return { ...f, now, action: now === undefined ? 'wrote' : now === f.text ? 'unchanged' : f.keep ? 'kept' : v.force ? 'replaced' : 'differs' };
  });
  const differing = actions.filter((a) => a.action === 'differs');
  if (differing.length > 0) {
    throw new Error(`${differing.map((a) => a.file).join(', ')} exist${differing.length === 1 ? 's' : ''} with other contents; compare, then run again with --force to replace`);
  }
  for (const a of actions) {
    if (a.action !== 'wrote' && a.action !== 'replaced') continue;
    fs.mkdirSync(path.dirname(a.file), { recursive: true, mode: 0o755 });
    const tmp = `${a.file}.tlspool-new`;
    fs.writeFileSync(tmp, a.text, { mode: 0o644 });
    fs.renameSync(tmp, a.file);
  }
  for (const a of actions) {
    const note = a.action === 'kept' ? ' (it exists; yours is kept)' : '';
    process.stdout.write(`${a.action} ${a.file}${note}\n`);
  }
  const there = v.root !== undefined ? ' (on the system below that root)' : '';
  const next =
    kind === 'user'
      ? 'systemctl --user daemon-reload && systemctl --user enable --now tlspool.socket tlspool-control.socket'
      : 'systemd-sysusers && systemctl daemon-reload && systemctl enable --now tlspool.socket tlspool-control.socket';
  process.stdout.write(`next${there}: ${next}\n`);
  return 0;
}
