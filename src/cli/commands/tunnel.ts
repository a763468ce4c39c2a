/**
 * `tlspool tunnel`: the command line (options, their checks, help); the
 * tunnel itself is ../tunnel-server.ts.
 */
import * as net from 'node:net';
import { PoolClient } from '../../client/pool-client';
import { checkIdentityString } from '../../store/identities';
import { StartTlsFlag } from '../../protocol/constants';
import { type CommandSpec, helpText, parse, UsageError } from '../args';
import { clientConfig, controlSocketPath, poolHelp, poolOptions } from './common';
import { approvalNotices } from '../approval-notices';
import { type HostPort, Tunnel, type TunnelSettings } from '../tunnel-server';

const options = {
  client: { type: 'boolean' },
  server: { type: 'boolean' },
  listen: { type: 'string' },
  connect: { type: 'string' },
  'local-id': { type: 'string' },
  'remote-id': { type: 'string' },
  'no-sni': { type: 'boolean' },
  'request-remote-id': { type: 'boolean' },
  'ignore-remote-id': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  ...poolOptions,
} as const;

export const spec = {
  name: 'tunnel',
  usage:
    'tunnel --client --listen ADDR:PORT --connect HOST:PORT --remote-id ID [--local-id ID] [--no-sni]\n' +
    '       tlspool tunnel --server --listen ADDR:PORT --connect HOST:PORT --local-id ID\n' +
    '                      [--remote-id ID | --request-remote-id | --ignore-remote-id]',
  summary:
    'Relay TCP connections, with TLS on one side, done by the pool (like stunnel).\n' +
    '\n' +
    '--client accepts plaintext connections on --listen; for each it connects to\n' +
    '--connect, has the pool start TLS as a client there (validating the server\n' +
    'against --remote-id) and relays plaintext both ways.\n' +
    '--server accepts TLS connections on --listen; for each it has the pool start TLS\n' +
    'as a server (as --local-id; a valid client certificate is required unless told\n' +
    'otherwise), then connects to the plaintext service at --connect and relays.\n' +
    '\n' +
    'ADDR:PORT is an IPv4 address or host name and a port (127.0.0.1:8443), or an IPv6\n' +
    'address in brackets ([::1]:8443). --listen port 0 picks a free port.\n' +
    'Once ready it prints "listening on ADDR:PORT" on stdout. On stderr it logs one line\n' +
    'per connection opened (peer, local and remote identity), closed (bytes each way)\n' +
    'or failed (errno and reason; that connection is closed, the tunnel goes on).\n' +
    'SIGINT or SIGTERM stop it (exit 0). If the pool cannot be reached at the start, or\n' +
    'its connection is lost later, it exits 1; usage errors exit 2.',
  options,
  help: {
    client: 'plaintext on --listen, TLS to --connect',
    server: 'TLS on --listen, plaintext to --connect',
    listen: 'ADDR:PORT to accept connections on',
    connect: 'HOST:PORT to connect to for each accepted connection',
    'local-id': 'our identity in the pool (domain or user@domain). --server: required; --client: shown when the server asks for a client certificate (default: show none)',
    'remote-id': "the peer's identity. --client: required, the server certificate must name it; --server: the client certificate must name it (default: any valid one)",
    'no-sni': '--client: do not send the remote identity\'s domain as SNI (sent by default)',
    'request-remote-id': '--server: ask for a client certificate but accept connections without one',
    'ignore-remote-id': '--server: do not ask for a client certificate',
    quiet: 'do not log connections opened and closed (failures are still logged)',
    ...poolHelp,
  },
} satisfies CommandSpec<typeof options>;

function usage(message: string): UsageError {
  return new UsageError(`tlspool tunnel: ${message} (see tlspool tunnel --help)`);
}

/** Parse `host:port` or `[ipv6]:port`; a UsageError names the option and what is wrong. */
export function parseHostPort(option: string, text: string, allowPortZero = false): HostPort {
  const bad = (why: string) => usage(`--${option} "${text}": ${why}`);
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
    if (!m) throw bad('expected [IPV6]:PORT, like [::1]:8443');
    host = m[1]!;
    if (m[2] === undefined) throw bad('the port is missing, like [::1]:8443');
    portText = m[2];
    if (!net.isIPv6(host)) throw bad(`"${host}" is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw bad('expected ADDR:PORT, like 127.0.0.1:8443');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw bad(`put an IPv6 address in brackets, like [${host}]:${portText || 'PORT'}`);
    if (host === '') throw bad('the address is missing, like 127.0.0.1:PORT (0.0.0.0 for every IPv4 address)');
    if (!net.isIPv4(host) && !/^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$/i.test(host)) {
      throw bad(`"${host}" is not an IPv4 address or a host name`);
    }
  }
  if (portText === '') throw bad('the port is missing');
  if (!/^\d+$/.test(portText)) throw bad(`"${portText}" is not a port number`);
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !allowPortZero)) throw bad(`port ${portText} is out of range (${allowPortZero ? 0 : 1}-65535)`);
  return { host, port };
}

function identityOption(option: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    checkIdentityString(value);
  } catch {
    throw usage(`--${option} "${value}" is not an identity: use a domain (example.org) or user@domain`);
  }
  return value;
}

type Values = { [K in keyof typeof options]?: (typeof options)[K]['type'] extends 'string' ? string : boolean };

/** Check the combination of options; every mistake is a one-line UsageError. */
export function tunnelSettings(v: Values): TunnelSettings {
  if (v.client === v.server) throw usage(v.client ? '--client and --server exclude each other' : 'say --client or --server');
  const mode = v.client ? 'client' : 'server';
  if (v.listen === undefined) throw usage('--listen ADDR:PORT is required');
  const listen = parseHostPort('listen', v.listen, true);
  if (v.connect === undefined) throw usage('--connect HOST:PORT is required');
  const connect = parseHostPort('connect', v.connect);
  const localid = identityOption('local-id', v['local-id']);
  const remoteid = identityOption('remote-id', v['remote-id']);
  let flags = 0;
  if (mode === 'client') {
    for (const o of ['request-remote-id', 'ignore-remote-id'] as const) if (v[o]) throw usage(`--${o} goes with --server`);
    if (remoteid === undefined) throw usage('--client needs --remote-id: the identity the server must prove');
    if (!v['no-sni']) flags |= StartTlsFlag.SEND_SNI;
  } else {
    if (v['no-sni']) throw usage('--no-sni goes with --client');
    if (localid === undefined) throw usage('--server needs --local-id: the identity to show to clients');
    const chosen = (['remote-id', 'request-remote-id', 'ignore-remote-id'] as const).filter((o) => v[o] !== undefined && v[o] !== false);
    if (chosen.length > 1) throw usage(`--${chosen[0]} and --${chosen[1]} exclude each other`);
    if (v['request-remote-id']) flags |= StartTlsFlag.REQUEST_REMOTEID;
    if (v['ignore-remote-id']) flags |= StartTlsFlag.IGNORE_REMOTEID;
  }
  return { mode, listen, connect, localid, remoteid, flags, quiet: v.quiet === true };
}

export async function tunnel(argv: string[]): Promise<number> {
  const args = parse(spec, argv);
  if (!args) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  const settings = tunnelSettings(args.values);
  const config = clientConfig(args.values);
  const socket = config.socket;
  // Not reachable: a Failure with a one-line reason and a hint, exit 1.
  const pool = PoolClient.connect(socket);
  // A STARTTLS waiting for a person to approve showing --local-id is said so, not left to seem hung.
  const notices = await approvalNotices(controlSocketPath(config), (line) => process.stderr.write(`tlspool tunnel: ${line}\n`));
  try {
    return await new Tunnel(pool, socket, settings).run();
  } finally {
    notices?.close();
  }
}

