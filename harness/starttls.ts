/**
 * What the STARTTLS tests share: a daemon with identities and trust added
 * through the CLI, TCP and UDP sockets whose fds are handed to the pool, and
 * the plaintext side of an established connection.
 *
 * Handing a Node socket to the pool: the fd is duplicated and Node's socket
 * destroyed before the STARTTLS, or Node would go on reading the same kernel
 * socket and swallow the handshake.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { PoolClient, type StartTlsOptions, type StartTlsResult } from '../src/client/pool-client';
import { Failure } from '../src/model/failure';
import type { OwnedFd } from '../src/addon/ipc';
import { tlsPollFd } from './native-fd';
import type { ConnectionRecord } from '../src/model/connection';
import { CLI, startDaemon, tempDir, type TestDaemon } from './daemon';
import { CLIENT_EMAIL, type Cert, getPki, SERVER_NAME } from './pki';
import { waitFor } from './wait';
import { takeFd } from '../src/addon/node-socket';

/** Bound for waits that only guard against hangs. */
export const HANG_GUARD_MS = 20000;

/** Run `tlspool ARGS --state-dir D`; returns stdout, throws with stderr on failure. */
export function tlspoolCli(stateDir: string, args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args, '--state-dir', stateDir], { encoding: 'utf8', timeout: 30000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tlspool ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface Pool {
  readonly daemon: TestDaemon;
  readonly client: PoolClient;
  readonly stateDir: string;
  /** `tlspool ARGS --state-dir <this pool's state>`. */
  cli(args: string[]): string;
  /** The connection log as `tlspool connections --json` shows it, newest first. */
  connections(): ConnectionRecord[];
  stop(): Promise<void>;
}

export interface PoolOptions {
  /** Local identities to add with `tlspool identity add` before the daemon starts (the first is the default). */
  identities?: Array<[localid: string, cert: Cert]>;
  /** CA certificates to add with `tlspool trust add`. */
  trust?: Cert[];
  /** Keys of the `tls` section (system_trust is false unless given). */
  tls?: Record<string, unknown>;
  /** Keys of the `dns` section, when given. */
  dns?: Record<string, unknown>;
  /** Keys of the `log` section, when given. */
  log?: Record<string, unknown>;
  /** Keys of the `revocation` section, when given. */
  revocation?: Record<string, unknown>;
  /** Keys of the `ldap` section, when given. */
  ldap?: Record<string, unknown>;
  /** Keys of the `radius` section, when given. */
  radius?: Record<string, unknown>;
}

export async function startPool(opts: PoolOptions = {}): Promise<Pool> {
  const dir = tempDir('tlspool-starttls-');
  const stateDir = path.join(dir, 'state');
  const cli = (args: string[]) => tlspoolCli(stateDir, args);
  for (const [id, cert] of opts.identities ?? []) cli(['identity', 'add', id, '--cert', cert.chainPath, '--key', cert.keyPath]);
  for (const ca of opts.trust ?? []) cli(['trust', 'add', ca.certPath]);
  const sections = { dns: opts.dns, log: opts.log, revocation: opts.revocation, ldap: opts.ldap, radius: opts.radius };
  const given = Object.fromEntries(Object.entries(sections).filter(([, v]) => v !== undefined));
  const config = toYaml({ tls: { system_trust: false, ...opts.tls }, ...given });
  const daemon = await startDaemon({ dir, config });
  const client = PoolClient.connect(daemon.socket);
  // Once answered, the daemon has accepted this connection: fd counts taken from here on are stable.
  await client.ping();
  return {
    daemon,
    client,
    stateDir,
    cli,
    connections: () => JSON.parse(cli(['connections', '--json', '--limit', '1000'])) as ConnectionRecord[],
    stop: async () => {
      client.close();
      const code = await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `the daemon exited with ${code}:\n${daemon.logs()}`);
    },
  };
}

/**
 * The pool most STARTTLS tests use: server.example.test (the default
 * identity, proposed first) and alice@example.test, trusting the test CA.
 */
export function startExamplePool(tls?: PoolOptions['tls']): Promise<Pool> {
  const pki = getPki();
  return startPool({
    identities: [
      [SERVER_NAME, pki.server],
      [CLIENT_EMAIL, pki.client],
    ],
    trust: [pki.ca],
    tls,
  });
}

/** The ERROR a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Failure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Failure, `expected a Failure, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an ERROR response');
}

// ---------------------------------------------------------------------------
// Sockets to hand over

/** A TCP connection to 127.0.0.1:port, as an fd to hand to the pool. */
export async function tcpConnect(port: number): Promise<OwnedFd> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return takeFd(sock);
}

/** A connected UDP socket to 127.0.0.1:port, as an fd to hand to the pool. */
export async function udpConnect(port: number): Promise<OwnedFd> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => sock.connect(port, '127.0.0.1', () => resolve()));
  });
  return takeFd(sock);
}

/** A TCP listener on 127.0.0.1 whose accepted connections become fds for the pool. */
export class TcpListener {
  private readonly queue: net.Socket[] = [];
  private readonly waiters: Array<(s: net.Socket) => void> = [];

  private constructor(private readonly server: net.Server) {
    server.on('connection', (s) => {
      const w = this.waiters.shift();
      if (w) w(s);
      else this.queue.push(s);
    });
  }

  static async open(): Promise<TcpListener> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    return new TcpListener(server);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** The next accepted connection's fd. */
  async accept(): Promise<OwnedFd> {
    const next = this.queue.shift();
    const sock =
      next ??
      (await new Promise<net.Socket>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no connection arrived')), HANG_GUARD_MS);
        this.waiters.push((s) => {
          clearTimeout(t);
          resolve(s);
        });
      }));
    return takeFd(sock);
  }

  /** Stops listening; connections never accepted are dropped (paused, they would never see their end). */
  close(): Promise<void> {
    for (const s of this.queue.splice(0)) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------
// The plaintext side

/** The plaintext stream the pool handed back, with what arrived on it so far. */
export class Plaintext {
  readonly socket: net.Socket;
  private data = '';
  private ended = false;
  private readonly closed: Promise<void>;

  /** `halfOpen`: our side stays writable after the peer's end of stream (TLS close_notify). */
  constructor(fd: OwnedFd, opts: { halfOpen?: boolean } = {}) {
    this.socket = new net.Socket({ fd: fd.release(), readable: true, writable: true, allowHalfOpen: opts.halfOpen ?? false });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (s: string) => (this.data += s));
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.once('end', () => (this.ended = true));
  }

  get received(): string {
    return this.data;
  }

  write(s: string): void {
    this.socket.write(s);
  }

  /** Wait until the received text matches. */
  until(pattern: RegExp | string): Promise<string> {
    const test = () => (typeof pattern === 'string' ? this.data.includes(pattern) : pattern.test(this.data));
    return waitFor(`plaintext ${String(pattern)} (got ${JSON.stringify(this.data)})`, () => test() && this.data, HANG_GUARD_MS);
  }

  /** Wait for the peer's end of stream. */
  async untilEnd(): Promise<void> {
    await waitFor('end of the plaintext stream', () => this.ended, HANG_GUARD_MS);
  }

  /** Close our side and wait until Node closed the fd. */
  async close(): Promise<void> {
    this.socket.end();
    this.socket.destroySoon();
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** DTLS: the plaintext side is a SOCK_SEQPACKET socket, one datagram per message. */
export class PlainDatagrams {
  constructor(readonly fd: OwnedFd) {}

  send(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const n = fs.writeSync(this.fd.fd, buf);
    assert.equal(n, buf.length);
  }

  /** The next datagram (polled without blocking the event loop for long). */
  async receive(): Promise<Buffer> {
    await waitFor('a datagram on the plaintext fd', () => tlsPollFd(this.fd.fd, 'in', 0), HANG_GUARD_MS);
    const buf = Buffer.alloc(65536);
    const n = fs.readSync(this.fd.fd, buf);
    return buf.subarray(0, n);
  }

  close(): void {
    this.fd.close();
  }
}

/** Two datagrams from the client's plaintext end, a reply from the server's: what both DTLS tests send. */
export async function exchangeDatagrams(client: PlainDatagrams, server: PlainDatagrams): Promise<void> {
  client.send('first');
  client.send('second');
  assert.equal((await server.receive()).toString(), 'first');
  assert.equal((await server.receive()).toString(), 'second');
  server.send('reply');
  assert.equal((await client.receive()).toString(), 'reply');
}

type SideOptions = Omit<StartTlsOptions, 'role' | 'fd'>;

/**
 * A pool client and a pool server through the same daemon, over one fresh
 * loopback TCP connection: STARTTLS_CLIENT on `pool.client`, STARTTLS_SERVER
 * on `serverSide` (a connection of its own, made and closed here when not
 * given). The sockets handed over are closed; the plaintext ends are returned.
 */
export async function poolToPool(
  pool: Pool,
  listener: TcpListener,
  client: SideOptions,
  server: SideOptions,
  serverSide?: PoolClient,
): Promise<[StartTlsResult, StartTlsResult]> {
  const side = serverSide ?? PoolClient.connect(pool.daemon.socket);
  const clientFd = await tcpConnect(listener.port);
  const serverFd = await listener.accept();
  try {
    return await Promise.all([
      pool.client.starttls({ role: 'client', fd: clientFd, ...client }),
      side.starttls({ role: 'server', fd: serverFd, ...server }),
    ]);
  } finally {
    clientFd.close();
    serverFd.close();
    if (!serverSide) side.close();
  }
}
