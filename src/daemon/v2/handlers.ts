/** The V2 commands of the pool socket, by tag. */
import type { V2Packet } from '../../protocol/v2-codec';
import { V2Cmd } from '../../protocol/v2-constants';
import { TlspFailure } from '../../protocol/v2-errors';
import type { Handler } from '../server/request';
import type { HandlerLookup } from '../server/session';
import { pingV2 } from './ping';

export interface V2Handlers {
  /** STARTTLS (and its RENEGOTIATE variant); takes the request's descriptor. */
  readonly starttls?: Handler<V2Packet>;
  /** Commands that carry no descriptor, by tag. */
  readonly others?: ReadonlyArray<[number, Handler<V2Packet>]>;
}

/**
 * A descriptor on a request that takes none is closed and the request
 * refused, so that a client that sent one by mistake learns so.
 */
function noFd(inner: Handler<V2Packet>): Handler<V2Packet> {
  return async (req) => {
    if (req.fd || req.fdLost) {
      throw new TlspFailure('E_TLSPOOL_SUPERFLUOUS_SOCKET', 'this request takes no descriptor; send it without SCM_RIGHTS');
    }
    return inner(req);
  };
}

export function v2HandlerLookup(h: V2Handlers): HandlerLookup<V2Packet> {
  const map = new Map<number, Handler<V2Packet>>([[V2Cmd.PING, noFd(pingV2)]]);
  if (h.starttls) map.set(V2Cmd.STARTTLS, h.starttls);
  for (const [cmd, handler] of h.others ?? []) map.set(cmd, noFd(handler));
  return (cmd) => map.get(cmd);
}
