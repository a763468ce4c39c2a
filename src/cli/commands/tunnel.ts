/**
 * `tlspool tunnel`: stunnel on the pool. One side of each connection is
 * plaintext TCP, the other TLS; the pool does the TLS (over one pool
 * connection for the whole process, many STARTTLS at once), this command
 * only accepts, connects and relays plaintext.
 */
import * as net from 'node:net';
import { PoolClient } from '../../client/pool-client';
import { checkIdentityString } from '../../store/identities';
import { type OwnedFd } from '../../addon/ipc';
import { StartTlsFlag } from '../../protocol/constants';
import { type CommandSpec, helpText, parse, UsageError } from '../args';
import { clientConfig, poolHelp, poolOptions } from './common';
import { takeFd } from '../../addon/node-socket';

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

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

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

export function formatHostPort(host: string | undefined, port: number | undefined): string {
  const h = host ?? '?';
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? '?'}`;
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

export interface TunnelSettings {
  readonly mode: 'client' | 'server';
  readonly listen: HostPort;
  readonly connect: HostPort;
  readonly localid?: string;
  readonly remoteid?: string;
  /** PIOF_STARTTLS_* for every STARTTLS. */
  readonly flags: number;
  readonly quiet: boolean;
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
  const socket = clientConfig(args.values).socket;
  // Not reachable: a PoolError with a one-line reason and a hint, exit 1.
  const pool = PoolClient.connect(socket);
  return new Tunnel(pool, socket, settings).run();
}

/** Connect TCP without letting Node read a byte, and take the descriptor. */
function connectTcp(to: HostPort): Promise<OwnedFd> {
  return new Promise((resolve, reject) => {
    const sock = new net.Socket();
    sock.pause();
    sock.once('error', reject);
    sock.connect({ host: to.host, port: to.port }, () => {
      sock.removeListener('error', reject);
      try {
        resolve(takeFd(sock));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** "ECODE: message" for pool errors; just the code for Node's system errors (their message repeats it). */
function reason(e: unknown): string {
  const err = e as Error & { code?: string; syscall?: string };
  if (err.code && err.syscall) return err.code;
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/** A failure while setting up one connection, and the step it happened in. */
class SetupError extends Error {
  constructor(
    readonly step: string,
    readonly failure: unknown,
  ) {
    super(`${step}: ${reason(failure)}`);
  }
}

async function step<T>(name: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new SetupError(name, e);
  }
}

class Tunnel {
  private readonly listener = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  /** Closers of every connection not yet closed. */
  private readonly live = new Set<() => void>();
  private nextId = 1;
  private stopping = false;

  constructor(
    private readonly pool: PoolClient,
    private readonly socket: string,
    private readonly s: TunnelSettings,
  ) {}

  /**
   * Check the pool answers, listen, and serve until a signal (0) or the
   * loss of the pool (1). Failing to start throws: one line, exit 1.
   */
  async run(): Promise<number> {
    let finish!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finish = resolve));
    let ready = false;
    const stop = (code: number) => {
      if (this.stopping) return;
      this.stopping = true;
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      this.listener.close();
      for (const close of [...this.live]) close();
      this.pool.close();
      finish(code);
    };
    const onSignal = () => stop(0);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    this.pool.onClose((error) => {
      if (this.stopping || !ready) return; // before ready, the failing step reports it
      const why = error ? error.message : 'the pool closed the connection';
      this.log(`lost the connection to the TLS pool at ${this.socket} (${why}); stopping`);
      stop(1);
    });

    const { listen } = this.s;
    try {
      await this.pool.ping().catch((e: Error) => {
        throw new Error(`the TLS pool at ${this.socket} does not answer: ${e.message}`);
      });
      await new Promise<void>((resolve, reject) => {
        this.listener.once('error', (e: Error & { code?: string }) =>
          reject(new Error(`cannot listen on ${formatHostPort(listen.host, listen.port)}: ${e.code ?? e.message}`)),
        );
        this.listener.listen(listen.port, listen.host, () => {
          this.listener.removeAllListeners('error');
          resolve();
        });
      });
    } catch (e) {
      if (this.stopping) return done; // a signal came first
      stop(1);
      throw e;
    }
    if (this.stopping) return done;
    ready = true;
    this.listener.on('error', (e) => this.log(`accept failed: ${reason(e)}`));
    this.listener.on('connection', (sock) => this.accept(sock));
    const addr = this.listener.address() as net.AddressInfo;
    process.stdout.write(`listening on ${formatHostPort(addr.address, addr.port)}\n`);
    return done;
  }

  private log(line: string): void {
    process.stderr.write(`tlspool tunnel: ${line}\n`);
  }

  private info(line: string): void {
    if (!this.s.quiet) this.log(line);
  }

  private accept(sock: net.Socket): void {
    const id = this.nextId++;
    const peer = formatHostPort(sock.remoteAddress, sock.remotePort);
    const to = formatHostPort(this.s.connect.host, this.s.connect.port);
    sock.on('error', () => {
      /* before the relay: nobody reads it (client) or it is handed over already (server) */
    });
    const closeEarly = () => sock.destroy();
    this.live.add(closeEarly);
    const start = this.s.mode === 'client' ? this.startClient(sock) : this.startServer(sock);
    start.then(
      ({ a, b, localid, remoteid }) => {
        this.live.delete(closeEarly);
        if (this.stopping) {
          a.destroy();
          b.destroy();
          return;
        }
        this.info(`#${id} opened: ${peer} -> ${to}, local id ${localid || '-'}, remote id ${remoteid || '-'}`);
        this.relay(id, peer, to, a, b);
      },
      (e: Error) => {
        this.live.delete(closeEarly);
        sock.destroy();
        if (!this.stopping) this.log(`#${id} failed: ${peer} -> ${to}: ${e instanceof SetupError ? e.message : reason(e)}`);
      },
    );
  }

  /** Client mode: TCP to --connect, STARTTLS_CLIENT there; relay the accepted plaintext socket with the pool's. */
  private async startClient(accepted: net.Socket) {
    const { localid, remoteid, flags } = this.s;
    const tcp = await step('connect', () => connectTcp(this.s.connect));
    try {
      const r = await step('STARTTLS', () =>
        this.pool.starttls({
          role: 'client',
          fd: tcp,
          localid,
          remoteid,
          flags,
          // Without --local-id: show no client certificate, rather than whatever the pool proposes.
          onLocalId: () => '',
        }),
      );
      return { a: accepted, b: wrapFd(r.fd), localid: r.localid, remoteid: r.remoteid };
    } finally {
      tcp.close(); // the pool has its own copy
    }
  }

  /** Server mode: STARTTLS_SERVER on the accepted socket, then TCP to the plaintext --connect; relay the pool's socket with that. */
  private async startServer(accepted: net.Socket) {
    const { localid, remoteid, flags } = this.s;
    const tls = takeFd(accepted); // synchronously, before Node could read the ClientHello
    let r;
    try {
      r = await step('STARTTLS', () => this.pool.starttls({ role: 'server', fd: tls, localid, remoteid, flags }));
    } finally {
      tls.close();
    }
    const plain = wrapFd(r.fd);
    try {
      const backend = await step(
        'connect',
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: this.s.connect.host, port: this.s.connect.port, allowHalfOpen: true });
            s.once('error', reject);
            s.once('connect', () => {
              s.removeListener('error', reject);
              resolve(s);
            });
          }),
      );
      return { a: plain, b: backend, localid: r.localid, remoteid: r.remoteid };
    } catch (e) {
      plain.destroy(); // the pool ends the TLS connection
      throw e;
    }
  }

  /**
   * Copy both ways with half-close: EOF from one side ends writing to the
   * other. Both are closed once both directions are done (each socket's
   * writing finished), or when either fails. `a` is the accepted side (the
   * peer), `b` the side towards --connect.
   */
  private relay(id: number, peer: string, to: string, a: net.Socket, b: net.Socket): void {
    let done = false;
    let error: string | undefined;
    const finished = new Set<net.Socket>();
    const close = () => {
      if (done) return;
      done = true;
      this.live.delete(close);
      a.destroy();
      b.destroy();
      this.info(`#${id} closed: ${a.bytesRead} bytes from ${peer}, ${b.bytesRead} bytes to it${error ? ` (${error})` : ''}`);
    };
    this.live.add(close);
    for (const [sock, side] of [
      [a, peer],
      [b, to],
    ] as const) {
      sock.removeAllListeners('error');
      sock.on('error', (e: Error) => {
        error ??= `${reason(e)} on the connection with ${side}`;
        close();
      });
      sock.on('finish', () => {
        finished.add(sock);
        if (finished.size === 2) close();
      });
      // A socket that closes before its writing finished went away abnormally;
      // one that closes after (both its directions done) may still be feeding the other.
      sock.on('close', () => {
        if (!finished.has(sock)) close();
      });
    }
    a.pipe(b);
    b.pipe(a);
  }
}

/** A Node socket on the pool's plaintext descriptor (a socketpair end). */
function wrapFd(fd: OwnedFd): net.Socket {
  return new net.Socket({ fd: fd.release(), readable: true, writable: true, allowHalfOpen: true });
}
