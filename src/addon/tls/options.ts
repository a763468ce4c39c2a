/**
 * What a TLS/DTLS session is started with (StartOptions and the callbacks'
 * contexts) and what it gives back (Established, SessionEnd).
 */
import type { NativeCredentials } from './credentials';
import { Failure } from '../../model/failure';

export type Role = 'client' | 'server';

export interface CredentialsContext {
  readonly role: Role;
  /** Server: the SNI the client sent (if any). Client: the serverName option. */
  readonly serverName?: string;
  /** Client: the CA names (RFC 4514 strings) the server said it accepts. */
  readonly acceptedIssuers: string[];
}

export interface VerifyContext {
  readonly role: Role;
  /** The peer's chain as it sent it, leaf first; empty if it sent none (or anonymous). */
  readonly chainDer: Buffer[];
  /** Client: the serverName option. Server: the SNI received. */
  readonly serverName?: string;
  /** Client: the OCSP response (DER) the server stapled for its certificate, if it did. */
  readonly ocspDer?: Buffer;
}

/** TLS alert names a verifyPeer rejection may ask to send (default: bad_certificate, or certificate_required / access_denied for a peer without certificate). */
export type RejectAlert =
  | 'bad_certificate'
  | 'unsupported_certificate'
  | 'certificate_revoked'
  | 'certificate_expired'
  | 'certificate_unknown'
  | 'unknown_ca'
  | 'access_denied'
  | 'handshake_failure'
  | 'insufficient_security'
  | 'certificate_required'
  | 'unrecognized_name'
  | 'internal_error';

export type VerifyResult = { ok: true } | { ok: false; errno: number; message: string; alert?: RejectAlert };

export interface StartOptions {
  /** A connected socket (TCP for 'tls', UDP for 'dtls'). The addon dups it and owns the dup; the caller closes its own. */
  fd: number;
  role: Role;
  /** 'dtls': DTLS 1.2 over a connected UDP socket. Default 'tls'. */
  transport?: 'tls' | 'dtls';
  /** A GnuTLS priority string. Default: TLS 1.3 + 1.2 (DTLS 1.2 for dtls), ECDHE/DHE (X25519 first) with AEAD ciphers only. */
  priority?: string;
  /** Client: the name of the server, sent as SNI (unless it is an IP literal) and passed to verifyPeer. */
  serverName?: string;
  /** Server: ask the client for a certificate? Default 'ignore'. */
  certRequest?: 'ignore' | 'request' | 'require';
  /**
   * Also allow anonymous (DH-anon) key exchange, which exists only in TLS 1.2 /
   * DTLS 1.2. A client offers it besides TLS 1.3 (the server chooses); a
   * server is restricted to TLS 1.2 / DTLS 1.2.
   */
  anonymous?: boolean;
  /**
   * The handshake (TLS or DTLS, either role) fails with ETIMEDOUT (kind
   * 'timeout') when it is not over this many ms after it started, on the
   * monotonic clock (default 60000; 0 = none). Time spent in `credentials` /
   * `verifyPeer` / `pin` does not count: bound those yourself (e.g. reject
   * after a while).
   */
  handshakeTimeoutMs?: number;
  /** DTLS: the transport MTU (payload of one UDP datagram). Default: the socket's path MTU less IP/UDP headers. */
  mtu?: number;
  /**
   * TLS session resumption (tickets), within this scope only: a server
   * issues tickets under a key of the scope's own and accepts only those; a
   * client resumes with the last ticket it got in this scope from the same
   * peer address (each once), and keeps tickets only from sessions where it
   * presented no certificate. A resumed session skips the certificate
   * signature and its check; `verifyPeer` is still asked, with the chain the
   * peer proved when the session was first made. Not for DTLS. Default: none.
   */
  resumption?: string;
  /** Abort the handshake (rejects with ECANCELED). */
  signal?: AbortSignal;
  /**
   * Choose local credentials. Server: called once, with the SNI the client
   * sent (or none). Client: called only when the server asks for a
   * certificate. Resolve null to present none. Rejecting fails the handshake
   * with the rejection's `errno` (a number, or `code` naming one), else EIO,
   * and sends the rejection's `alert` (a RejectAlert name), else internal_error.
   */
  credentials(ctx: CredentialsContext): Promise<NativeCredentials | null> | NativeCredentials | null;
  /**
   * Server: the credentials to present, chosen before the handshake;
   * `credentials` is then not called (a round trip to this thread spared).
   */
  presetCredentials?: NativeCredentials;
  /**
   * The policy decision on the peer, called exactly once per session when
   * the peer's chain (possibly empty) is known (never with `acceptAnyPeer`). When the peer sends a
   * certificate (or the server asked for one) this happens inside the
   * handshake, before our Finished; otherwise (anonymous, or a server with
   * certRequest 'ignore') right after the handshake, before the session is
   * handed out. Either way no plaintext passes before it resolves ok. A
   * rejection (or a throw: EACCES) fails the handshake and sends an alert.
   *
   * TLS 1.3 note: a client finishes its handshake before the server has
   * judged the client's certificate; if the server then rejects it, the
   * client learns so as an alert on its first read, i.e. as onEnd 'error'.
   */
  verifyPeer(ctx: VerifyContext): Promise<VerifyResult> | VerifyResult;
  /**
   * The policy accepts any peer (e.g. IGNORE_REMOTEID): `verifyPeer` is then
   * never called, which spares a round trip to this thread per handshake (a
   * server that asks no certificate would otherwise ask it after the
   * handshake, before handing the connection out).
   */
  acceptAnyPeer?: boolean;
  /**
   * A token wants its PIN (to open a key of the credentials, or for one
   * signature). Resolve with the PIN as bytes, which are wiped (fill(0))
   * once handed to the engine; reject to refuse (the handshake fails with
   * the rejection's errno, ENOKEY by default; ECANCELED for a person who
   * cancelled). Without this option every PIN request is refused. Time spent
   * here does not count against handshakeTimeoutMs.
   */
  pin?(ctx: PinContext): Promise<Uint8Array> | Uint8Array;
  /**
   * The application brings its own plaintext socket (V2): no socketpair is
   * made. Called once the handshake is over and the peer accepted; resolve
   * with the socket to relay with (the engine takes it: the caller must not
   * close it); reject to fail the session. `Established.plaintextFd` is
   * then -1.
   */
  plaintext?(): Promise<number>;
}

/** What a PIN request knows about the token and the attempt. */
export interface PinContext {
  /** The token as a PKCS #11 URI (manufacturer, model, serial, token label). */
  readonly tokenUrl: string;
  readonly tokenLabel: string;
  /** The key being opened, when known. */
  readonly keyUri: string;
  /** 1 for the first PIN asked in this login, 2 after one wrong PIN, ... */
  readonly attempt: number;
  /** The previous PIN was refused by the token. */
  readonly wrong: boolean;
  /** The token says this is the last try before it locks. */
  readonly finalTry: boolean;
  /** The token says few tries remain. */
  readonly countLow: boolean;
  /** A PIN for one operation (CKA_ALWAYS_AUTHENTICATE), not a login. */
  readonly contextSpecific: boolean;
  /** The security officer's PIN rather than the user's. */
  readonly so: boolean;
}

export interface SessionStats {
  /** Plaintext bytes received from the peer and delivered (or being delivered) to the application. */
  bytesIn: number;
  /** Plaintext bytes sent to the peer. */
  bytesOut: number;
}

/** A channel binding an established session can give (RFC 5929, RFC 9266). */
export type ChannelBinding = 'tls-unique' | 'tls-server-end-point' | 'tls-exporter';

export interface SessionControl {
  stats(): SessionStats;
  /**
   * `length` bytes of keying material (RFC 5705 for TLS 1.2, where a null
   * context differs from an empty one; RFC 8446 7.5 for TLS 1.3); the same
   * on both ends of the session. Throws a Failure when the session is over
   * or the exporter refuses.
   */
  exportKeyingMaterial(label: Uint8Array, context: Uint8Array | null, length: number): Buffer;
  /** A channel binding; throws a Failure (ENOENT) when this session has none of that kind. */
  channelBinding(kind: ChannelBinding): Buffer;
  /** The DER certificate this side showed, or undefined when it showed none. */
  ownCertificate(): Buffer | undefined;
  /**
   * A new handshake on this TLS 1.2 session (renegotiation, with its own
   * credentials; the peer must show the same certificate again). Resolves
   * with the session's version and cipher after it; rejects with a
   * RenegotiationRefused that says why not. A failure during the handshake
   * also ends the session (onEnd follows with its error). After `timeoutMs`
   * a renegotiation whose handshake has not begun (a HelloRequest the client
   * ignores) is withdrawn, and one whose handshake runs ends the session.
   */
  renegotiate(timeoutMs: number): Promise<{ version: string; cipher: string }>;
  /** Told of every renegotiation's outcome, the peer's own included (one listener; a later call replaces it). */
  onRenegotiated(listener: (r: RenegotiationOutcome) => void): void;
  /** Tear the session down now (idempotent); onEnd follows with reason 'aborted'. */
  abort(): void;
}

/** What became of one renegotiation (`outcome` 'done', or why not). */
export interface RenegotiationOutcome {
  outcome: 'done' | RenegotiationRefused['kind'];
  byPeer: boolean;
  version: string;
  cipher: string;
  message?: string;
}

/**
 * Why a renegotiation did not happen: `insecure` (TLS 1.3, or a peer without
 * RFC 5746), `not-now` (DTLS, closing, one under way, a server session with
 * TLS 1.2 tickets), `declined` (the peer said no_renegotiation; the session
 * goes on), `failed` (the handshake failed, and the session ended).
 */
export class RenegotiationRefused extends Failure {
  constructor(
    readonly kind: 'insecure' | 'not-now' | 'declined' | 'failed',
    message: string,
  ) {
    super(kind === 'not-now' ? 'EBUSY' : 'EPROTO', message);
  }
}

export interface Established {
  /**
   * The application's end of a socketpair (SOCK_STREAM for tls,
   * SOCK_SEQPACKET for dtls: one datagram per message), close-on-exec,
   * blocking. The caller owns it and must close it.
   */
  plaintextFd: number;
  /** GnuTLS names: 'TLS1.3', 'TLS1.2', 'DTLS1.2'. */
  version: string;
  /** IANA name, e.g. 'TLS_AES_128_GCM_SHA256'. */
  cipher: string;
  /** SNI received (server) / sent (client). */
  serverName?: string;
  peerChainDer: Buffer[];
  /** DTLS: the largest datagram the application may send; larger ones are dropped. */
  mtu?: number;
  /** The handshake resumed an earlier session (see StartOptions.resumption). */
  resumed: boolean;
  session: SessionControl;
}

export type EndReason = 'closed' | 'peer-closed' | 'error' | 'aborted';

export interface SessionEnd {
  /**
   * closed: the application closed first (we sent close_notify) and the
   * peer finished too; peer-closed: the peer closed first; error: a TLS or
   * transport error; aborted: abort() (or environment shutdown).
   */
  reason: EndReason;
  /** For 'error'; and for 'peer-closed' when the peer closed without close_notify (ECONNRESET: possible truncation). */
  errno?: number;
  code?: string;
  message?: string;
  gnutls?: string;
  alert?: string;
  bytesIn: number;
  bytesOut: number;
  /** DTLS: datagrams dropped for being larger than the MTU. */
  droppedDatagrams?: number;
}
