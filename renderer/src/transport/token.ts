/**
 * The WebSocket bridge's access token. The page is opened as
 * `http://127.0.0.1:PORT/?token=…`; the token moves to sessionStorage (so a
 * reload of this tab still works) and leaves the address bar, where it
 * would end up in history and in screenshots.
 */
import { TOKEN_PARAM, WS_PATH } from '../../../src/contract/ws';

const STORAGE_KEY = 'tlspool.token';

export function takeToken(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get(TOKEN_PARAM);
  if (fromUrl) {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, fromUrl);
    } catch {
      // Storage may be disabled; the token still works for this page load.
    }
    url.searchParams.delete(TOKEN_PARAM);
    window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function socketUrl(token: string): string {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${window.location.host}${WS_PATH}?${TOKEN_PARAM}=${encodeURIComponent(token)}`;
}
