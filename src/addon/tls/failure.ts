/**
 * How the TLS engine's failures become errnos: the facts the native side
 * reports about a failed handshake or session, the table that turns them
 * into an errno, and the error a failed handshake rejects with.
 */
import { Errno } from '../../protocol/errno';
import { Failure } from '../../model/failure';
import { byteLength, MESSAGE_BYTES, wireFor } from '../../protocol/wire-text';

/** What the native engine reports about a failure. */
export interface FailureFacts {
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

/** What the message of a TlsError for a failed handshake starts with. */
export const HANDSHAKE_FAILED = 'TLS handshake failed: ';

/**
 * The `wire` tag (protocol/wire-text.ts) for a reason given to the engine
 * (a verifyPeer refusal, a credentials failure), which reaches the client
 * after HANDSHAKE_FAILED.
 */
export const handshakeText = wireFor(MESSAGE_BYTES - byteLength(HANDSHAKE_FAILED));

/** A failed handshake: its errno, and what the engine knew of why. */
export class TlsError extends Failure {
  /** The GnuTLS error name (GNUTLS_E_...), when GnuTLS reported one. */
  readonly gnutls?: string;
  /** The fatal alert the peer sent, e.g. 'bad_certificate'. */
  readonly alert?: string;
  /** What kind of failure: 'aborted' | 'timeout' | 'transport' | 'alert' | 'policy' | 'credentials' | 'tls' | 'local'. */
  readonly kind: string;
  constructor(message: string, errno: number, facts: { gnutls?: string; alert?: string; kind: string }) {
    super(errno, message);
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
export function failureErrno(f: FailureFacts): number {
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

