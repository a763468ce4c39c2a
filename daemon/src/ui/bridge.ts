/**
 * The WebSocket bridge (control/ws-protocol.ts): each text frame is one
 * WsRequest, answered exactly once with a WsResponse of the same id (a frame
 * too broken to carry an id is answered with id 0); every UiEvent is pushed
 * as a WsPush for as long as the socket is open.
 */
import type { WebSocket } from 'ws';
import type { DesktopAgent } from '../agent/agent';
import { dispatch } from '../agent/dispatch';
import { errorCode } from '../agent/errors';
import type { WsPush, WsResponse } from '../control/ws-protocol';

/** A page that stops reading (a frozen tab) is dropped rather than buffered without end. */
const MAX_BUFFERED = 8 * 1024 * 1024;

export function bridge(ws: WebSocket, agent: DesktopAgent): void {
  const send = (msg: WsResponse | WsPush) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) {
      ws.close(1008, 'the page does not read its messages');
      return;
    }
    ws.send(JSON.stringify(msg));
  };
  const unsubscribe = agent.subscribe((event) => send({ event }));
  ws.on('close', unsubscribe);
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    const fail = (id: number, message: string, code = 'EINVAL') => send({ id, error: { message, code } });
    if (isBinary) return fail(0, 'send requests as JSON text frames');
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return fail(0, 'a request must be one JSON object');
    }
    const { id, method, params } = (msg ?? {}) as { id?: unknown; method?: unknown; params?: unknown };
    if (typeof msg !== 'object' || msg === null || !Number.isSafeInteger(id)) return fail(0, 'a request needs an integer "id"');
    dispatch(agent, method, params).then(
      (result) => send({ id: id as number, result }),
      (e: Error) => fail(id as number, e.message, errorCode(e) ?? 'EIO'),
    );
  });
}
