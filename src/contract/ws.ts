/**
 * The browser path's WebSocket bridge (`tlspool ui --web`): DesktopApi over
 * one WebSocket at `/ws?token=TOKEN` on 127.0.0.1. JSON text frames:
 * the page sends WsRequest; the agent answers each with a WsResponse of the
 * same id, and pushes every UiEvent as a WsPush. Pure: no Node module.
 */
import type { DesktopMethod, DesktopMethods, UiEvent } from './desktop';

export const WS_PATH = '/ws';
/** The query parameter (page URL and WebSocket URL) that carries the access token. */
export const TOKEN_PARAM = 'token';

export type WsRequest = {
  [M in DesktopMethod]: { readonly id: number; readonly method: M; readonly params: DesktopMethods[M]['params'] };
}[DesktopMethod];

export type WsResponse =
  | { readonly id: number; readonly result: unknown }
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

export interface WsPush {
  readonly event: UiEvent;
}

export type WsServerMessage = WsResponse | WsPush;
