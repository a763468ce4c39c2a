/**
 * DesktopApi over the agent's WebSocket bridge (ws-protocol.ts). One socket
 * at a time; when it drops, calls in flight fail at once (the agent may or
 * may not have acted on them, so they are not replayed) and a new socket is
 * tried after a growing pause. Events pushed while it was down are lost, so
 * whoever holds the state fetches a fresh snapshot each time the link is up.
 */
import {
  DESKTOP_METHODS,
  type DesktopApi,
  type DesktopMethod,
  type DesktopMethods,
  type UiEvent,
} from '../../../src/contract/desktop';
import type { WsRequest, WsServerMessage } from '../../../src/contract/ws';
import type { Link, Transport } from './link';
import { Failure } from '../../../src/model/failure';

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

const BACKOFF_MS = [250, 500, 1000, 2000, 5000];

export function wsTransport(url: string): Transport {
  const eventListeners = new Set<(event: UiEvent) => void>();
  const linkListeners = new Set<(link: Link) => void>();
  const pending = new Map<number, Pending>();
  let link: Link = { kind: 'connecting' };
  let socket: WebSocket | null = null;
  let nextId = 1;
  let failures = 0;
  // A connect that waits for the socket to open, shared by every call made meanwhile.
  let opened: Promise<WebSocket> | null = null;

  const setLink = (next: Link): void => {
    link = next;
    for (const l of linkListeners) l(link);
  };

  const emit = (event: UiEvent): void => {
    for (const l of eventListeners) l(event);
  };

  const failPending = (why: string): void => {
    for (const p of pending.values()) p.reject(new Failure('ECONNRESET', why));
    pending.clear();
  };

  const connect = (): Promise<WebSocket> => {
    if (opened) return opened;
    setLink({ kind: 'connecting' });
    opened = new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      let wasOpen = false;
      ws.onopen = () => {
        wasOpen = true;
        failures = 0;
        socket = ws;
        setLink({ kind: 'up' });
        resolve(ws);
      };
      ws.onmessage = (m) => onMessage(m.data);
      ws.onclose = (e) => {
        socket = null;
        opened = null;
        const reason = wasOpen
          ? `connection to the agent lost${e.reason ? ` (${e.reason})` : ''}`
          : e.code === 1006
            ? 'cannot reach the agent (if it was restarted, open the new address it printed)'
            : `the agent refused the connection${e.reason ? ` (${e.reason})` : ''}`;
        failPending(reason);
        if (!wasOpen) reject(new Failure('ECONNREFUSED', reason));
        const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)];
        failures++;
        setLink({ kind: 'down', reason, retryAt: Date.now() + delay });
        setTimeout(() => void connect().catch(() => undefined), delay);
      };
    });
    return opened;
  };

  const onMessage = (data: unknown): void => {
    if (typeof data !== 'string') return;
    let msg: WsServerMessage;
    try {
      msg = JSON.parse(data) as WsServerMessage;
    } catch {
      return; // Not ours to crash on; the agent speaks JSON.
    }
    if ('event' in msg) {
      emit(msg.event);
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if ('error' in msg) p.reject(Failure.named(msg.error.code, msg.error.message));
    else p.resolve(msg.result);
  };

  function call<M extends DesktopMethod>(
    method: M,
    params: DesktopMethods[M]['params'],
  ): Promise<DesktopMethods[M]['result']> {
    const ws = socket;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Failure('ENOTCONN', 'not connected to the agent; wait until the status bar says it is back'));
    }
    const id = nextId++;
    const request = { id, method, params } as WsRequest;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve: resolve as (r: unknown) => void, reject });
      ws.send(JSON.stringify(request));
    });
  }

  const api = Object.fromEntries(
    DESKTOP_METHODS.map((m) => [m, (params: never) => call(m, params)]),
  ) as unknown as Omit<DesktopApi, 'onEvent'>;

  void connect().catch(() => undefined);

  return {
    api: {
      ...api,
      onEvent(listener) {
        eventListeners.add(listener);
        return () => eventListeners.delete(listener);
      },
    } as DesktopApi,
    onLink(listener) {
      linkListeners.add(listener);
      listener(link);
      return () => linkListeners.delete(listener);
    },
  };
}
