/**
 * What a command handler sees and returns. Handlers are policy; the session
 * (session.ts) enforces the protocol's rules around them: exactly one final
 * response, reqid copied, the request's fd closed when the handler is done,
 * work cancelled when the client goes away.
 */
import type { Packet } from '../../protocol/codec';
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

export interface Response<P = Packet> {
  readonly packet: P;
  /** Sent as SCM_RIGHTS with the response; the session closes its copy after. */
  readonly fd?: OwnedFd;
  /**
   * Nothing is sent: the request was a V2 service registration that the
   * client itself ended by answering a callback with ERROR.
   */
  readonly quiet?: boolean;
}

/** A callback's answer, with the descriptor that came with it (V2 only; the receiver owns it). */
export interface Answer<P = Packet> {
  readonly packet: P;
  readonly fd?: OwnedFd;
}

export interface Request<P = Packet> {
  readonly packet: P;
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
   * request is aborted first. A descriptor that comes with the answer is
   * closed.
   */
  callback(packet: P, fd?: OwnedFd): Promise<P>;
  /** The same, keeping the descriptor that came with the answer (V2's plaintext fd). */
  exchange(packet: P): Promise<Answer<P>>;
}

export type Handler<P = Packet> = (req: Request<P>) => Promise<Response<P>>;

