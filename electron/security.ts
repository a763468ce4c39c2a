/**
 * What the app's web contents may do: load our own renderer file and
 * nothing else. No navigation, no new windows, no permissions, no webviews,
 * a strict CSP on every response, and IPC only from our own page.
 */
import { app, session, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { pathToFileURL } from 'node:url';

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/** Apply once, before any window opens. */
export function lockDown(): void {
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP], 'X-Content-Type-Options': ['nosniff'] } });
  });
  // Anything but our file (a link, a redirect, a script) is refused before it loads.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const url = details.url;
    callback({ cancel: !(url.startsWith('file://') || url.startsWith('devtools://')) });
  });
  app.on('web-contents-created', (_e, contents: WebContents) => {
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.on('will-redirect', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });
}

/** ipcMain handlers answer only our own page, in its main frame. */
export function fromOurPage(event: IpcMainInvokeEvent, indexHtml: string): boolean {
  const frame = event.senderFrame;
  if (!frame || frame.parent !== null) return false;
  const ours = pathToFileURL(indexHtml);
  try {
    const url = new URL(frame.url);
    return url.protocol === 'file:' && url.pathname === ours.pathname;
  } catch {
    return false;
  }
}
