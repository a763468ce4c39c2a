/**
 * V2 PING: the client says who it is and which facilities it wants; the
 * pool answers with its V2 identity and the wanted facilities it offers.
 */
import type { V2Packet } from '../../protocol/v2-codec';
import { TLSPOOL_IDENTITY_V2, V2_FACILITIES_OFFERED, V2Cmd } from '../../protocol/v2-constants';
import type { Handler } from '../server/request';

export const pingV2: Handler<V2Packet> = async (req) => {
  if (!('ping' in req.packet)) throw new Error('V2 PING handler got another command');
  const { YYYYMMDD_producer: identity, facilities } = req.packet.ping;
  req.client.identity = identity;
  req.log.info('ping', {
    client: req.client.id,
    protocol: 'v2',
    identity,
    facilities,
    pid: req.client.peer.pid,
    uid: req.client.peer.uid,
    gid: req.client.peer.gid,
    executable: req.client.executable,
  });
  return {
    packet: {
      reqid: 0,
      cbid: 0,
      cmd: V2Cmd.PING,
      ping: { YYYYMMDD_producer: TLSPOOL_IDENTITY_V2, facilities: (facilities & V2_FACILITIES_OFFERED) >>> 0 },
    },
  };
};
