/**
 * The TLS engine: GnuTLS sessions, each on a native thread of its own, with a
 * native plaintext <-> TLS relay. This file is the thin typed face of the
 * addon's TLS part (native/src/tls/tls_*.cc).
 *
 * Mechanism, not policy: which local identity to present and whether a peer
 * is acceptable are asked of the caller (`credentials`, `verifyPeer`), while
 * the session thread waits. The errno chosen for a failure comes from the
 * table in `failureErrno()` below, or from the caller's own verdict.
 *
 * Descriptors: `startSession` duplicates the socket it is given, synchronously
 * (the caller should close its own right away: a peer waiting for our close
 * after a failure waits for every copy), and hands back `plaintextFd`, a plain
 * descriptor number that the caller owns and must close (wrap it in an
 * OwnedFd, or in a net.Socket with allowHalfOpen). The engine never changes
 * the flags of the caller's socket (it uses MSG_DONTWAIT), but it does set
 * TCP_NODELAY on it and, after a failed handshake, shuts it down.
 *
 * Threads: each handshake runs on a native thread of its own (256 KiB
 * stack; a finished one waits a few seconds to take the next handshake,
 * so threads are reused under load); an established session is then relayed by one of a few relay
 * threads (one per core, at most 4, started with the addon) that poll all
 * their sessions with epoll, so an idle session costs no thread, and two
 * descriptors. `credentials` and `verifyPeer` run on the JavaScript thread
 * while that handshake's thread waits, however long. A running session keeps the event loop alive (like a socket does).
 * On environment teardown (process exit, worker termination) every session
 * of that environment is aborted and its thread waited for (bounded).
 */
import { addon } from './load';
import { Errno, errnoName } from '../protocol/errno';

// ---------------------------------------------------------------------------
// Native surface (native/src/tls/tls_*.cc)

interface NativeCredentialsObject {
  readonly closed: boolean;
  readonly chainDer: Buffer[];
  readonly keyOpen: boolean;
  close(): void;
}

interface NativeFailureFacts {
  kind: 'aborted' | 'timeout' | 'transport' | 'alert' | 'policy' | 'credentials' | 'tls' | 'local';
  message: string;
  gnutls?: string;
  gnutlsCode?: number;
  sysErrno?: number;
  alert?: string;
  alertCode?: number;
  policyErrno?: number;
  noLocalCredentials?: boolean;
  certificateRequested?: boolean;
  certificatePresented?: boolean;
}

type NativeEvent =
  | {
      type: 'credentials';
      role: Role;
      serverName?: string;
      acceptedIssuers: string[];
      reply(answer: NativeCredentialsObject | null | { errno: number; message: string; alert?: string }): void;
    }
  | {
      type: 'pin';
      tokenUrl: string;
      tokenLabel: string;
      keyUri: string;
      attempt: number;
      wrong: boolean;
      finalTry: boolean;
      countLow: boolean;
      contextSpecific: boolean;
      so: boolean;
      reply(answer: { pin: Uint8Array } | { errno: number; message: string }): void;
    }
  | {
      type: 'verify';
      role: Role;
      chainDer: Buffer[];
      serverName?: string;
      reply(answer: VerifyResult): void;
    }
  | {
      type: 'established';
      plaintextFd: number;
      version: string;
      cipher: string;
      serverName?: string;
      peerChainDer: Buffer[];
      mtu?: number;
      resumed: boolean;
      /** When the verdict on the peer is still to give (it showed no certificate during the handshake): relaying waits for it. */
      role?: Role;
      reply?(answer: VerifyResult): void;
    }
  | ({ type: 'failed' } & NativeFailureFacts)
  | ({
      type: 'end';
      reason: EndReason;
      truncated: boolean;
      bytesIn: number;
      bytesOut: number;
      droppedDatagrams?: number;
    } & Partial<NativeFailureFacts>);

/** Opaque: an External holding the native session. */
type NativeSessionHandle = { readonly __session: unique symbol };

interface TlsAddon {
  TlsTrustStore: new (opts: { anchorsPem: string[]; useSystemTrust: boolean; crlsPem: string[] }) => TrustStore;
  TlsCredentials: new (chainPem: string, keyPem: string | null, keyUri: string | null) => NativeCredentialsObject;
  tlsStartSession(opts: object, dispatch: (ev: NativeEvent) => void): NativeSessionHandle;
  tlsSessionAbort(handle: NativeSessionHandle): void;
  tlsSessionStats(handle: NativeSessionHandle): { bytesIn: number; bytesOut: number };
  tlsVerifyChain(chainDer: Buffer[], opts: object): VerifyChainResult;
  tlsCertInfo(der: Buffer): CertInfo;
  tlsDupFd(fd: number): number;
  tlsCloseFd(fd: number): void;
  tlsPollFd(fd: number, dir: 'in' | 'out', timeoutMs: number): boolean;
  tlsGnutlsVersion: string;
  tlsCheckPriority(priority: string): PriorityProblem | null;
  pkcs11Configure(modules: string[]): void;
  pkcs11Logout(tokenUrl: string): boolean;
  secureProcess(): void;
}

const native = addon as unknown as TlsAddon;

/** The GnuTLS version the addon runs with, e.g. "3.7.9". */
export const gnutlsVersion: string = native.tlsGnutlsVersion;

// ---------------------------------------------------------------------------
// Credentials

/**
 * Loaded local credentials: a certificate chain (leaf first) and its private
 * key. Held natively and reused by every session that presents them; a
 * session keeps its own reference, so close() while a session uses them is
 * safe. Freed by close() or by the garbage collector.
 */
export interface NativeCredentials {
  readonly closed: boolean;
  /** The chain, leaf first (DER). Empty once closed. */
  readonly chainDer: Buffer[];
  /** Whether the private key is open (a token key opens at its first handshake). */
  readonly keyOpen: boolean;
  close(): void;
}

/**
 * Load a PEM chain (leaf first) with its private key: PEM text, or a key URL
 * such as a PKCS #11 URI ("pkcs11:token=...;object=...;type=private").
 * Throws an Error with `code` (EINVAL for unreadable input or a key that
 * does not belong to the leaf, ENOKEY for a key URL that cannot be opened).
 *
 * A pkcs11: key is not opened here: only the presence of a matching token is
 * checked. The first session that presents the credentials opens it on its
 * own thread, asking its `pin` option when the token wants a PIN; sessions
 * that need it meanwhile wait for that one opening.
 */
export function loadCredentials(chainPem: string, key: { pem: string } | { uri: string }): NativeCredentials {
  if ('pem' in key) return new native.TlsCredentials(chainPem, key.pem, null);
  return new native.TlsCredentials(chainPem, null, key.uri);
}

// ---------------------------------------------------------------------------
// Sessions

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

export interface SessionControl {
  stats(): SessionStats;
  /** Tear the session down now (idempotent); onEnd follows with reason 'aborted'. */
  abort(): void;
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

/** A failed handshake. `code` is an errno name, `errno` its number. */
export class TlsError extends Error {
  override readonly name = 'TlsError';
  readonly code: string;
  readonly errno: number;
  /** The GnuTLS error name (GNUTLS_E_...), when GnuTLS reported one. */
  readonly gnutls?: string;
  /** The fatal alert the peer sent, e.g. 'bad_certificate'. */
  readonly alert?: string;
  /** What kind of failure: 'aborted' | 'timeout' | 'transport' | 'alert' | 'policy' | 'credentials' | 'tls' | 'local'. */
  readonly kind: string;
  constructor(message: string, errno: number, facts: { gnutls?: string; alert?: string; kind: string }) {
    super(message);
    this.errno = errno;
    this.code = errnoName(errno);
    this.gnutls = facts.gnutls;
    this.alert = facts.alert;
    this.kind = facts.kind;
  }
}

const CERT_ALERTS = new Set([
  'bad_certificate',
  'unsupported_certificate',
  'certificate_revoked',
  'certificate_expired',
  'certificate_unknown',
  'unknown_ca',
  'access_denied',
  'certificate_required',
]);

const ACCESS_GNUTLS = new Set([
  'GNUTLS_E_NO_CERTIFICATE_FOUND',
  'GNUTLS_E_CERTIFICATE_ERROR',
  'GNUTLS_E_CERTIFICATE_REQUIRED',
  'GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR',
]);

/**
 * How the engine's failure facts become an errno:
 *   aborted -> ECANCELED; timeout -> ETIMEDOUT;
 *   transport -> the socket's errno (ECONNRESET for an unexpected EOF, ECONNREFUSED for DTLS to a closed port, ...);
 *   policy (verifyPeer rejected) -> the verdict's errno (EACCES by default);
 *   credentials callback failed -> its errno (EIO by default);
 *   alert from the peer -> EACCES for certificate/access alerts (and for handshake_failure after the server asked
 *                   for our certificate and we had none), EPROTONOSUPPORT for protocol_version, ECANCELED for user_canceled,
 *                   else EPROTO;
 *   GnuTLS error -> EACCES (peer gave no / a bad certificate), ENOKEY (server had no credentials for the name),
 *                   EPROTONOSUPPORT (version), ENOMEM, EIO (key/token failures), else EPROTO.
 */
export function failureErrno(f: NativeFailureFacts): number {
  switch (f.kind) {
    case 'aborted':
      return Errno.ECANCELED;
    case 'timeout':
      return Errno.ETIMEDOUT;
    case 'transport':
      return f.sysErrno || Errno.ECONNRESET;
    case 'local':
      return f.sysErrno || Errno.EIO;
    case 'policy':
      return f.policyErrno || Errno.EACCES;
    case 'credentials':
      return f.policyErrno || Errno.EIO;
    case 'alert':
      if (f.alert && CERT_ALERTS.has(f.alert)) return Errno.EACCES;
      // TLS 1.2 servers often answer a missing client certificate with handshake_failure.
      if (f.alert === 'handshake_failure' && f.certificateRequested && !f.certificatePresented) return Errno.EACCES;
      if (f.alert === 'protocol_version') return Errno.EPROTONOSUPPORT;
      if (f.alert === 'user_canceled') return Errno.ECANCELED;
      return Errno.EPROTO;
    case 'tls':
    default: {
      const g = f.gnutls ?? '';
      if (f.noLocalCredentials) return Errno.ENOKEY;
      if (ACCESS_GNUTLS.has(g)) return Errno.EACCES;
      if (g === 'GNUTLS_E_UNSUPPORTED_VERSION_PACKET') return Errno.EPROTONOSUPPORT;
      if (g === 'GNUTLS_E_MEMORY_ERROR') return Errno.ENOMEM;
      if (g === 'GNUTLS_E_PK_SIGN_FAILED' || g.startsWith('GNUTLS_E_PKCS11_')) return Errno.EIO;
      return Errno.EPROTO;
    }
  }
}

function errnoOf(err: unknown, fallback: number): number {
  if (err && typeof err === 'object') {
    const e = err as { errno?: unknown; code?: unknown };
    if (typeof e.errno === 'number' && e.errno > 0) return e.errno;
    if (typeof e.code === 'string' && e.code in Errno) return Errno[e.code as keyof typeof Errno];
  }
  return fallback;
}

function alertOf(err: unknown): { alert?: string } {
  const alert = err && typeof err === 'object' ? (err as { alert?: unknown }).alert : undefined;
  return typeof alert === 'string' ? { alert } : {};
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Start a TLS/DTLS session on a connected socket. Resolves when the handshake
 * is done and the peer accepted by `verifyPeer`; rejects with a TlsError.
 * After resolving, `onEnd` is called exactly once when the relay ends (never
 * if the promise rejects).
 */
export function startSession(options: StartOptions, onEnd: (end: SessionEnd) => void): Promise<Established> {
  // The native session keeps `dispatch` for its 'end' event as long as the
  // connection lasts: the callbacks, and the request they hold, are let go
  // once the handshake is settled (no closure below refers to `options`).
  const live: { opts?: StartOptions } = { opts: options };
  const signal = options.signal;
  const nativeOpts = toNativeOptions(options);
  return new Promise<Established>((resolve, reject) => {
    let settled = false;
    let established = false;
    let handle: NativeSessionHandle | undefined;
    const onAbort = () => handle && native.tlsSessionAbort(handle);
    const settle = () => {
      settled = true;
      live.opts = undefined;
      signal?.removeEventListener('abort', onAbort);
    };
    const gone = { errno: Errno.ECANCELED, message: 'the handshake is over' };
    if (signal?.aborted) {
      reject(new TlsError('the TLS handshake was aborted', Errno.ECANCELED, { kind: 'aborted' }));
      return;
    }

    /** verifyPeer's verdict; a throw is a refusal (EACCES unless it says otherwise). */
    const verify = (role: Role, chainDer: Buffer[], serverName: string | undefined): Promise<VerifyResult> =>
      Promise.resolve()
        .then(() => {
          if (!live.opts) throw gone;
          return live.opts.verifyPeer({ role, chainDer, ...(serverName !== undefined ? { serverName } : {}) });
        })
        .catch((err: unknown) => ({ ok: false, errno: errnoOf(err, Errno.EACCES), message: messageOf(err) }));

    const accept = (ev: Extract<NativeEvent, { type: 'established' }>): void => {
      settle();
      established = true;
      const h = handle!;
      resolve({
        plaintextFd: ev.plaintextFd,
        version: ev.version,
        cipher: ev.cipher,
        peerChainDer: ev.peerChainDer,
        resumed: ev.resumed,
        ...(ev.serverName !== undefined ? { serverName: ev.serverName } : {}),
        ...(ev.mtu !== undefined ? { mtu: ev.mtu } : {}),
        session: { stats: () => native.tlsSessionStats(h), abort: () => native.tlsSessionAbort(h) },
      });
    };

    const dispatch = (ev: NativeEvent): void => {
      switch (ev.type) {
        case 'credentials': {
          const ctx: CredentialsContext = {
            role: ev.role,
            acceptedIssuers: ev.acceptedIssuers,
            ...(ev.serverName !== undefined ? { serverName: ev.serverName } : {}),
          };
          Promise.resolve()
            .then(() => {
              if (!live.opts) throw gone;
              return live.opts.credentials(ctx);
            })
            .then(
              (c) => ev.reply((c ?? null) as NativeCredentialsObject | null),
              (err) => ev.reply({ errno: errnoOf(err, Errno.EIO), message: messageOf(err), ...alertOf(err) }),
            );
          return;
        }
        case 'pin': {
          const ctx: PinContext = {
            tokenUrl: ev.tokenUrl,
            tokenLabel: ev.tokenLabel,
            keyUri: ev.keyUri,
            attempt: ev.attempt + 1,
            wrong: ev.wrong,
            finalTry: ev.finalTry,
            countLow: ev.countLow,
            contextSpecific: ev.contextSpecific,
            so: ev.so,
          };
          Promise.resolve()
            .then(() => {
              if (!live.opts) throw gone;
              if (!live.opts.pin) throw Object.assign(new Error('no PIN source for this token'), { code: 'ENOKEY' });
              return live.opts.pin(ctx);
            })
            .then(
              (pin) => {
                try {
                  ev.reply({ pin }); // copied into locked native memory before this returns
                } finally {
                  pin.fill(0);
                }
              },
              (err) => ev.reply({ errno: errnoOf(err, Errno.ENOKEY), message: messageOf(err) }),
            );
          return;
        }
        case 'verify':
          verify(ev.role, ev.chainDer, ev.serverName).then((r) => ev.reply(r));
          return;
        case 'established': {
          const aborted = () => settled || signal?.aborted;
          if (aborted()) {
            // Aborted meanwhile: the session is going down; nobody takes this fd.
            native.tlsCloseFd(ev.plaintextFd);
            ev.reply?.({ ok: false, errno: Errno.ECANCELED, message: 'the TLS handshake was aborted' });
            if (!settled) {
              settle();
              reject(new TlsError('the TLS handshake was aborted', Errno.ECANCELED, { kind: 'aborted' }));
            }
            return;
          }
          if (!ev.reply) {
            accept(ev);
            return;
          }
          // The verdict on a peer that showed no certificate during the
          // handshake, asked with the news; a refusal is followed by 'failed'.
          verify(ev.role!, ev.peerChainDer, ev.serverName).then((r) => {
            const verdict: VerifyResult = r.ok && aborted() ? { ok: false, errno: Errno.ECANCELED, message: 'the TLS handshake was aborted' } : r;
            ev.reply!(verdict);
            if (verdict.ok) accept(ev);
            else native.tlsCloseFd(ev.plaintextFd);
          });
          return;
        }
        case 'failed': {
          if (settled) return;
          settle();
          const errno = failureErrno(ev);
          reject(
            new TlsError(`TLS handshake failed: ${ev.message}`, errno, {
              kind: ev.kind,
              ...(ev.gnutls !== undefined ? { gnutls: ev.gnutls } : {}),
              ...(ev.alert !== undefined ? { alert: ev.alert } : {}),
            }),
          );
          return;
        }
        case 'end': {
          if (!established) return;
          const end: SessionEnd = { reason: ev.reason, bytesIn: ev.bytesIn, bytesOut: ev.bytesOut };
          if (ev.reason === 'error' && ev.kind) {
            const errno = failureErrno(ev as NativeFailureFacts);
            Object.assign(end, { errno, code: errnoName(errno), message: ev.message });
            if (ev.gnutls) end.gnutls = ev.gnutls;
            if (ev.alert) end.alert = ev.alert;
          } else if (ev.reason === 'peer-closed' && ev.truncated) {
            Object.assign(end, {
              errno: Errno.ECONNRESET,
              code: 'ECONNRESET',
              message: 'the peer closed the connection without close_notify',
            });
          }
          if (ev.droppedDatagrams) end.droppedDatagrams = ev.droppedDatagrams;
          onEnd(end);
          return;
        }
      }
    };

    try {
      handle = native.tlsStartSession(nativeOpts, dispatch);
    } catch (err) {
      settle();
      // Unusable options or descriptor: EBADF, ENOTSOCK, ENOTCONN, EPROTOTYPE (wrong socket type), EINVAL (priority), ...
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code in Errno) {
        reject(new TlsError((err as Error).message, Errno[code as keyof typeof Errno], { kind: 'local' }));
      } else {
        reject(err);
      }
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Why GnuTLS refuses a priority string. */
export interface PriorityProblem {
  /** 'GNUTLS_E_INVALID_REQUEST' (a word it does not know, or an empty one), 'GNUTLS_E_NO_PRIORITIES_WERE_SET' (nothing left enabled), … */
  gnutls: string;
  /** GnuTLS's sentence about it. */
  message: string;
  /** The byte offset in the string where GnuTLS stopped, when it said. */
  offset?: number;
}

/**
 * Whether GnuTLS accepts `priority` as a session's priority string, parsed
 * as startSession parses it (gnutls_priority_init2). Undefined when it does.
 */
export function checkPriority(priority: string): PriorityProblem | undefined {
  return native.tlsCheckPriority(priority) ?? undefined;
}

function toNativeOptions(opts: StartOptions): Record<string, unknown> {
  const nativeOpts: Record<string, unknown> = {
    fd: opts.fd,
    role: opts.role,
    transport: opts.transport ?? 'tls',
    certRequest: opts.certRequest ?? 'ignore',
    anonymous: opts.anonymous ?? false,
    handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 60000,
  };
  if (opts.priority !== undefined) nativeOpts.priority = opts.priority;
  if (opts.serverName !== undefined) nativeOpts.serverName = opts.serverName;
  if (opts.mtu !== undefined) nativeOpts.mtu = opts.mtu;
  if (opts.resumption !== undefined) nativeOpts.resumption = opts.resumption;
  if (opts.acceptAnyPeer) nativeOpts.acceptAnyPeer = true;
  if (opts.presetCredentials && opts.role === 'server') nativeOpts.presetCredentials = opts.presetCredentials;
  return nativeOpts;
}

// ---------------------------------------------------------------------------
// PKCS #11

/**
 * Choose the PKCS #11 modules GnuTLS loads: these files, or with an empty
 * list p11-kit's configuration. Once per process, before any key URL is
 * loaded (later calls throw EALREADY); without a call GnuTLS uses p11-kit's
 * configuration on first use.
 */
export function pkcs11Configure(modules: string[]): void {
  native.pkcs11Configure(modules);
}

/** C_Logout on the token a URL names: every key this process opened there needs a login again. False if no such token. */
export function pkcs11Logout(tokenUrl: string): boolean {
  return native.pkcs11Logout(tokenUrl);
}

/** prctl(PR_SET_DUMPABLE, 0): no core dumps of this process, no ptrace by others of its uid. */
export function secureProcess(): void {
  native.secureProcess();
}

// ---------------------------------------------------------------------------
// Certificates

/**
 * Trust anchors (and the system's), with CRLs, loaded once for many
 * verifications: building the list is the expensive part of verifying.
 * Freed by close() or the garbage collector.
 */
export interface TrustStore {
  readonly closed: boolean;
  close(): void;
}

export function createTrustStore(opts: { anchorsPem: string[]; useSystemTrust?: boolean; crlsPem?: string[] }): TrustStore {
  return new native.TlsTrustStore({ anchorsPem: opts.anchorsPem, useSystemTrust: opts.useSystemTrust ?? false, crlsPem: opts.crlsPem ?? [] });
}

export type VerifyChainOptions = ({ trust: TrustStore } | TrustSourcesOptions) & VerifyChainChecks;

interface TrustSourcesOptions {
  /** Trust anchors (PEM; a string may hold several). */
  anchorsPem: string[];
  /** Also trust the system's anchors (p11-kit / ca-certificates). */
  useSystemTrust?: boolean;
  /** CRLs (PEM), checked for every certificate they cover. */
  crlsPem?: string[];
}

interface VerifyChainChecks {
  /** The key purpose the leaf must allow: TLS server or client authentication ('any': no check). */
  purpose: 'server' | 'client' | 'any';
  /** The leaf must be for this DNS name (dNSName, or CN when there are none). */
  hostname?: string;
  /** The leaf must be for this e-mail address (rfc822Name). */
  email?: string;
  /** Judge validity periods at this time instead of now. */
  atTime?: Date;
}

export interface VerifyChainResult {
  ok: boolean;
  /** GnuTLS status flags without the GNUTLS_CERT_ prefix, e.g. 'EXPIRED', 'NOT_ACTIVATED', 'SIGNER_NOT_FOUND', 'SIGNER_NOT_CA', 'UNEXPECTED_OWNER', 'REVOKED', 'INSECURE_ALGORITHM', 'PURPOSE_MISMATCH'; 'NO_CERTIFICATE' for an empty chain. */
  status: string[];
  /** GnuTLS's sentence about it. */
  message: string;
}

/** Verify a chain (leaf first, DER) against anchors, synchronously. Throws only for unusable input. */
export function verifyChain(chainDer: Buffer[], opts: VerifyChainOptions): VerifyChainResult {
  const o: Record<string, unknown> =
    'trust' in opts
      ? { trust: opts.trust, purpose: opts.purpose }
      : { anchorsPem: opts.anchorsPem, useSystemTrust: opts.useSystemTrust ?? false, crlsPem: opts.crlsPem ?? [], purpose: opts.purpose };
  if (opts.hostname !== undefined) o.hostname = opts.hostname;
  if (opts.email !== undefined) o.email = opts.email;
  if (opts.atTime !== undefined) o.atTime = opts.atTime.getTime();
  return native.tlsVerifyChain(chainDer, o);
}

export interface CertInfo {
  /** RFC 4514 distinguished names. */
  subject: string;
  issuer: string;
  /** Hex serial number. */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  rfc822Names: string[];
  commonName?: string;
  /** Hex SHA-256 of the DER. */
  sha256: string;
  /** Self-issued (issuer = subject, matching key identifiers). */
  selfSigned: boolean;
  isCA: boolean;
  /** GnuTLS's name of the public key algorithm ('RSA', 'EC/ECDSA', …) and its size in bits. */
  keyAlgorithm?: string;
  keyBits?: number;
  /** GnuTLS's name of the algorithm the issuer signed with ('ECDSA-SHA256', 'RSA-SHA1', …). */
  signatureAlgorithm?: string;
}

/** Parse one DER certificate. Throws (code EINVAL) if it is not one. */
export function certInfo(der: Buffer): CertInfo {
  return native.tlsCertInfo(der);
}

// ---------------------------------------------------------------------------
// Descriptor helpers (plain numbers; for callers and tests without OwnedFd)

/** dup() with close-on-exec; the caller owns the result. */
export function tlsDupFd(fd: number): number {
  return native.tlsDupFd(fd);
}

/** close() a descriptor number. */
export function tlsCloseFd(fd: number): void {
  native.tlsCloseFd(fd);
}

/** Block the calling thread up to timeoutMs until fd is readable ('in') or writable ('out'); false on timeout. */
export function tlsPollFd(fd: number, dir: 'in' | 'out', timeoutMs: number): boolean {
  return native.tlsPollFd(fd, dir, timeoutMs);
}
