/** `tlspool`: one command with subcommands; each has --help. */
import { pkcs11Sentence } from '../pkcs11/ckr';
import { UsageError } from './args';
import { connections } from './commands/connections';
import { daemon } from './commands/daemon';
import { identity, trust } from './commands/identity';
import { lock } from './commands/lock';
import { ping } from './commands/ping';
import { tunnel } from './commands/tunnel';
import { pinentry } from './commands/pinentry';
import { tokens } from './commands/tokens';
import { rules } from './commands/rules';
import { ui } from './commands/ui';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  daemon: { run: daemon, summary: 'run the pool in the foreground' },
  ping: { run: ping, summary: 'check that the pool answers; show its identity and round-trip time' },
  identity: { run: identity, summary: 'add, list, remove local identities (certificate + key)' },
  trust: { run: trust, summary: 'add, list, remove trust anchors' },
  connections: { run: connections, summary: 'list recent STARTTLS connections' },
  tunnel: { run: tunnel, summary: 'relay TCP with TLS on one side, done by the pool (like stunnel)' },
  pinentry: { run: pinentry, summary: 'offer PIN entry: ask for token PINs on this terminal' },
  lock: { run: lock, summary: 'make the pool forget its PINs and log its tokens out' },
  tokens: { run: tokens, summary: 'list PKCS #11 tokens and the certificates and keys on them' },
  rules: { run: rules, summary: 'list and revoke remembered disclosure rules (which identity is shown to whom)' },
  ui: { run: ui, summary: 'serve the desktop UI to a browser (--web) and answer PIN prompts and approvals' },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length)) + 4;
  return [
    'Usage: tlspool COMMAND [OPTIONS]',
    '',
    'A TLS Pool: applications hand it their sockets; it speaks TLS for them.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`),
    '',
    "Run 'tlspool COMMAND --help' for a command's options.",
    '',
  ].join('\n');
}

/** Runs the CLI and returns the exit code; failures print one line to stderr. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`tlspool: unknown command "${name}" (see tlspool --help)\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      return e.exitCode;
    }
    const err = e as Error & { code?: string };
    // A bare CKR_… from a PKCS #11 module becomes a sentence.
    process.stderr.write(`tlspool ${name}: ${pkcs11Sentence(err) ?? err.message}\n`);
    if (process.env.TLSPOOL_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
