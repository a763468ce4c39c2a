/**
 * The pool socket: listens, accepts, and gives each client a session. Owns
 * the socket file from bind to unlink.
 */
import * as fs from 'node:fs';
import { listenUnix, type UnixConnection, type UnixListener } from '../native/ipc';
import type { Logger } from '../log/logger';
import type { HandlerLookup } from './session';
import { ClientSession } from './session';
import { prepareSocketPath, resolveGroup } from './socket-path';

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
  private listener: UnixListener | undefined;
  private socketIno = 0;

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
    prepareSocketPath(socket, log);
    const gid = socketGroup === undefined ? undefined : resolveGroup(socketGroup);
    // The socket inode gets its mode at bind(); a tight umask means it is
    // never, even for an instant, open to more than its owner.
    const oldUmask = process.umask(0o177);
    try {
      this.listener = listenUnix(socket, 128, (conn) => this.accept(conn));
    } finally {
      process.umask(oldUmask);
    }
    if (gid !== undefined) {
      fs.chownSync(socket, -1, gid);
      fs.chmodSync(socket, 0o660);
    }
    this.socketIno = fs.statSync(socket).ino;
  }

  private accept(conn: UnixConnection): void {
    const id = this.nextClientId++;
    let executable: string | undefined;
    try {
      executable = fs.readlinkSync(`/proc/${conn.peer.pid}/exe`);
    } catch {
      // Another user's process, or already gone: we log what the kernel told us.
    }
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
    this.listener?.close();
    this.listener = undefined;
    await Promise.all([...this.sessions].map((s) => s.shutdown(reason, graceMs)));
    try {
      // Only remove the socket if it is still ours (not a successor's).
      if (fs.statSync(this.opts.socket).ino === this.socketIno) fs.unlinkSync(this.opts.socket);
    } catch {
      // Already gone.
    }
  }
}
