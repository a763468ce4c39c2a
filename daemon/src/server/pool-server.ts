/**
 * The pool socket: listens, accepts, and gives each client a session. Owns
 * the socket file from bind to unlink.
 */
import * as fs from 'node:fs';
import type { UnixConnection } from '../native/ipc';
import type { Logger } from '../log/logger';
import type { HandlerLookup } from './session';
import { ClientSession } from './session';
import { bindOwnerOnly, type BoundSocket, peerExecutable, resolveGroup } from './socket-path';

export interface PoolServerOptions {
  socket: string;
  /** With a group the socket is 0660 and that group's; otherwise 0600. */
  socketGroup?: string | number;
  handlers: HandlerLookup;
  log: Logger;
}

export class PoolServer {
  readonly sessions = new Set<ClientSession>();
  private nextClientId = 1;
  private bound: BoundSocket | undefined;

  private constructor(private readonly opts: PoolServerOptions) {}

  static listen(opts: PoolServerOptions): PoolServer {
    const server = new PoolServer(opts);
    server.bind();
    return server;
  }

  get socket(): string {
    return this.opts.socket;
  }

  private bind(): void {
    const { socket, socketGroup, log } = this.opts;
    const gid = socketGroup === undefined ? undefined : resolveGroup(socketGroup);
    this.bound = bindOwnerOnly(socket, 128, log, (conn) => this.accept(conn));
    if (gid !== undefined) {
      fs.chownSync(socket, -1, gid);
      fs.chmodSync(socket, 0o660);
    }
  }

  private accept(conn: UnixConnection): void {
    const id = this.nextClientId++;
    const executable = peerExecutable(conn.peer.pid);
    const session = new ClientSession(
      conn,
      { id, peer: conn.peer, executable },
      this.opts.handlers,
      this.opts.log,
      (s) => this.sessions.delete(s),
    );
    this.sessions.add(session);
    this.opts.log.debug('client connected', { client: id, ...conn.peer, executable });
    session.start();
  }

  /** Stop accepting, answer or cancel pending work, unlink the socket. */
  async close(reason: string, graceMs = 2000): Promise<void> {
    this.bound?.stopListening();
    await Promise.all([...this.sessions].map((s) => s.shutdown(reason, graceMs)));
    this.bound?.unlink();
  }
}
