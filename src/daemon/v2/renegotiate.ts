/**
 * STARTTLS with RENEGOTIATE (section 8): a new handshake on an existing
 * session. TLS 1.3 has none, and this pool does not pause a TLS 1.2
 * session's relay for one either: the request is answered with the reason,
 * and the session goes on unchanged.
 */
import type { V2Packet } from '../../protocol/v2-codec';
import { TlspFailure } from '../../protocol/v2-errors';
import type { Request, Response } from '../server/request';
import { type CtlKeys, keyOf } from './ctlkeys';

export async function renegotiate(req: Request<V2Packet>, keys: CtlKeys): Promise<Response<V2Packet>> {
  if (!('starttls' in req.packet)) throw new Error('RENEGOTIATE got another command');
  const refuse = (e: TlspFailure): never => {
    req.log.info('RENEGOTIATE refused', { client: req.client.id, reason: e.message });
    throw e;
  };
  if (req.fd || req.fdLost) {
    refuse(new TlspFailure('E_TLSPOOL_SUPERFLUOUS_SOCKET', 'RENEGOTIATE reuses the session\'s sockets; send it without a descriptor'));
  }
  let version: string;
  try {
    version = keys.controlled(keyOf(req.packet.starttls.ctlkey), req.client.id).session.version;
  } catch {
    return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_NOT_FOUND', 'no session with this ctlkey is under the control of this connection'));
  }
  if (version === 'TLS1.3') {
    return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_WOULD_BE_INSECURE', 'TLS 1.3 has no renegotiation; start a new session instead'));
  }
  return refuse(new TlspFailure('E_TLSPOOL_RENOGIATE_NOT_INTERRUPTABLE', `this pool does not pause a ${version} session to renegotiate; start a new session`));
}
