/**
 * Every `tlspool` command with its specs: what `tlspool --help`, the man
 * page tlspool(1) and shell completion are made from, so none of them can
 * say other than the parser does.
 */
import type { AnySpec } from './args';
import { autostart, spec as autostartSpec } from './commands/autostart';
import { completion, completionSpec } from './commands/completion';
import { connections, spec as connectionsSpec } from './commands/connections';
import { daemon, spec as daemonSpec } from './commands/daemon';
import { identity, trust } from './commands/identity';
import { installUnits, spec as installUnitsSpec } from './commands/install-units';
import { lock, spec as lockSpec } from './commands/lock';
import { lookup, spec as lookupSpec } from './commands/lookup';
import { ping, spec as pingSpec } from './commands/ping';
import { pinentry, spec as pinentrySpec } from './commands/pinentry';
import { listSpec as rulesListSpec, revokeSpec as rulesRevokeSpec, rules } from './commands/rules';
import { spec as tokensSpec, tokens } from './commands/tokens';
import { spec as tunnelSpec, tunnel } from './commands/tunnel';
import { spec as uiSpec, ui } from './commands/ui';

export interface CliCommand {
  readonly name: string;
  /** One line for `tlspool --help`. */
  readonly summary: string;
  readonly run: (argv: string[]) => Promise<number>;
  /** The command's spec, or one per subcommand (`identity add`, `identity list`, …). */
  readonly specs: readonly AnySpec[];
}

const spec = (s: unknown) => [s as AnySpec];

export const COMMANDS: readonly CliCommand[] = [
  { name: 'daemon', summary: 'run the pool in the foreground (or as a systemd service)', run: daemon, specs: spec(daemonSpec) },
  { name: 'ping', summary: 'check that the pool answers; show its identity and round-trip time', run: ping, specs: spec(pingSpec) },
  { name: 'identity', summary: 'manage local identities (certificate + key)', run: identity.run, specs: identity.specs },
  { name: 'trust', summary: 'manage trust anchors', run: trust.run, specs: trust.specs },
  { name: 'connections', summary: 'list recent STARTTLS connections', run: connections, specs: spec(connectionsSpec) },
  { name: 'lookup', summary: "show what the directory of a user's domain publishes for the user", run: lookup, specs: spec(lookupSpec) },
  { name: 'tunnel', summary: 'relay TCP with TLS on one side, done by the pool (like stunnel)', run: tunnel, specs: spec(tunnelSpec) },
  { name: 'pinentry', summary: 'offer PIN entry: ask for token PINs on this terminal', run: pinentry, specs: spec(pinentrySpec) },
  { name: 'lock', summary: 'make the pool forget its PINs and log its tokens out', run: lock, specs: spec(lockSpec) },
  { name: 'tokens', summary: 'list PKCS #11 tokens and the certificates and keys on them', run: tokens, specs: spec(tokensSpec) },
  { name: 'rules', summary: 'list and revoke remembered disclosure rules (which identity is shown to whom)', run: rules, specs: [rulesListSpec, rulesRevokeSpec] as unknown as AnySpec[] },
  { name: 'ui', summary: 'serve the desktop UI to a browser (--web) and answer PIN prompts and approvals', run: ui, specs: spec(uiSpec) },
  { name: 'install-units', summary: 'install the systemd units that run the pool as a service', run: installUnits, specs: spec(installUnitsSpec) },
  { name: 'autostart', summary: 'start the desktop tray app at login, or not (XDG autostart)', run: autostart, specs: spec(autostartSpec) },
  { name: 'completion', summary: 'print the bash completion script for tlspool', run: (argv) => completion(argv, COMMANDS), specs: spec(completionSpec) },
];

/** The subcommand names of a command made of them (`identity`: add, generate, …); empty for one that is not. */
export function subcommands(command: CliCommand): string[] {
  return command.specs.filter((s) => s.name.startsWith(`${command.name} `)).map((s) => s.name.slice(command.name.length + 1));
}

/** `tlspool --help`: every command, with its subcommands. */
export function usage(version: string): string {
  const label = (c: CliCommand) => {
    const subs = subcommands(c);
    return subs.length > 0 ? `${c.name} ${subs.join('|')}` : c.name;
  };
  const labels = COMMANDS.map(label);
  const width = Math.max(...COMMANDS.filter((c) => subcommands(c).length === 0).map((c) => c.name.length)) + 4;
  const lines = COMMANDS.flatMap((c, i) => {
    const l = labels[i]!;
    // A long label (a command with its subcommands) gets its summary on the next line.
    return l.length < width ? [`  ${l.padEnd(width)}${c.summary}`] : [`  ${l}`, `  ${''.padEnd(width)}${c.summary}`];
  });
  return [
    'Usage: tlspool COMMAND [OPTIONS]',
    '       tlspool --help | --version',
    '',
    `A TLS Pool (version ${version}): applications hand it their sockets; it speaks TLS for them.`,
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'tlspool COMMAND --help' for a command's options. Usage errors exit 2, other failures 1.",
    '',
  ].join('\n');
}
