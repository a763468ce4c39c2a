/**
 * STARTTLS with RENEGOTIATE (section 8): a new handshake on an existing
 * TLS 1.2 session, run by its relay (the relay pauses the application's
 * data for it and goes on after), with the session's own credentials and
 * identities; the peer must show the same certificate again. TLS 1.3 has
 * no renegotiation, and a peer without secure renegotiation (RFC 5746)
 * gets none: WOULD_BE_INSECURE (and the latter's session is closed, as the
 * spec says). A renegotiation that fails, or whose handshake takes too
 * long, ends the session; one the peer declines or never answers (a
 * HelloRequest ignored) leaves it as it was.
 */
import { RenegotiationRefused } from '../../addon/tls/options';
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import type { Request, Response } from '../server/request';
import { type CtlKeys, keyOf } from './ctlkeys';

/** The handshake bound in ms: 0 = the daemon's default, 0xFFFFFFFF = a minute (a session must not stay paused for ever). */
function boundOf(timeout: number, defaultMs: number): number {
  if (timeout === 0) return defaultMs;
  return timeout === 0xffffffff ? 60_000 : timeout;
}

export async function renegotiate(req: Request<V2Packet>, keys: CtlKeys, defaultTimeoutMs: number): Promise<Response<V2Packet>> {
  if (!('starttls' in req.packet)) throw new Error('RENEGOTIATE got another command');
  const p = req.packet.starttls;
  const refuse = (e: TlspFailure): never => {
    req.log.info('RENEGOTIATE refused', { client: req.client.id, reason: e.message });
    throw e;
  };
  if (req.fd || req.fdLost) {
    refuse(new TlspFailure('E_TLSPOOL_SUPERFLUOUS_SOCKET', "RENEGOTIATE reuses the session's sockets; send it without a descriptor"));
  }
  let entry;
  try {
    entry = keys.controlled(keyOf(p.ctlkey), req.client.id);
  } catch {
    return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_NOT_FOUND', 'no session with this ctlkey is under the control of this connection'));
  }
  const s = entry.session;
  if (s.version === 'TLS1.3') {
    return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE', 'TLS 1.3 has no renegotiation; start a new session instead'));
  }
  if ((p.localid && p.localid !== s.localid) || (p.remoteid && p.remoteid !== s.remoteid)) {
    return refuse(new TlspFailure('E_TLSPOOL_COMMAND_NOTIMPL', 'RENEGOTIATE keeps the identities of the session; for others start a new session'));
  }
  try {
    const done = await s.control.renegotiate(boundOf(p.timeout, defaultTimeoutMs));
    req.log.info('V2 session renegotiated', { client: req.client.id, version: done.version, cipher: done.cipher });
  } catch (e) {
    if (!(e instanceof RenegotiationRefused)) throw e;
    if (e.kind === 'insecure') {
      entry.end();
      return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE', `${e.message}; the session was closed`));
    }
    if (e.kind === 'not-now') return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE', e.message));
    // Declined: the session goes on; failed: it has ended (the engine saw to it).
    if (e.kind === 'failed') entry.end();
    return refuse(new TlspFailure('E_TLSPOOL_STIRRED_NOT_SHAKEN', e.message));
  }
  return { packet: { reqid: req.packet.reqid, cbid: 0, cmd: V2Cmd.STARTTLS, starttls: { ...p, localid: s.localid, remoteid: s.remoteid } } };
}
