/**
 * The IPC contract between the preload and the main process, as types and
 * channel names: one channel per DesktopMethod (`tlspool:<method>`) and one
 * for every UiEvent. Answers travel as IpcResult because Electron keeps only
 * an Error's message across invoke, and the UI needs the stable code too.
 * Type-only imports: the sandboxed preload cannot load this file at run
 * time, so it spells the same template and the compiler checks it matches.
 */
import type { DesktopMethod, DesktopMethods } from '../src/contract/desktop';

export type MethodChannel<M extends DesktopMethod = DesktopMethod> = `tlspool:${M}`;
export type EventChannel = 'tlspool:event';

export type IpcResult<M extends DesktopMethod = DesktopMethod> =
  | { readonly ok: true; readonly result: DesktopMethods[M]['result'] }
  | { readonly ok: false; readonly error: { readonly message: string; readonly code?: string } };

export function methodChannel<M extends DesktopMethod>(method: M): MethodChannel<M> {
  return `tlspool:${method}`;
}

export const EVENT_CHANNEL: EventChannel = 'tlspool:event';
