/**
 * Which transport: the Electron preload's `window.tlspool` when present
 * (a DesktopApi over ipcRenderer), else the agent's WebSocket bridge, with
 * the token from the page URL.
 */
import type { DesktopApi } from '../../../src/contract/desktop';
import type { Transport } from './link';
import { socketUrl, takeToken } from './token';
import { wsTransport } from './ws-transport';

declare global {
  interface Window {
    /** Exposed by the Electron preload (contextBridge). */
    readonly tlspool?: DesktopApi;
  }
}

export function openTransport(): Transport {
  const preload = window.tlspool;
  if (preload) {
    return { api: preload, onLink: (l) => (l({ kind: 'up' }), () => undefined) };
  }
  const token = takeToken();
  if (!token) {
    const reason = 'no access token: open the address that `tlspool ui --web` printed';
    const never = (): Promise<never> => Promise.reject(new Error(reason));
    const api = new Proxy({} as DesktopApi, {
      get: (_t, name) => (name === 'onEvent' ? () => () => undefined : never),
    });
    return { api, onLink: (l) => (l({ kind: 'unusable', reason }), () => undefined) };
  }
  return wsTransport(socketUrl(token));
}

export type { Link, Transport } from './link';
export { Failure } from '../../../src/model/failure';
