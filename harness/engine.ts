/**
 * What the TLS engine's tests build on: descriptor pairs over loopback TCP
 * and UDP, listeners that hand accepted sockets over as fds, session
 * options with the test PKI's credentials and CA policy, and readers of a
 * session's plaintext.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { loadCredentials, type NativeCredentials } from '../src/addon/tls/credentials';
import { startSession } from '../src/addon/tls/session';
import type { Established, SessionEnd, StartOptions, VerifyContext, VerifyResult } from '../src/addon/tls/options';
import { verifyChain } from '../src/addon/tls/certs';
import { Errno } from '../src/protocol/errno';
import { takeFd } from '../src/addon/node-socket';
import { tlsCloseFd, tlsPollFd } from './native-fd';
import { type Cert, getPki, SERVER_NAME } from './pki';
import type { Peer } from './peers';

const pki = getPki();

export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

export function fdList(): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync('/proc/self/fd')) {
    try {
      out.push(`${n} -> ${fs.readlinkSync(`/proc/self/fd/${n}`)}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

export async function tcpConnect(port: number): Promise<number> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return takeFd(sock).release();
}

/** A listener on 127.0.0.1 whose accepted connections arrive as owned fds (no byte read by Node). */
export class FdListener {
  private readonly server = net.createServer({ pauseOnConnect: true });
  private readonly queue: number[] = [];
  private readonly waiting: ((fd: number) => void)[] = [];
  port = 0;
  async listen(): Promise<this> {
    this.server.on('connection', (sock) => {
      const fd = takeFd(sock).release();
      const w = this.waiting.shift();
      if (w) w(fd);
      else this.queue.push(fd);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  accept(): Promise<number> {
    const fd = this.queue.shift();
    if (fd !== undefined) return Promise.resolve(fd);
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  async close(): Promise<void> {
    for (const fd of this.queue.splice(0)) tlsCloseFd(fd);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A connected TCP pair over loopback, as owned fds. */
export async function tcpPair(): Promise<{ clientFd: number; serverFd: number }> {
  const l = await new FdListener().listen();
  const [clientFd, serverFd] = await Promise.all([tcpConnect(l.port), l.accept()]);
  await l.close();
  return { clientFd, serverFd };
}

/** Two connected UDP sockets on loopback, as owned fds. */
export async function udpPair(): Promise<{ aFd: number; bFd: number }> {
  const bind = async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    return s;
  };
  const a = await bind();
  const b = await bind();
  await Promise.all([
    new Promise<void>((resolve) => a.connect(b.address().port, '127.0.0.1', () => resolve())),
    new Promise<void>((resolve) => b.connect(a.address().port, '127.0.0.1', () => resolve())),
  ]);
  return { aFd: takeFd(a).release(), bFd: takeFd(b).release() };
}

export async function udpConnect(port: number): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => s.connect(port, '127.0.0.1', () => resolve()));
  return takeFd(s).release();
}

/** The application's view of a plaintext fd (Node takes ownership and closes it). */
export function plain(est: Established): net.Socket {
  return new net.Socket({ fd: est.plaintextFd, readable: true, writable: true, allowHalfOpen: true });
}

export function readAll(sock: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.once('end', () => resolve(Buffer.concat(chunks)));
    sock.once('error', reject);
  });
}

/** Read until `n` bytes arrived (or the stream ends). */
export function readBytes(sock: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= n) finish();
    };
    const finish = () => {
      sock.off('data', onData);
      sock.off('end', finish);
      sock.off('error', reject);
      sock.pause();
      resolve(Buffer.concat(chunks));
    };
    sock.on('data', onData);
    sock.once('end', finish);
    sock.once('error', reject);
    sock.resume();
  });
}

/** A promise for the session's end, and the callback to pass to startSession. */
export function endWatcher(): { onEnd: (e: SessionEnd) => void; ended: Promise<SessionEnd>; count: () => number } {
  let n = 0;
  let resolve!: (e: SessionEnd) => void;
  const ended = new Promise<SessionEnd>((r) => (resolve = r));
  return {
    onEnd: (e) => {
      n++;
      resolve(e);
    },
    ended,
    count: () => n,
  };
}

export const loaded = new Map<string, NativeCredentials>();
export function creds(cert: Cert): NativeCredentials {
  let c = loaded.get(cert.name);
  if (!c) {
    c = loadCredentials(cert.chainPem, { pem: cert.keyPem });
    loaded.set(cert.name, c);
  }
  return c;
}

/** The usual policy: chain to our CA, with the purpose and names given. */
export function caPolicy(purpose: 'server' | 'client', names: { hostname?: string; email?: string } = {}) {
  const seen: VerifyContext[] = [];
  const verify = (ctx: VerifyContext): VerifyResult => {
    seen.push(ctx);
    const r = verifyChain(ctx.chainDer, { anchorsPem: [pki.ca.certPem], purpose, ...names });
    return r.ok ? { ok: true } : { ok: false, errno: Errno.EACCES, message: r.message, alert: 'bad_certificate' };
  };
  return { verify, seen };
}

export function clientOptions(fd: number, extra: Partial<StartOptions> = {}): StartOptions {
  return {
    fd,
    role: 'client',
    serverName: SERVER_NAME,
    credentials: () => null,
    verifyPeer: caPolicy('server', { hostname: SERVER_NAME }).verify,
    ...extra,
  };
}

export function serverOptions(fd: number, extra: Partial<StartOptions> = {}): StartOptions {
  return {
    fd,
    role: 'server',
    certRequest: 'ignore',
    credentials: (ctx) => (ctx.serverName === SERVER_NAME ? creds(pki.server) : null),
    verifyPeer: () => ({ ok: true }),
    ...extra,
  };
}

/** Start a session on an owned fd and close that fd (the engine has its own dup). */
export async function start(opts: StartOptions, onEnd: (e: SessionEnd) => void): Promise<Established> {
  try {
    return await startSession(opts, onEnd);
  } finally {
    tlsCloseFd(opts.fd);
  }
}

export async function withPeer<T>(peer: Peer, fn: (peer: Peer) => Promise<T>): Promise<T> {
  try {
    return await fn(peer);
  } finally {
    await peer.stop();
  }
}

/** Read one datagram from a SEQPACKET fd (blocks this thread at most timeoutMs; the engine runs on its own). */
export function recvDatagram(fd: number, timeoutMs = 10000): Buffer {
  if (!tlsPollFd(fd, 'in', timeoutMs)) throw new Error('no datagram within the hang guard');
  const buf = Buffer.alloc(65536);
  const n = fs.readSync(fd, buf, 0, buf.length, null);
  return buf.subarray(0, n);
}
