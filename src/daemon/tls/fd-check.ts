/**
 * The checks a STARTTLS fd must pass before any TLS starts, each failing
 * with the errno that names the problem precisely.
 */
import { IpProto, StartTlsFlag } from '../../protocol/constants';
import type { StartTlsPayload } from '../../protocol/codec';
import { fdInfo, type OwnedFd } from '../../addon/ipc';
import { Failure } from '../../model/failure';

export type Transport = 'tls' | 'dtls';

/** Returns the transport to run and the peer's address (when it has one), or throws a Failure. */
export function checkStartTlsFd(p: StartTlsPayload, fd: OwnedFd | undefined): { transport: Transport; peerAddress?: string } {
  const dtls = (p.flags & StartTlsFlag.DTLS) !== 0;
  if (!fd) {
    throw new Failure('EBADF', 'STARTTLS needs the socket to protect, sent as SCM_RIGHTS with the request');
  }
  const info = fdInfo(fd.fd);
  if (!info.isSocket) throw new Failure('ENOTSOCK', 'the fd sent with STARTTLS is not a socket');

  switch (p.ipproto) {
    case IpProto.TCP:
      if (dtls) throw new Failure('EPROTONOSUPPORT', 'DTLS is impossible over TCP; clear the DTLS flag');
      if (info.type !== 'stream' || (info.protocol !== IpProto.TCP && info.protocol !== 0)) {
        throw new Failure('EPROTOTYPE', `ipproto is TCP but the socket is a ${describe(info.type, info.protocol)} socket`);
      }
      break;
    case IpProto.UDP:
      if (!dtls) throw new Failure('EPROTONOSUPPORT', 'TLS over UDP needs DTLS; set the DTLS flag');
      if (info.type !== 'dgram' || (info.protocol !== IpProto.UDP && info.protocol !== 0)) {
        throw new Failure('EPROTOTYPE', `ipproto is UDP but the socket is a ${describe(info.type, info.protocol)} socket`);
      }
      break;
    case IpProto.SCTP:
      throw new Failure('EPROTONOSUPPORT', 'SCTP is not supported by this pool (and this kernel has no SCTP)');
    default:
      throw new Failure('EPROTONOSUPPORT', `ipproto ${p.ipproto} is not one of TCP (6), UDP (17), SCTP (132)`);
  }
  if (!info.connected) throw new Failure('ENOTCONN', 'the socket sent with STARTTLS is not connected to a peer');
  return { transport: dtls ? 'dtls' : 'tls', peerAddress: info.peerAddress };
}

function describe(type: string | undefined, protocol: number | undefined): string {
  const proto = protocol === IpProto.TCP ? 'TCP' : protocol === IpProto.UDP ? 'UDP' : `protocol ${protocol}`;
  return `${type ?? 'unknown'} (${proto})`;
}
