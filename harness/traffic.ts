/**
 * STARTTLS traffic for the load and soak tests, all through one live daemon:
 * a pool client and a pool server over a loopback TCP connection that relay
 * a line each way, and the three ways an application gives up half-way
 * (before the response, in the handshake, in the relay). Also what the
 * daemon costs from outside: its RSS and open fds from /proc.
 */
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { PoolClient, type StartTlsResult } from '../src/client/pool-client';
import { Failure } from '../src/model/failure';
import { CLIENT_EMAIL, SERVER_NAME } from './pki';
import { TcpPairs } from './pool-tls';
import { Plaintext } from './starttls';
import { takeFd } from '../src/addon/node-socket';

/** What one STARTTLS came to, on one side: 'ok' or the errno name of its ERROR. */
export type Outcome = 'ok' | string;

export type Kind = 'relayed' | 'abort-before-response' | 'abort-mid-handshake' | 'abort-mid-relay';

export interface Result {
  readonly kind: Kind;
  readonly client: Outcome;
  /** The pool server's side, where there is one. */
  readonly server?: Outcome;
}

/** A process's resident set (VmRSS, kB). */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The daemon's resident set (kB) and open descriptors. */
export function procStats(pid: number): { rssKb: number; fds: number } {
  return { rssKb: rssKb(pid), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * The daemon's figures once it is idle: RSS sampled a few times over a
 * couple of seconds, the lowest kept, so that garbage not yet collected is
 * not counted as growth. (A settle, not a timing assertion.)
 */
export async function settledStats(pid: number): Promise<{ rssKb: number; fds: number }> {
  let best = procStats(pid);
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = procStats(pid);
    if (now.rssKb < best.rssKb) best = now;
  }
  return best;
}

/** A small deterministic PRNG (mulberry32), so a run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function settle(p: Promise<StartTlsResult>): Promise<{ outcome: Outcome; result?: StartTlsResult }> {
  try {
    return { outcome: 'ok', result: await p };
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    return { outcome: e.code };
  }
}

/** Resolves when the socket saw its peer's end (EOF, a reset or close): the daemon let go of it. */
function ended(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed || sock.readableEnded) return resolve();
    sock.once('end', () => resolve());
    sock.once('close', () => resolve());
    sock.resume();
  });
}

/**
 * Traffic through one daemon. Pool servers answer on a few shared
 * application connections (`servers`); each pool client STARTTLS goes out on
 * the connection the caller passes, and the aborting kinds close it (the
 * caller connects a new one afterwards).
 */
export class Traffic {
  private next = 0;

  private constructor(
    readonly socket: string,
    private readonly pairs: TcpPairs,
    private readonly servers: PoolClient[],
  ) {}

  static async open(socket: string, serverConnections = 4): Promise<Traffic> {
    const servers = Array.from({ length: serverConnections }, () => PoolClient.connect(socket));
    await Promise.all(servers.map((s) => s.ping()));
    return new Traffic(socket, await TcpPairs.listen(), servers);
  }

  private server(): PoolClient {
    return this.servers[this.next++ % this.servers.length]!;
  }

  /** Both STARTTLS of one pool ⇄ pool connection; the TCP fds are closed here (the pool holds its own). */
  private async handshake(client: PoolClient) {
    const pair = await this.pairs.pair();
    const c = client.starttls({ role: 'client', fd: pair.client, localid: CLIENT_EMAIL, remoteid: SERVER_NAME });
    const s = this.server().starttls({ role: 'server', fd: pair.server, localid: SERVER_NAME });
    pair.client.close();
    pair.server.close();
    return { c, s };
  }

  /** A complete connection: handshake, a line each way, closed by the client application. */
  async relayed(client: PoolClient): Promise<Result> {
    const h = await this.handshake(client);
    const [c, s] = await Promise.all([settle(h.c), settle(h.s)]);
    if (!c.result || !s.result) {
      c.result?.fd.close();
      s.result?.fd.close();
      return { kind: 'relayed', client: c.outcome, server: s.outcome };
    }
    const cp = new Plaintext(c.result.fd);
    const sp = new Plaintext(s.result.fd);
    cp.write('from the client\n');
    await sp.until('from the client\n');
    sp.write('from the server\n');
    await cp.until('from the server\n');
    await cp.close();
    // The server application learns of the close from the pool: it must not need to close first.
    await ended(sp.socket);
    sp.destroy();
    return { kind: 'relayed', client: 'ok', server: 'ok' };
  }

  /** The client application sends STARTTLS and disconnects from the pool at once. */
  async abortBeforeResponse(client: PoolClient): Promise<Result> {
    const h = await this.handshake(client);
    client.close();
    const [c, s] = await Promise.all([settle(h.c), settle(h.s)]);
    if (s.result) {
      // The server's handshake finished before the pool noticed: the orphaned client session must end, and say so.
      await ended(new Plaintext(s.result.fd).socket);
    }
    c.result?.fd.close();
    return { kind: 'abort-before-response', client: c.outcome, server: s.outcome };
  }

  /** The client application disconnects once its ClientHello reached the peer (a silent TCP peer). */
  async abortMidHandshake(client: PoolClient): Promise<Result> {
    const { peer, accepted } = await this.pairs.connect();
    const hello = new Promise<void>((resolve) => {
      accepted.once('data', () => resolve());
      accepted.once('close', () => resolve());
      accepted.resume();
    });
    const fd = takeFd(peer);
    const c = settle(client.starttls({ role: 'client', fd, remoteid: SERVER_NAME }));
    fd.close();
    await hello;
    client.close();
    const closedByPool = ended(accepted);
    const outcome = (await c).outcome;
    // The pool closes the TCP connection of the abandoned handshake.
    await closedByPool;
    accepted.destroy();
    return { kind: 'abort-mid-handshake', client: outcome };
  }

  /** An established connection whose client application vanishes (plaintext and pool connection) while the server sends. */
  async abortMidRelay(client: PoolClient): Promise<Result> {
    const h = await this.handshake(client);
    const [c, s] = await Promise.all([settle(h.c), settle(h.s)]);
    if (!c.result || !s.result) {
      c.result?.fd.close();
      s.result?.fd.close();
      return { kind: 'abort-mid-relay', client: c.outcome, server: s.outcome };
    }
    const cp = new Plaintext(c.result.fd);
    const sp = new Plaintext(s.result.fd);
    sp.write('x'.repeat(256 * 1024));
    await cp.until('xxxxxxxx');
    cp.destroy();
    client.close();
    await ended(sp.socket);
    sp.destroy();
    return { kind: 'abort-mid-relay', client: 'ok', server: 'ok' };
  }

  async close(): Promise<void> {
    for (const s of this.servers) s.close();
    await this.pairs.close();
  }
}
