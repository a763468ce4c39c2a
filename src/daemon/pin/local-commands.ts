/**
 * Project-local commands on the pool socket (LOCAL bit, constants.ts):
 * `tlspool lock` and the pool's side of `tlspool tokens`.
 */
import { Cmd, LocalCmd } from '../../protocol/constants';
import type { Handler } from '../server/request';
import type { PinBroker } from './broker';

/** LOCK: forget every cached PIN and log out every token the pool unlocked. */
export function lockHandler(broker: PinBroker): Handler {
  return async (req) => {
    const n = broker.lock();
    req.log.info('locked', { client: req.client.id, pid: req.client.peer.pid, tokens: n });
    return { packet: { reqid: req.packet.reqid, cbid: 0, cmd: Cmd.SUCCESS } };
  };
}

/** TOKEN_STATE: the same packet back, flags 0x1 when the pool holds that token unlocked. */
export function tokenStateHandler(broker: PinBroker): Handler {
  return async (req) => {
    if (!('pinentry' in req.packet)) throw new Error('TOKEN_STATE handler got another command');
    const q = req.packet.pinentry;
    q.pin.fill(0);
    const unlocked = broker.cache.list().some(
      (e) =>
        e.token.label === q.token_label &&
        (!q.token_serial || e.token.serial === q.token_serial) &&
        (!q.token_manuf || e.token.manufacturer === q.token_manuf) &&
        (!q.token_model || e.token.model === q.token_model),
    );
    return {
      packet: { reqid: req.packet.reqid, cbid: 0, cmd: LocalCmd.TOKEN_STATE, pinentry: { ...q, pin: new Uint8Array(0), flags: unlocked ? 1 : 0 } },
    };
  };
}
