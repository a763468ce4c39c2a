/**
 * The built renderer (dist/renderer) in Debian's Chromium, served by the real
 * `tlspool ui --web` over a real daemon with a SoftHSM2 token: what a person
 * sees and does — the approval and PIN dialogs of a real STARTTLS, the
 * connection it made in the log, the status bar, settings that reach the
 * daemon — and that the page runs under its CSP without errors.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { launchBrowser, RENDERER_DIR, screenshot, collectPageErrors, type BrowserSession } from '../helpers/browser';
import { connectControl } from '../helpers/control';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import type { Peer } from '../helpers/peers';
import { CLIENT_EMAIL, SERVER_NAME } from '../helpers/pki';
import { connectFd, PIN, startRevServer, startTokenPool, talk, type TokenPool } from '../helpers/token-pool';
import { waitFor } from '../helpers/wait';
import { startWebUi, type WebUi } from '../helpers/web-ui';

const GUARD = { timeout: 90_000 };

let daemon: TestDaemon | undefined;
let tokenPool: TokenPool | undefined;
let ui: WebUi | undefined;
let browser: BrowserSession | undefined;
let peer: Peer | undefined;
afterEach(async () => {
  await browser?.close();
  browser = undefined;
  await ui?.stop();
  ui = undefined;
  await peer?.stop();
  peer = undefined;
  await tokenPool?.stop();
  tokenPool = undefined;
  await daemon?.stop();
  daemon = undefined;
});

describe('the renderer in Chromium against the real daemon', () => {
  test('the page loads under its CSP without errors, drops the token from the address bar, and says the daemon is up', GUARD, async () => {
    assert.ok(fs.existsSync(`${RENDERER_DIR}/index.html`), 'dist/renderer is built (npm run setup)');
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
    const control = await connectControl(daemon);
    try {
      const s = await control.call('settings.get', {});
      assert.equal(s.approvalTimeout, 47);
      assert.equal(s.defaultDisclosure, 'allow');
    } finally {
      control.close();
    }
  });

  test('a STARTTLS with a key on a token: the person approves the identity, a wrong PIN is asked again, the right one completes it, and the log shows it', GUARD, async () => {
    tokenPool = await startTokenPool();
    ui = await startWebUi(['--socket', tokenPool.daemon.socket]);
    await waitFor('the UI registered for PIN entry', () => /PIN entry program registered/.test(tokenPool!.daemon.logs()));
    browser = await launchBrowser();
    const { page } = browser;
    const errors = collectPageErrors(page);
    await page.goto(ui.url.href);
    await page.getByRole('status').getByText('Daemon up').waitFor();

    peer = await startRevServer();
    const fd = await connectFd(peer.port);
    const handshake = tokenPool.client().starttls({ role: 'client', fd, localid: CLIENT_EMAIL, remoteid: SERVER_NAME });
    handshake.finally(() => fd.close()).catch(() => {});

    const approval = page.getByRole('dialog', { name: 'Approve identity' });
    await approval.waitFor();
    assert.equal(await approval.getByLabel('Local identity').inputValue(), CLIENT_EMAIL);
    assert.equal(await approval.getByLabel('Remember').inputValue(), 'once');
    await screenshot(page, 'renderer-approval');
    await approval.getByRole('button', { name: 'Allow' }).click();

    const prompt = page.getByRole('dialog', { name: 'Enter PIN' });
    await prompt.waitFor();
    await prompt.getByText('work', { exact: true }).waitFor();
    await prompt.getByLabel('PIN', { exact: true }).fill('0000');
    await prompt.getByRole('button', { name: 'Unlock' }).click();
    await prompt.getByText('The PIN was wrong; attempt 2').waitFor();
    assert.equal(await prompt.getByLabel('PIN', { exact: true }).inputValue(), '', 'the field is cleared once a PIN is sent');
    await screenshot(page, 'renderer-pin-attempt-2');
    await prompt.getByLabel('PIN', { exact: true }).fill(PIN);
    await page.keyboard.press('Enter');

    const r = await handshake;
    assert.equal(await talk(r.fd), 'cba\n');
    await prompt.waitFor({ state: 'detached' });
    const grid = page.getByRole('grid', { name: 'Connections' });
    const row = grid.getByRole('row').filter({ hasText: SERVER_NAME });
    await row.first().waitFor();
    assert.match((await row.first().textContent()) ?? '', new RegExp(CLIENT_EMAIL.replace(/[.@]/g, '\\$&')));
    await row.first().click();
    await page.getByRole('complementary', { name: 'Connection details' }).getByText('Leaf').waitFor();
    await screenshot(page, 'renderer-connection-details');
    assert.deepEqual(errors, []);
  });
});
