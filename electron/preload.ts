/**
 * The renderer's only door: `window.tlspool`, a DesktopApi over ipcRenderer.
 * Sandboxed preloads may require nothing but `electron` (and a few Node
 * built-ins), so this file imports only types; the channel names and the
 * method list are spelled here and checked against ipc.ts and DesktopMethods
 * by the compiler (a missing or extra method does not compile).
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { DesktopApi, DesktopMethod, DesktopMethods, UiEvent } from '../src/contract/desktop';
import type { EventChannel, IpcResult, MethodChannel } from './ipc';

const METHODS: { readonly [M in DesktopMethod]: true } = {
  getState: true,
  connections: true,
  connectionDetails: true,
  answerPin: true,
  cancelPin: true,
  decideApproval: true,
  setDefaultIdentity: true,
  removeIdentity: true,
  lockTokens: true,
  revokeRule: true,
  updateSettings: true,
};

const EVENTS: EventChannel = 'tlspool:event';

/**
 * What crosses to the main process: the params, with an answerPin's PIN as
 * UTF-8 bytes, which the agent wipes once used (as it does for the browser
 * path); a string could not be wiped there.
 */
function outgoing(method: DesktopMethod, params: unknown): unknown {
  if (method !== 'answerPin') return params;
  const p = params as DesktopMethods['answerPin']['params'];
  return { id: p.id, pin: new TextEncoder().encode(p.pin) };
}

async function invoke<M extends DesktopMethod>(method: M, params: DesktopMethods[M]['params']): Promise<DesktopMethods[M]['result']> {
  const channel: MethodChannel<M> = `tlspool:${method}`;
  const answer = (await ipcRenderer.invoke(channel, outgoing(method, params))) as IpcResult<M>;
  if (answer.ok) return answer.result;
  throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
}

function build(): DesktopApi {
  const api: Record<string, unknown> = {};
  for (const method of Object.keys(METHODS) as DesktopMethod[]) {
    api[method] = (params: never) => invoke(method, params);
  }
  api.onEvent = (listener: (event: UiEvent) => void) => {
    // The renderer never sees the IpcRendererEvent (it would hand it `sender`).
    const wrapped = (_e: IpcRendererEvent, event: UiEvent) => listener(event);
    ipcRenderer.on(EVENTS, wrapped);
    return () => void ipcRenderer.removeListener(EVENTS, wrapped);
  };
  return Object.freeze(api) as DesktopApi;
}

contextBridge.exposeInMainWorld('tlspool', build());
