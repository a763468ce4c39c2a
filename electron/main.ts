/**
 * The Electron shell's main process: one instance per user; host the
 * daemon or attach to it (agent/host.ts); a DesktopAgent behind the window,
 * the tray and the IPC handlers. All behaviour lives in daemon/src/agent,
 * which runs under plain Node too; this file only wires Electron to it.
 */
import { app, BrowserWindow, ipcMain, Notification } from 'electron';
import * as path from 'node:path';
import { DesktopAgent } from '../src/desktop/agent/agent';
import { dispatch } from '../src/desktop/agent/dispatch';
import { codeOf } from '../src/model/failure';
import { type DaemonHost, hostOrAttach } from '../src/desktop/agent/host';
import { DESKTOP_METHODS, type TrayAction, type UiEvent } from '../src/contract/desktop';
import { secureProcess } from '../src/addon/process';
import { EVENT_CHANNEL, type IpcResult, methodChannel } from './ipc';
import { fromOurPage, lockDown } from './security';
import { TrayIcon } from './tray-icon';
import { disableAutostart, enableAutostart } from '../src/util/autostart';

/** The checkout or the packaged app: dist/electron/main.js sits two levels below it. */
const ROOT = path.resolve(__dirname, '..', '..');
const INDEX_HTML = path.join(ROOT, 'dist', 'ui', 'index.html');
const PRELOAD = path.join(__dirname, 'preload.js');

let host: DaemonHost | null = null;
let agent: DesktopAgent | null = null;
let window: BrowserWindow | null = null;
let tray: TrayIcon | null = null;
let quitting = false;

function openWindow(): BrowserWindow {
  if (window && !window.isDestroyed()) {
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
    return window;
  }
  const win = new BrowserWindow({
    width: 1000,
    height: 700,
    show: false,
    title: 'TLS Pool',
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  // A tray app: closing the window hides it; Quit in the tray ends the app.
  win.on('close', (event) => {
    if (quitting) return;
    event.preventDefault();
    win.hide();
  });
  win.once('ready-to-show', () => win.show());
  void win.loadFile(INDEX_HTML);
  window = win;
  return win;
}

/** A person must answer: bring the window up and keep it on top while prompts wait; notify if it stays hidden. */
function attend(event: UiEvent): void {
  const waiting = agent ? agent.state.pinPrompts.length + agent.state.approvals.length : 0;
  if (event.type !== 'pin-prompts' && event.type !== 'approvals') return;
  const win = window && !window.isDestroyed() ? window : null;
  if (waiting === 0) {
    win?.setAlwaysOnTop(false);
    return;
  }
  const wasHidden = !win || !win.isVisible();
  const w = openWindow();
  w.setAlwaysOnTop(true);
  if (wasHidden && Notification.isSupported()) {
    const text = event.type === 'pin-prompts' ? 'A token PIN is needed' : 'An application wants to show one of your identities';
    const note = new Notification({ title: 'TLS Pool', body: text, silent: false });
    note.on('click', () => openWindow());
    note.show();
  }
}

function onTray(action: TrayAction): void {
  const a = agent;
  if (!a) return;
  switch (action.type) {
    case 'open':
      openWindow();
      return;
    case 'quit':
      app.quit();
      return;
    case 'lock-all':
      dispatch(a, 'lockTokens', {}).catch((e: Error) => a.store.notice('error', `locking tokens failed: ${e.message}`));
      return;
    case 'set-default-identity':
      dispatch(a, 'setDefaultIdentity', { localid: action.localid }).catch((e: Error) =>
        a.store.notice('error', `setting the default identity failed: ${e.message}`),
      );
      return;
  }
}

function registerIpc(a: DesktopAgent): void {
  for (const method of DESKTOP_METHODS) {
    ipcMain.handle(methodChannel(method), async (event, params: unknown): Promise<IpcResult> => {
      if (!fromOurPage(event, INDEX_HTML)) return { ok: false, error: { message: 'refused: not the TLS Pool page', code: 'EPERM' } };
      try {
        return { ok: true, result: (await dispatch(a, method, params)) as never };
      } catch (e) {
        return { ok: false, error: { message: (e as Error).message, code: codeOf(e) } };
      }
    });
  }
}

async function start(): Promise<void> {
  lockDown();
  // Typed PINs pass through this process (the agent), as through `tlspool ui --web`: no core dumps, no ptrace by others of our uid.
  secureProcess();
  host = await hostOrAttach({ sources: { flags: {}, env: process.env } });
  const a = new DesktopAgent({ socket: host.config.socket, mode: host.mode });
  agent = a;
  registerIpc(a);
  tray = new TrayIcon(path.join(ROOT, 'build', 'tray'), onTray);
  tray.onClick(() => openWindow());
  a.subscribe((event) => {
    tray?.update(a.state);
    if (window && !window.isDestroyed()) window.webContents.send(EVENT_CHANNEL, event);
    attend(event);
  });
  a.start();
  tray.update(a.state);
  openWindow();
  // A hosted daemon that stops by itself ends the app: there is nothing left to show.
  host.exited?.then(() => app.quit(), () => app.quit());
}

/** `tlspool-desktop --autostart on|off`: the XDG autostart entry (as `tlspool autostart`), then exit. */
function autostartFlag(argv: readonly string[]): boolean {
  const at = argv.indexOf('--autostart');
  if (at < 0) return false;
  const what = argv[at + 1];
  try {
    if (what === 'on') {
      // This very app: the packaged binary, or Electron with the checkout's app path.
      const file = enableAutostart(app.isPackaged ? [process.execPath] : [process.execPath, app.getAppPath()]);
      process.stdout.write(`wrote ${file}: the desktop app starts at your next login\n`);
    } else if (what === 'off') {
      const { file, removed } = disableAutostart();
      process.stdout.write(removed ? `removed ${file}\n` : `no autostart entry at ${file}; nothing to do\n`);
    } else {
      process.stderr.write('tlspool-desktop: --autostart takes on or off\n');
      app.exit(2);
      return true;
    }
    app.exit(0);
  } catch (e) {
    process.stderr.write(`tlspool-desktop: ${(e as Error).message}\n`);
    app.exit(1);
  }
  return true;
}

if (autostartFlag(process.argv)) {
  // Done: it said what it did.
} else if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => openWindow());
  app.on('window-all-closed', () => {
    // Stay in the tray.
  });
  app.on('before-quit', (event) => {
    if (quitting) return;
    quitting = true;
    event.preventDefault();
    agent?.stop();
    tray?.destroy();
    void (host?.stop() ?? Promise.resolve()).finally(() => app.exit(0));
  });
  app
    .whenReady()
    .then(start)
    .catch((e: Error) => {
      process.stderr.write(`tlspool desktop: ${e.message}\n`);
      app.exit(1);
    });
}
