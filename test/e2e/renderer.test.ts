/**
 * The built renderer (dist/ui) in Debian's Chromium, served by the real
 * `tlspool ui --web` over a real daemon: the page runs under its CSP
 * without errors, keeps its token out of the address bar and away from
 * every other server on 127.0.0.1, and its settings reach the daemon. The prompts and the log are in desktop-ui.test.ts.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { launchBrowser, RENDERER_DIR, collectPageErrors, screenshot, type BrowserSession } from '../../harness/browser';
import { connectControl } from '../../harness/control';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { startWebUi, type WebUi } from '../../harness/web-ui';

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
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});
let servers: http.Server[] = [];

/** Some other local web server, on another port of 127.0.0.1: it answers every request and keeps what came. */
async function otherLocalServer(): Promise<{ url: string; seen: http.IncomingMessage[] }> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Someone else</title><p>another local server</p>');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, seen };
}

/** Open the UI's WebSocket as the page would (its Host and Origin) with `headers` replayed; the HTTP status, 101 when it opened. */
function replayToWs(port: number, query: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws${query}`, { origin: `http://127.0.0.1:${port}`, headers });
    ws.once('open', () => (ws.close(), resolve(101)));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
    ws.once('error', reject);
  });
}

/** What a request carried that the next one could replay: its headers, less those the WebSocket handshake sets itself. */
function replayable(req: http.IncomingMessage): Record<string, string> {
  const own = new Set(['host', 'origin', 'connection', 'upgrade', 'content-length']);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!own.has(name) && !name.startsWith('sec-websocket-') && value !== undefined) out[name] = String(value);
  }
  return out;
}

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

  test('the access token never goes to another server on 127.0.0.1; a reload of the tab still works, a new tab is told how to get in', GUARD, async () => {
    daemon = await startDaemon();
    ui = await startWebUi(['--socket', daemon.socket]);
    const other = await otherLocalServer();
    browser = await launchBrowser();
    const { page } = browser;
    const errors = collectPageErrors(page);
    const status = page.getByRole('status');
    await page.goto(ui.url.href);
    await status.getByText('Daemon up').waitFor();

    // The same tab, then a new one in the same browser, visit the other server.
    await page.goto(other.url);
    const tab = await browser.context.newPage();
    await tab.goto(`${other.url}again`);
    await tab.close();
    assert.ok(other.seen.length >= 2, 'the other server was visited');
    for (const req of other.seen) {
      const carried = JSON.stringify({ url: req.url, headers: req.rawHeaders });
      assert.ok(!carried.includes(ui.token), `the other server got the token: ${carried}`);
      // Nothing it got opens the UI's WebSocket, whatever it is (a cookie, a header), with or without a query.
      assert.equal(await replayToWs(ui.port, '', replayable(req)), 403, `replaying ${carried}`);
    }
    // The replay itself is sound: the same handshake with the token opens.
    assert.equal(await replayToWs(ui.port, `?token=${ui.token}`, replayable(other.seen[0]!)), 101);

    // Back to the UI in its tab, by its address without the token: the tab still has it.
    await page.goto(`http://127.0.0.1:${ui.port}/`);
    await status.getByText('Daemon up').waitFor();
    await page.reload();
    await status.getByText('Daemon up').waitFor();
    await screenshot(page, 'renderer-after-other-server');

    // A new tab at that address has no token and says where to get one.
    const fresh = await browser.context.newPage();
    await fresh.goto(`http://127.0.0.1:${ui.port}/`);
    await fresh.getByRole('heading', { name: 'Not connected' }).waitFor();
    await fresh.getByRole('main').getByText('Open the address that `tlspool ui --web` printed').waitFor();
    await fresh.getByRole('status').getByText('open the address that `tlspool ui --web` printed').waitFor();
    await screenshot(fresh, 'renderer-new-tab-without-token');
    await fresh.close();
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
    // Out of the range the daemon accepts: said on the page, and not sent.
    await page.getByLabel('Approval timeout').fill('0');
    await page.getByText('Too short: at least 1 second.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Save' }).isDisabled(), true);
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
