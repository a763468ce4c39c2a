/**
 * The built renderer (dist/ui) in Debian's Chromium, served by the real
 * `tlspool ui --web` over a real daemon: the page runs under its CSP
 * without errors, keeps its token out of the address bar, and its settings
 * reach the daemon. The prompts and the log are in desktop-ui.test.ts.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { launchBrowser, RENDERER_DIR, collectPageErrors, screenshot, type BrowserSession } from '../helpers/browser';
import { connectControl } from '../helpers/control';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { startWebUi, type WebUi } from '../helpers/web-ui';

const GUARD = { timeout: 90_000 };

let daemon: TestDaemon | undefined;
let ui: WebUi | undefined;
let browser: BrowserSession | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await ui?.stop();
  ui = undefined;
  await daemon?.stop();
  daemon = undefined;
});

describe('the renderer in Chromium against the real daemon', () => {
  test('the page loads under its CSP without errors, drops the token from the address bar, and says the daemon is up', GUARD, async () => {
    assert.ok(fs.existsSync(`${RENDERER_DIR}/index.html`), 'dist/ui is built (npm run setup)');
    daemon = await startDaemon();
    ui = await startWebUi(['--socket', daemon.socket]);
    browser = await launchBrowser();
    const { page } = browser;
    const errors = collectPageErrors(page);
    await page.goto(ui.url.href);
    const status = page.getByRole('status');
    await status.getByText('Daemon up — 0 connections').waitFor();
    assert.equal(new URL(page.url()).searchParams.get('token'), null);
    await page.getByRole('tab', { name: 'About' }).click();
    await page.getByText(daemon.socket, { exact: true }).waitFor();
    // A reload works from the token kept for this tab.
    await page.reload();
    await status.getByText('Daemon up').waitFor();
    await screenshot(page, 'renderer-about');
    assert.deepEqual(errors, []);
  });

  test('settings saved on the Settings page reach the daemon', GUARD, async () => {
    daemon = await startDaemon();
    ui = await startWebUi(['--socket', daemon.socket]);
    browser = await launchBrowser();
    const { page } = browser;
    await page.goto(ui.url.href);
    await page.getByRole('status').getByText('Daemon up').waitFor();
    await page.getByRole('tab', { name: 'Settings' }).click();
    await page.getByLabel('Approval timeout').fill('47');
    await page.getByLabel('Default disclosure').selectOption('allow');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').getByText('Settings saved').waitFor();
    await screenshot(page, 'renderer-settings-saved');
    const control = await connectControl(daemon);
    try {
      const s = await control.call('settings.get', {});
      assert.equal(s.approvalTimeout, 47);
      assert.equal(s.defaultDisclosure, 'allow');
    } finally {
      control.close();
    }
  });
});
