/** One STARTTLS, from request to close: what the log, the CLI and the UI show. */

export type Role = 'client' | 'server';
export type ConnectionState = 'handshaking' | 'established' | 'closed' | 'failed';

export interface ConnectionRecord {
  /** Daemon-unique, increasing; also the row id in the connections table. */
  readonly id: number;
  readonly role: Role;
  readonly transport: 'tls' | 'dtls';
  /** The application that asked: its peer credentials, /proc/PID/exe and /proc/PID/cmdline (bounded) when readable. */
  readonly requester: { pid: number; uid: number; gid: number; executable?: string; command?: string[] };
  /** The remote peer's address from the socket handed over ("192.0.2.1:443", "[2001:db8::1]:443"). */
  readonly peer?: string;
  state: ConnectionState;
  localid: string;
  remoteid: string;
  sni?: string;
  version?: string;
  cipher?: string;
  /** How the peer was judged: "PKIX", "DANE-EE matched", "PKIX, zone insecure", "refused, DNS bogus", … (DNSSEC and DANE). */
  validation?: string;
  /** What the external checks (RADIUS authn, authz) said: "authn accepted by HOST:PORT; authz skipped (…)". */
  external?: string;
  /** What the pool went on without, e.g. no DNS answer for the TLSA lookup (validated with PKIX only). */
  warning?: string;
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

/**
 * The most connections one `connections.list` answer holds; a larger limit
 * is refused (INVALID_PARAMS), not cut down. A page may hold fewer (it also
 * stops before 4 MiB of records): go on with beforeId while `more` is true.
 */
export const MAX_PAGE_ROWS = 1000;

/** What the UI shows of a certificate in a chain. */
export interface CertInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** Subject alternative names: DNS names, emails, URIs. */
  readonly altNames: string[];
  /** SHA-256 of the DER, hex. */
  readonly sha256: string;
  readonly pem: string;
  /** Set when the stored PEM does not parse as a certificate: why (the other fields are then empty). */
  readonly damaged?: string;
}

export interface ConnectionDetails {
  readonly connection: ConnectionRecord;
  /** The peer's chain as received, leaf first. */
  readonly chain: CertInfo[];
}

/**
 * Where a row with `id` goes in rows sorted by id (`order`): the index of
 * the row with that id, or where to insert it. By bisection: a log may hold
 * hundreds of thousands of rows.
 */
export function rowPosition(rows: readonly { readonly id: number }[], id: number, order: 'ascending' | 'descending'): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const before = order === 'ascending' ? rows[mid]!.id < id : rows[mid]!.id > id;
    if (before) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
