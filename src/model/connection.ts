/** One STARTTLS, from request to close: what the log, the CLI and the UI show. */

export type Role = 'client' | 'server';
export type ConnectionState = 'handshaking' | 'established' | 'closed' | 'failed';

export interface ConnectionRecord {
  /** Daemon-unique, increasing; also the row id in the connections table. */
  readonly id: number;
  readonly role: Role;
  readonly transport: 'tls' | 'dtls';
  readonly requester: { pid: number; uid: number; gid: number; executable?: string };
  state: ConnectionState;
  localid: string;
  remoteid: string;
  sni?: string;
  version?: string;
  cipher?: string;
  /** The peer's certificate chain, leaf first, PEM. */
  peerChain: string[];
  startedAt: string;
  establishedAt?: string;
  endedAt?: string;
  bytesIn: number;
  bytesOut: number;
  /** How it ended: "closed by application", "closed by peer", or an error. */
  endReason?: string;
  error?: { errno: string; message: string };
  /**
   * Set when the stored row could not be read (its JSON does not parse or is
   * not a record): why. Then only id, role, state, localid, remoteid and
   * startedAt are real (the table's own columns); the rest are placeholders,
   * and endReason says the row is damaged.
   */
  damaged?: string;
}

/** One page of the connection log (connections.list), most recent first. */
export interface ConnectionPage {
  readonly connections: ConnectionRecord[];
  /** Older connections exist: ask again with beforeId set to the last one's id. */
  readonly more: boolean;
}
