/**
 * The tunnel of `tlspool tunnel`: stunnel on the pool. One side of each
 * connection is plaintext TCP, the other TLS; the pool does the TLS (over one
 * pool connection for the whole process, many STARTTLS at once), this only
 * accepts, connects and relays plaintext.
 */
import * as net from 'node:net';
import type { PoolClient } from '../client/pool-client';
import type { OwnedFd } from '../addon/ipc';
import { takeFd } from '../addon/node-socket';
import { errnoOf, Failure } from '../model/failure';
import { systemErrorSentence } from './system-error';

export interface HostPort {
  readonly host: string;
  readonly port: number;
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

export function formatHostPort(host: string | undefined, port: number | undefined): string {
  const h = host ?? '?';
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? '?'}`;
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
  const sentence = systemErrorSentence(e);
  if (sentence) return sentence;
  return err.code ? `${err.code}: ${err.message}` : err.message;
}

/** Run one step of setting up a connection; a failure names the step. */
async function step<T>(name: string, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new Failure(errnoOf(e), `${name}: ${reason(e)}`, { cause: e });
  }
}

export class Tunnel {
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
          reject(new Error(systemErrorSentence(e) ?? `cannot listen on ${formatHostPort(listen.host, listen.port)}: ${e.message}`)),
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
        if (!this.stopping) this.log(`#${id} failed: ${peer} -> ${to}: ${e instanceof Failure ? e.message : reason(e)}`);
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
