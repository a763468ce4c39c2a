import { Cmd, TLSPOOL_IDENTITY_V1 } from '../../protocol/constants';
import type { Handler } from './request';

/**
 * PING: the client says who it is, the pool answers with its own identity.
 * The client's string is logged with the kernel's word on who sent it.
 */
export const ping: Handler = async (req) => {
  if (!('ping' in req.packet)) throw new Error('PING handler got another command');
  const identity = req.packet.ping.YYYYMMDD_producer;
  req.client.identity = identity;
  req.log.info('ping', {
    client: req.client.id,
    identity,
    pid: req.client.peer.pid,
    uid: req.client.peer.uid,
    gid: req.client.peer.gid,
    executable: req.client.executable,
  });
  return { packet: { reqid: 0, cbid: 0, cmd: Cmd.PING, ping: { YYYYMMDD_producer: TLSPOOL_IDENTITY_V1 } } };
};
