/**
 * The tray icon and menu, drawn from agent/tray.ts: one image per
 * TrayState (build/tray/<state>.png, made by scripts/make-icons.js) and the
 * menu as data turned into an Electron Menu, rebuilt when the state changes.
 */
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions } from 'electron';
import * as path from 'node:path';
import { trayMenu, trayState, trayTooltip } from '../src/desktop/agent/tray';
import type { TrayAction, TrayMenuItem, TrayState, UiState } from '../src/contract/desktop';

export class TrayIcon {
  private readonly tray: Tray;
  private shown: TrayState | null = null;
  private lastMenu = '';

  constructor(
    private readonly iconDir: string,
    private readonly onAction: (action: TrayAction) => void,
  ) {
    this.tray = new Tray(this.image('down'));
  }

  /** Redraw what changed: the icon, the tooltip, the menu. */
  update(state: UiState): void {
    const s = trayState(state);
    if (s !== this.shown) {
      this.tray.setImage(this.image(s));
      this.shown = s;
    }
    this.tray.setToolTip(trayTooltip(state));
    const items = trayMenu(state);
    const key = JSON.stringify(items);
    if (key === this.lastMenu) return;
    this.lastMenu = key;
    this.tray.setContextMenu(Menu.buildFromTemplate(items.map((i) => this.item(i))));
  }

  onClick(listener: () => void): void {
    this.tray.on('click', listener);
  }

  destroy(): void {
    this.tray.destroy();
  }

  private image(state: TrayState) {
    // nativeImage picks <state>@2x.png beside it on high-density screens.
    return nativeImage.createFromPath(path.join(this.iconDir, `${state}.png`));
  }

  private item(i: TrayMenuItem): MenuItemConstructorOptions {
    switch (i.kind) {
      case 'separator':
        return { type: 'separator' };
      case 'label':
        return { label: i.label, enabled: false };
      case 'radio':
        return { type: 'radio', label: i.label, checked: i.checked, click: () => this.onAction(i.action) };
      case 'action':
        return { label: i.label, enabled: i.enabled, click: () => this.onAction(i.action) };
    }
  }
}
