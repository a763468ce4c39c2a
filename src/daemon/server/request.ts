/**
 * What a command handler sees and returns. Handlers are policy; the session
 * (session.ts) enforces the protocol's rules around them: exactly one final
 * response, reqid copied, the request's fd closed when the handler is done,
 * work cancelled when the client goes away.
 */
import type { Packet } from '../../protocol/codec';
import type { ErrnoName } from '../../protocol/errno';
import type { OwnedFd, PeerCred } from '../../addon/ipc';
import type { Logger } from '../../log/logger';

/** Who is on the other end of a pool connection. */
export interface ClientInfo {
  /** Daemon-wide number of this connection, for logs and events. */
  readonly id: number;
  readonly peer: PeerCred;
  /** /proc/<pid>/exe at accept time, when readable. */
  readonly executable?: string;
  /** /proc/<pid>/cmdline at accept time, bounded, when readable. */
  readonly command?: string[];
  /** The identity string the client sent in its last PING, if any. */
  identity?: string;
}

export interface Response {
  readonly packet: Packet;
  /** Sent as SCM_RIGHTS with the response; the session closes its copy after. */
  readonly fd?: OwnedFd;
}

export interface Request {
  readonly packet: Packet;
  /**
   * The fd that came with the request. The session closes it when the
   * handler settles; a handler that keeps it beyond that must dup() it.
   */
  readonly fd?: OwnedFd;
  /** The client sent an fd with the request and the pool could not receive it (out of descriptors). */
  readonly fdLost?: boolean;
  readonly client: ClientInfo;
  /** Aborted when the client disconnects or the daemon shuts down. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Send `packet` as an intermediate response carrying a fresh cbid and
   * this request's reqid, and wait for the client's follow-up with that cbid
   * (STARTTLS_LOCALID, PINENTRY). Rejects with the abort reason if the
   * request is aborted first. Follow-ups carry no fd.
   */
  callback(packet: Packet, fd?: OwnedFd): Promise<Packet>;
}

export type Handler = (req: Request) => Promise<Response>;

/** A failure with the errno the client will see in its ERROR response. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrnoName,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}
