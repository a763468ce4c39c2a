/** CONTROL_DETACH and CONTROL_REATTACH: who controls a V2 session. */
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import type { Handler } from '../server/request';
import { type CtlKeys, keyOf } from './ctlkeys';

export function controlHandlers(keys: CtlKeys): Array<[number, Handler<V2Packet>]> {
  const answer = (p: V2Packet): { packet: V2Packet } => {
    if (!('control' in p)) throw new Error('control handler got another command');
    return { packet: { reqid: p.reqid, cbid: 0, cmd: V2Cmd.SUCCESS, control: p.control } };
  };
  const detach: Handler<V2Packet> = async (req) => {
    if (!('control' in req.packet)) throw new Error('CONTROL_DETACH handler got another command');
    keys.detach(keyOf(req.packet.control.ctlkey), req.client.id);
    return answer(req.packet);
  };
  const reattach: Handler<V2Packet> = async (req) => {
    if (!('control' in req.packet)) throw new Error('CONTROL_REATTACH handler got another command');
    keys.reattach(keyOf(req.packet.control.ctlkey), req.client.id, req.client.peer.uid);
    return answer(req.packet);
  };
  return [
    [V2Cmd.CONTROL_DETACH, detach],
    [V2Cmd.CONTROL_REATTACH, reattach],
  ];
}
