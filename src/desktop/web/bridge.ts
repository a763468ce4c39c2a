/**
 * The WebSocket bridge (control/ws-protocol.ts): each text frame is one
 * WsRequest, answered exactly once with a WsResponse of the same id (a frame
 * too broken to carry an id is answered with id 0); every UiEvent is pushed
 * as a WsPush for as long as the socket is open.
 *
 * What one socket can make this process hold is bounded. Its requests are
 * taken one at a time: the next is not read until the answer to the last
 * has left for the kernel, so a page that sends and never reads gets one
 * answer queued, not one per request (the socket is paused meanwhile; the
 * few frames already read with it wait, unparsed, in order). Pushed events
 * are not held back, but a page that lets more than MAX_BUFFERED bytes of
 * them pile up behind the oldest unwritten push and the newest snapshot is
 * disconnected (1008) rather than buffered without end. (Behind it: a page that reads takes a snapshot
 * of a big connection log, larger than the bound, while the next events
 * are pushed.) A frame is wiped once parsed, and an answerPin's PIN reaches
 * the agent as bytes, never as a string (request-frame.ts).
 */
import type { RawData, WebSocket } from 'ws';
import type { DesktopAgent } from '../agent/agent';
import { dispatch } from '../agent/dispatch';
import { codeOf } from '../../model/failure';
import type { WsPush, WsResponse } from '../../contract/ws';
import { type ParsedRequest, parseRequestFrame } from './request-frame';

/** Bytes of pushed events a page may leave unread before it is dropped. */
const MAX_BUFFERED = 8 * 1024 * 1024;

export function bridge(ws: WebSocket, agent: DesktopAgent): void {
  /** Frames read while a request was being answered (the socket is paused, so only what one read brought). */
  const waiting: Array<{ data: RawData; isBinary: boolean }> = [];
  let answering = false;
  /** Frames handed to ws and not yet written to the socket, oldest first (ws calls back in that order). */
  const unwritten: Array<{ bytes: number; push: boolean; snapshot: boolean }> = [];
  /** Bytes of the pushes among them. */
  let pushBytes = 0;

  const send = (text: string, push: boolean, written?: () => void, snapshot = false): void => {
    // UTF-16 units rather than bytes: the same for ASCII, which this JSON nearly all is.
    const frame = { bytes: text.length, push, snapshot };
    unwritten.push(frame);
    if (push) pushBytes += frame.bytes;
    ws.send(text, () => {
      unwritten.shift();
      if (push) pushBytes -= frame.bytes;
      written?.();
    });
  };

  const push = (msg: WsPush) => {
    if (ws.readyState !== ws.OPEN) return;
    // The oldest push not yet written and the newest snapshot do not count: a page that reads takes a
    // snapshot bigger than the bound, may still be reading the answer in front of it, and may be sent
    // the next snapshot (a daemon restarted) before the last one is through.
    const oldest = unwritten.find((f) => f.push);
    const newest = [...unwritten].reverse().find((f) => f.snapshot && f !== oldest);
    if (pushBytes - (oldest?.bytes ?? 0) - (newest?.bytes ?? 0) > MAX_BUFFERED) {
      ws.close(1008, 'the page does not read its messages');
      return;
    }
    send(JSON.stringify(msg), true, undefined, msg.event.type === 'snapshot');
  };

  /** Send the answer; once it is written (or cannot be), read the next request. */
  const answer = (msg: WsResponse): void => {
    if (ws.readyState !== ws.OPEN) return next();
    send(JSON.stringify(msg), false, next);
  };

  const fail = (id: number, message: string, code = 'EINVAL'): void => answer({ id, error: { message, code } });

  /** Frames not yet read hold what the page typed: wipe them when they are dropped. */
  const dropWaiting = (): void => {
    for (const f of waiting.splice(0)) frameBytes(f.data).fill(0);
  };

  const next = (): void => {
    answering = false;
    const frame = ws.readyState === ws.OPEN ? waiting.shift() : undefined;
    if (frame) return handle(frame.data, frame.isBinary);
    // Nothing left to answer, or closing: read again (a closing socket still has the page's close frame to read).
    dropWaiting();
    ws.resume();
  };

  const handle = (data: RawData, isBinary: boolean): void => {
    const frame = frameBytes(data);
    let parsed: ParsedRequest;
    try {
      if (ws.readyState !== ws.OPEN) return;
      answering = true;
      ws.pause();
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
      (result) => answer({ id: id as number, result }),
      (e: Error) => fail(id as number, e.message, codeOf(e)),
    );
  };

  const unsubscribe = agent.subscribe((event) => push({ event }));
  ws.on('close', () => {
    unsubscribe();
    dropWaiting();
  });
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    if (answering) waiting.push({ data, isBinary });
    else handle(data, isBinary);
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
