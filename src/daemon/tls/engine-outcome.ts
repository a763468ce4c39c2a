/**
 * What the engine's outcomes become for the pool: the end of a relay as a
 * row of the connection log, and an engine failure in words for the person
 * who reads the error.
 */
import type { SessionEnd } from '../../addon/tls/options';
import { TlsError } from '../../addon/tls/failure';
import type { ConnectionLog } from '../../store/connection-log';
import type { ConnectionRecord, Role } from '../../model/connection';
import { Failure } from '../../model/failure';
import type { Transport } from './fd-check';

/**
 * The engine's end of a relay, into the connection log. Made out here so that
 * what the engine keeps for the connection's life holds only these two, not
 * the request and its callbacks.
 */
export function recordEnd(connections: ConnectionLog, record: ConnectionRecord): (end: SessionEnd) => void {
  return (end) => {
    record.bytesIn = end.bytesIn;
    record.bytesOut = end.bytesOut;
    const reason =
      end.reason === 'closed' ? 'closed by application' : end.reason === 'peer-closed' ? 'closed by peer' : end.reason === 'aborted' ? 'aborted' : 'error';
    connections.ended(record, reason, end.code ? { errno: end.code, message: end.message ?? '' } : undefined);
  };
}

/**
 * A server that requires a client certificate lets GnuTLS refuse a client
 * without one, in words that read as if we had none ("No certificate was
 * found."): say what happened instead. A handshake that ran out of time says
 * which setting bounds it and what to check (in the wire's 127 bytes).
 */
export function explainEngineFailure(e: unknown, role: Role, transport: Transport, timeoutS: number): unknown {
  const noClientCert =
    e instanceof TlsError && e.code === 'EACCES' && (e.gnutls === 'GNUTLS_E_CERTIFICATE_REQUIRED' || e.gnutls === 'GNUTLS_E_NO_CERTIFICATE_FOUND');
  if (role === 'server' && noClientCert) {
    return new Failure('EACCES', 'the client sent no certificate, and this server requires one');
  }
  if (e instanceof TlsError && e.kind === 'timeout') {
    const t = transport === 'dtls' ? 'DTLS' : 'TLS';
    const peer = role === 'client' ? 'server' : 'client';
    return new Failure('ETIMEDOUT', `${t} handshake timed out: no answer from the ${peer} in ${timeoutS} s (tls.handshake_timeout); does it speak ${t}?`);
  }
  return e;
}
