/** `tlspool pinentry`: a PIN entry program for the terminal (or for scripts, with --pin-fd). */
import { PoolClient, type PinPrompt } from '../../client/pool-client';
import { Failure } from '../../model/failure';
import { secureProcess } from '../../addon/process';
import { PIN_MAX_BYTES } from '../../protocol/pin';
import { type CommandSpec, helpText, parse, UsageError } from '../args';
import { PinLineReader, readPinFromTty } from '../pin-input';
import { clientConfig, controlSocketPath, poolHelp, poolOptions } from './common';
import { subscribePoolEvents } from '../pool-events';

const options = {
  ...poolOptions,
  shared: { type: 'boolean' },
  once: { type: 'boolean' },
  'pin-fd': { type: 'string' },
} as const;

export const spec = {
  name: 'pinentry',
  usage: 'pinentry [--socket PATH] [--shared] [--once] [--pin-fd N]',
  summary:
    'Offer PIN entry to the pool and ask for token PINs on this terminal (read from /dev/tty\n' +
    `without echo; Ctrl-C or an empty line cancels that PIN). A PIN has at most ${PIN_MAX_BYTES} bytes and\n` +
    'no NUL; a longer one, or one with a NUL, is refused and asked again. Runs until interrupted.',
  options,
  help: {
    ...poolHelp,
    shared: 'be one of several PIN entry programs, asked in turn (default: hold PIN entry alone)',
    once: 'leave after answering one prompt',
    'pin-fd': 'read PINs from descriptor N, one per line, instead of the terminal (for scripts; prompts go to stdout; a line that cannot be a PIN is refused on stderr and the prompt repeated)',
  },
} satisfies CommandSpec<typeof options>;

function describe(p: PinPrompt): string {
  const t = p.token;
  const what = [t.manufacturer, t.model, t.serial && `serial ${t.serial}`].filter(Boolean).join(', ');
  return `token "${t.label}"${what ? ` (${what})` : ''}, attempt ${p.attempt}: ${p.prompt}`;
}

/** On the terminal: the pool's text (what, for whom, and whether the last PIN was wrong), then the token and attempt. */
function terminalIntro(p: PinPrompt): string {
  const t = p.token;
  const what = [t.manufacturer, t.model, t.serial && `serial ${t.serial}`].filter(Boolean).join(', ');
  return `${p.prompt}\n  (${what ? `${what}; ` : ''}attempt ${p.attempt})`;
}

export async function pinentry(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  let pinFd: number | undefined;
  if (args.values['pin-fd'] !== undefined) {
    pinFd = Number(args.values['pin-fd']);
    if (!Number.isInteger(pinFd) || pinFd < 0) throw new UsageError(`tlspool pinentry: --pin-fd must be a descriptor number, got "${args.values['pin-fd']}"`);
  }
  if (pinFd === undefined && !process.stdin.isTTY) {
    // Asking /dev/tty from a service or a pipe would fail at the first prompt, long after this.
    throw new UsageError('tlspool pinentry: no terminal to ask for PINs on (stdin is not a terminal); give them on a descriptor with --pin-fd N (one PIN a line, e.g. --pin-fd 0)');
  }
  // Typed PINs pass through this process: no core dumps, no ptrace by others of our uid.
  secureProcess();
  const config = clientConfig(args.values);
  const client = PoolClient.connect(config.socket);
  const lines = pinFd !== undefined ? new PinLineReader(pinFd) : undefined;
  // The pool socket does not say whether a PIN was right; the daemon's events do. Told after a wrong one.
  const confirming = new Set<string>();
  const tokenKey = (t: { label: string; manufacturer: string; model: string; serial: string }) => [t.label, t.manufacturer, t.model, t.serial].join('\0');
  const events = await subscribePoolEvents(controlSocketPath(config), (e) => {
    if (e.type === 'pin-accepted' && confirming.delete(tokenKey(e.token))) {
      process.stderr.write(`tlspool pinentry: PIN accepted for token "${e.token.label}"\n`);
    }
  });
  let answered = 0;
  const stop = () => {
    client.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const ended = new Promise<number>((resolve) => client.onClose(() => resolve(0)));
  const registration = client.offerPinEntry({
    shared: args.values.shared === true,
    onPrompt: async (p) => {
      let pin: Uint8Array | null;
      if (lines) {
        for (;;) {
          process.stdout.write(`prompt: ${describe(p)}\n`);
          const line = await lines.next();
          if (line === null || line instanceof Uint8Array) {
            pin = line;
            break;
          }
          // Not sent: say why, and ask for the PIN again.
          process.stderr.write(`tlspool pinentry: line refused: ${line.refused}; give the PIN again\n`);
        }
      } else {
        pin = await readPinFromTty('PIN: ', terminalIntro(p));
      }
      answered++;
      if (pin && p.attempt > 1) confirming.add(tokenKey(p.token));
      if (args.values.once) setImmediate(stop); // after the answer went out
      return pin;
    },
  });
  process.stderr.write(`tlspool pinentry: offering PIN entry${args.values.shared ? ' (shared)' : ''} at ${config.socket}\n`);
  try {
    return await Promise.race([
      registration.then(() => 0),
      ended.then(() => (args.values.once && answered === 0 ? 1 : 0)),
    ]);
  } catch (e) {
    // The pool says who holds PIN entry and what to do about it.
    if (e instanceof Failure && e.code === 'EBUSY') throw new Error(e.message);
    if (e instanceof Failure && e.code === 'ECONNRESET' && answered > 0 && args.values.once) return 0;
    throw e;
  } finally {
    lines?.close();
    events?.close();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    client.close();
  }
}
