/** `tlspool autostart on|off|status`: start the desktop tray app at login, or not. */
import { autostartCommand, disableAutostart, enableAutostart } from '../../util/autostart';
import { type CommandSpec, helpText, parse, UsageError } from '../args';

const options = { exec: { type: 'string' } } as const;

export const spec = {
  name: 'autostart',
  usage: 'autostart on [--exec COMMAND] | off | status',
  summary:
    'Start the TLS Pool desktop app (the tray) when you log in, or stop doing so: "on"\n' +
    'writes the XDG autostart entry $XDG_CONFIG_HOME/autostart/tlspool.desktop\n' +
    '(~/.config/autostart/tlspool.desktop), "off" removes it, "status" says whether\n' +
    'there is one and what it runs.',
  options,
  help: {
    exec: 'the program that starts the app (default: tlspool-desktop, as the packages install it)',
  },
  positionals: true,
  choices: ['on', 'off', 'status'],
} satisfies CommandSpec<typeof options>;

export async function autostart(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const [what, ...extra] = args.positionals;
  if ((what !== 'on' && what !== 'off' && what !== 'status') || extra.length > 0) {
    throw new UsageError('tlspool autostart: say on, off or status (see tlspool autostart --help)');
  }
  if (what !== 'on' && args.values.exec !== undefined) throw new UsageError('tlspool autostart: --exec goes with on');
  if (what === 'on') {
    const exec = args.values.exec ?? 'tlspool-desktop';
    if (exec.trim() === '') throw new UsageError('tlspool autostart: --exec must name a program');
    const file = enableAutostart(exec.trim().split(/\s+/));
    process.stdout.write(`wrote ${file}: the desktop app starts at your next login\n`);
  } else if (what === 'off') {
    const { file, removed } = disableAutostart();
    process.stdout.write(removed ? `removed ${file}: the desktop app no longer starts at login\n` : `no autostart entry at ${file}; nothing to do\n`);
  } else {
    const command = autostartCommand();
    process.stdout.write(command === undefined ? 'off: no autostart entry\n' : `on: starts ${command} at login\n`);
  }
  return 0;
}
