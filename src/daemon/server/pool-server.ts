/**
 * The pool socket: listens, accepts, and gives each client a session. Owns
 * the socket file from bind to unlink.
 */
import * as fs from 'node:fs';
import type { OwnedFd, UnixConnection } from '../../addon/ipc';
import type { Logger } from '../../log/logger';
import { decodeHeader, encode, errorPacket } from '../../protocol/codec';
import { Errno } from '../../protocol/errno';
import { COMMAND_SIZE } from '../../protocol/layout';
import { Framer } from '../../protocol/framer';
import type { PoolLimits, Refusal } from './limits';
import type { HandlerLookup } from './session';
import type { V2Packet } from '../../protocol/v2-codec';
import type { ClientInfo } from './request';
import { ClientSession } from './session';
import { adoptListening, bindOwnerOnly, type BoundSocket, peerExecutable, resolveGroup } from './socket-path';
import { peerCommand } from './peer-command';
import { FD_NAMES } from '../systemd/activation';

/** How long a connection over a limit waits for its first request, to answer it with the refusal. */
const REFUSAL_LINGER_MS = 2000;
/** Refused connections waiting so at most; beyond, a refused connection is closed at once, unanswered. */
const MAX_REFUSING = 64;
/** How often a refusal that did not fit the socket at once is looked at again until it is written. */
const REFUSAL_DRAIN_MS = 10;

export interface PoolServerOptions {
  socket: string;
  /** With a group the socket is 0660 and that group's; otherwise 0600. */
  socketGroup?: string | number;
  handlers: HandlerLookup;
  /** The V2 commands; without them a V2 client's requests are refused. */
  v2Handlers?: HandlerLookup<V2Packet>;
  /** Told when a pool connection closes. */
  clientClosed?: (client: ClientInfo) => void;
  /** The connection limits (the handshake limits wrap the STARTTLS handler). */
  limits: PoolLimits;
  log: Logger;
  /**
   * A listening socket systemd passed (socket activation): accept there
   * instead of binding `socket`, and leave its file alone (no chown, chmod
   * or unlink). It is checked as a socket made here would be made.
   */
  listenFd?: number;
  /** Told the number of clients each time one comes or goes. */
  onSessionsChanged?: (clients: number) => void;
}

export class PoolServer {
  readonly sessions = new Set<ClientSession>();
  private nextClientId = 1;
  private bound: BoundSocket | undefined;
  /** Connections over a limit, waiting for the request to answer with the refusal. */
  private readonly refusing = new Set<() => void>();

  private constructor(private readonly opts: PoolServerOptions) {}

  static listen(opts: PoolServerOptions): PoolServer {
    const server = new PoolServer(opts);
    server.bind();
    return server;
  }

  /** Where it listens: the configured path, or the path of the socket systemd passed. */
  get socket(): string {
    return this.bound?.path ?? this.opts.socket;
  }

  private bind(): void {
    const { socket, socketGroup, log, listenFd } = this.opts;
    const gid = socketGroup === undefined ? undefined : resolveGroup(socketGroup);
    if (listenFd !== undefined) {
      const fix = gid === undefined ? 'set SocketMode=0600, or SocketMode=0660 with SocketGroup= and that group as socket_group' : 'set SocketMode=0660 and SocketGroup= to socket_group';
      this.bound = adoptListening(listenFd, { name: FD_NAMES.pool, group: gid, fix }, log, (conn) => this.accept(conn));
      return;
    }
    this.bound = bindOwnerOnly(socket, 128, log, (conn) => this.accept(conn));
    if (gid !== undefined) {
      fs.chownSync(socket, -1, gid);
      fs.chmodSync(socket, 0o660);
    }
  }

  private accept(conn: UnixConnection): void {
    const id = this.nextClientId++;
    const admitted = this.opts.limits.admitConnection(conn.peer, id);
    if (typeof admitted !== 'function') {
      this.refuse(conn, id, admitted);
      return;
    }
    const executable = peerExecutable(conn.peer.pid);
    const command = peerCommand(conn.peer.pid);
    const session = new ClientSession(
      conn,
      { id, peer: conn.peer, executable, command },
      { v1: this.opts.handlers, v2: this.opts.v2Handlers, closed: this.opts.clientClosed },
      this.opts.log,
      (s) => {
        this.sessions.delete(s);
        admitted();
        this.opts.onSessionsChanged?.(this.sessions.size);
      },
    );
    this.sessions.add(session);
    this.opts.onSessionsChanged?.(this.sessions.size);
    this.opts.log.debug('client connected', { client: id, ...conn.peer, executable });
    session.start();
  }

  /**
   * A connection over a limit: its first request is answered with the
   * refusal, then it is closed. It is never served, and holds its descriptor
   * for REFUSAL_LINGER_MS at most; while MAX_REFUSING others wait so, it is
   * closed at once.
   */
  private refuse(conn: UnixConnection, id: number, refusal: Refusal): void {
    this.opts.log.debug('client refused', { client: id, ...conn.peer, errno: refusal.errno });
    if (this.refusing.size >= MAX_REFUSING) {
      conn.close();
      return;
    }
    const framer = new Framer<OwnedFd>();
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (!this.refusing.delete(done)) return;
      clearTimeout(timer);
      framer.dispose();
      conn.close();
    };
    // close() drops output not yet written: wait until the answer is out (a fresh socket takes it at once).
    const closeWhenSent = () => {
      clearTimeout(timer);
      if (conn.queuedBytes === 0) done();
      else timer = setTimeout(closeWhenSent, REFUSAL_DRAIN_MS).unref();
    };
    this.refusing.add(done);
    timer = setTimeout(done, REFUSAL_LINGER_MS).unref();
    let answered = false;
    conn.start(
      (chunk, fds) => {
        const frames = framer.push(chunk, fds);
        for (const f of frames) f.fd?.close();
        if (answered || frames.length === 0) return;
        answered = true;
        conn.send(encode(errorPacket(decodeHeader(frames[0]!.bytes).reqid, 0, Errno[refusal.errno], refusal.message)));
        closeWhenSent();
      },
      done,
      COMMAND_SIZE,
    );
  }

  /** Stop accepting, answer or cancel pending work, unlink the socket (not one systemd passed). */
  async close(reason: string, graceMs = 2000): Promise<void> {
    this.bound?.stopListening();
    for (const done of [...this.refusing]) done();
    await Promise.all([...this.sessions].map((s) => s.shutdown(reason, graceMs)));
    this.opts.limits.flush();
    this.bound?.unlink();
  }
}
