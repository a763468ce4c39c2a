/**
 * The WebSocket bridge (control/ws-protocol.ts): each text frame is one
 * WsRequest, answered exactly once with a WsResponse of the same id (a frame
 * too broken to carry an id is answered with id 0); every UiEvent is pushed
 * as a WsPush for as long as the socket is open. A frame is wiped once
 * parsed, and an answerPin's PIN reaches the agent as bytes, never as a
 * string (request-frame.ts).
 */
import type { RawData, WebSocket } from 'ws';
import type { DesktopAgent } from '../agent/agent';
import { dispatch } from '../agent/dispatch';
import { errorCode } from '../agent/errors';
import type { WsPush, WsResponse } from '../control/ws-protocol';
import { type ParsedRequest, parseRequestFrame } from './request-frame';

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
    const frame = frameBytes(data);
    let parsed: ParsedRequest;
    try {
      if (isBinary) return fail(0, 'send requests as JSON text frames');
      try {
        // The PIN of an answerPin comes out as bytes; the frame turns into text only without it.
        parsed = parseRequestFrame(frame);
      } catch {
        return fail(0, 'a request must be one JSON object');
      }
    } finally {
      frame.fill(0);
    }
    const { msg, pin } = parsed;
    const { id, method, params } = (msg ?? {}) as { id?: unknown; method?: unknown; params?: unknown };
    // Only answerPin takes the PIN bytes (and wipes them when it does not send them); anything else drops them here.
    if (pin && method !== 'answerPin') pin.fill(0);
    if (typeof msg !== 'object' || msg === null || !Number.isSafeInteger(id)) {
      pin?.fill(0);
      return fail(0, 'a request needs an integer "id"');
    }
    dispatch(agent, method, params).then(
      (result) => send({ id: id as number, result }),
      (e: Error) => fail(id as number, e.message, errorCode(e) ?? 'EIO'),
    );
  });
}

/** The bytes of a message as ws hands them over (a Buffer unless binaryType says otherwise); fragments are joined and wiped. */
function frameBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) {
    const joined = Buffer.concat(data);
    for (const part of data) part.fill(0);
    return joined;
  }
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
