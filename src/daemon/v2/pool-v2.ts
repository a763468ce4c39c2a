/**
 * The V2 half of the pool socket: its handlers and the state they share
 * (the control keys), wired once per daemon.
 */
import type { V2Packet } from '../../protocol/v2-codec';
import type { ClientInfo, Handler } from '../server/request';
import type { HandlerLookup } from '../server/session';
import { controlHandlers } from './control';
import { CtlKeys, type DetachLimits } from './ctlkeys';
import { v2HandlerLookup } from './handlers';

export interface V2Pool {
  readonly handlers: HandlerLookup<V2Packet>;
  readonly keys: CtlKeys;
  /** A pool connection closed: the sessions it controlled are detached (FORK) or ended. */
  closed(client: ClientInfo): void;
}

export interface V2PoolParts {
  /** Builds the STARTTLS handler, given the control keys it registers sessions under. */
  readonly starttls?: (keys: CtlKeys) => Handler<V2Packet>;
  /** More commands that share the keys (PRNG, INFO), by tag. */
  readonly more?: (keys: CtlKeys) => Array<[number, Handler<V2Packet>]>;
  /** How many sessions may be detached, and for how long (read at each use). */
  readonly limits?: () => DetachLimits;
}

export function v2Pool(parts: V2PoolParts = {}): V2Pool {
  const keys = new CtlKeys(parts.limits);
  const handlers = v2HandlerLookup({
    starttls: parts.starttls?.(keys),
    others: [...controlHandlers(keys), ...(parts.more?.(keys) ?? [])],
  });
  return { handlers, keys, closed: (client) => keys.connectionClosed(client.id) };
}
