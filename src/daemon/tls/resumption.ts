/**
 * Which STARTTLS requests may resume a TLS session, and with which others
 * (the engine's `resumption` scope, native/tls.ts). A resumed handshake skips
 * the certificate signature and its check (the peer's chain from the first
 * handshake is still validated), so it must not skip a choice the
 * application makes per connection, nor mix sessions of different identities.
 */
import type { StartTlsPayload } from '../../protocol/codec';
import { StartTlsFlag } from '../../protocol/constants';
import type { Role } from '../../model/connection';

/** The flags that change what a handshake proves or asks for. */
const PROOF_FLAGS = StartTlsFlag.IGNORE_REMOTEID | StartTlsFlag.REQUEST_REMOTEID | StartTlsFlag.SEND_SNI;

/**
 * The scope for this request, or undefined for a full handshake every time:
 * with IGNORE_CACHES, for DTLS, for anonymous TLS, and for a server whose
 * application named no local identity (it is asked with STARTTLS_LOCALID on
 * every connection, which a resumed handshake would skip).
 */
export function resumptionScope(role: Role, p: StartTlsPayload, transport: 'tls' | 'dtls', anonymous: boolean): string | undefined {
  if (p.flags & StartTlsFlag.IGNORE_CACHES || transport !== 'tls' || anonymous) return undefined;
  if (role === 'server' && !p.localid) return undefined;
  return [role, p.localid, p.remoteid, p.flags & PROOF_FLAGS].join('\0');
}
