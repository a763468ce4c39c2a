/**
 * "What a new user meets: a UI that stays true." The real renderer in
 * Debian's Chromium, served by `tlspool ui --web` attached to a real daemon;
 * changes made with the real CLI and real TLS peers (openssl s_server), and
 * what the page shows checked as a person sees it. Screenshots go to
 * test-results/screenshots/ (ui-true-*).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Page } from 'playwright-core';
import { PoolClient, type StartTlsResult } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { shortCommand } from '../../src/model/command';
import { CLI } from '../../harness/daemon';
import { collectPageErrors, launchBrowser, screenshot, type BrowserSession } from '../../harness/browser';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { startPool, type Pool } from '../../harness/starttls';
import { connectFd, PIN, startRevServer, startTlsTo, startTokenPool, talk, TOKEN } from '../../harness/token-pool';
import { startOpensslServer, startPeer, type Peer } from '../../harness/peers';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';

const GUARD = { timeout: 120_000 };
/** Bounds for waiting on the page; they only guard against hangs. */
const SHOWN = { state: 'visible', timeout: 30_000 } as const;
const GONE = { state: 'hidden', timeout: 30_000 } as const;

let browser: BrowserSession;
let cleanups: Array<() => Promise<unknown> | unknown> = [];
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser.close();
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

function later<T extends { stop(): Promise<unknown> } | { close(): unknown }>(thing: T): T {
  cleanups.push(() => ('stop' in thing ? thing.stop() : thing.close()));
  return thing;
}

/** `tlspool ui --web` attached to `socket`, and a new tab on its URL with the daemon shown up. */
async function openUi(
  socket: string,
  opts: { viewport?: { width: number; height: number }; beforeLoad?: (page: Page, ui: WebUi) => Promise<void> } = {},
): Promise<{ ui: WebUi; page: Page; errors: string[] }> {
  const ui = later(await startWebUi(['--attach', '--socket', socket]));
  const page = await browser.context.newPage();
  cleanups.push(() => page.close());
  if (opts.viewport) await page.setViewportSize(opts.viewport);
  await opts.beforeLoad?.(page, ui);
  const errors = collectPageErrors(page);
  await page.goto(ui.url.href);
  await page.getByRole('status').filter({ hasText: /Daemon up/ }).waitFor(SHOWN);
  return { ui, page, errors };
}

async function pool(opts: Parameters<typeof startPool>[0] = {}): Promise<Pool> {
  return later(await startPool(opts));
}

async function revServer(): Promise<Peer> {
  return later(await startRevServer());
}

function startTls(client: PoolClient, port: number): Promise<StartTlsResult> {
  return startTlsTo(client, port);
}

/** The status bar's notice, or '' when none is shown. */
async function notice(page: Page): Promise<string> {
  const n = page.getByRole('status').locator('.notice');
  return (await n.count()) === 0 ? '' : n.innerText();
}

/** Wait until the status bar's notice passes `ok`; fails with the last one seen. */
async function noticeBecomes(page: Page, what: string, ok: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 30_000;
  let last = '';
  for (;;) {
    last = await notice(page);
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: the status bar still says "${last}"`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The page title once it equals `title`. */
async function titleBecomes(page: Page, title: string): Promise<void> {
  // Polled from here: the page's CSP refuses scripts made from strings.
  const deadline = Date.now() + 30_000;
  let last = '';
  while ((last = await page.title()) !== title) {
    if (Date.now() > deadline) throw new Error(`the title is still "${last}", not "${title}"`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** This test process's command line as the daemon reads it (it is the requester of its own STARTTLS). */
function ownCommand(max: number): string {
  return shortCommand(fs.readFileSync('/proc/self/cmdline', 'utf8').replace(/\0$/, '').split('\0'), max);
}

/** A plaintext service on 127.0.0.1 that answers each connection with "hello from the backend\n". */
async function backend(): Promise<{ port: number; close(): void }> {
  const srv = net.createServer((c) => c.end('hello from the backend\n'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

/** `tlspool tunnel --server` in front of `to`, showing server.example.test, asking no client certificate. */
async function serverTunnel(socket: string, to: number): Promise<{ proc: Peer; port: number }> {
  const args = [CLI, 'tunnel', '--server', '--listen', '127.0.0.1:0', '--connect', `127.0.0.1:${to}`, '--local-id', SERVER_NAME, '--ignore-remote-id', '--socket', socket];
  const proc = later(startPeer('tlspool tunnel', process.execPath, args));
  const out = await proc.waitFor(/listening on 127\.0\.0\.1:\d+\n/);
  return { proc, port: Number(/listening on 127\.0\.0\.1:(\d+)\n/.exec(out)![1]) };
}

/** A TLS client (curl, say) to the tunnel: connected, its ClientHello sent; `local` is its address as the pool sees it. */
async function tlsClient(port: number): Promise<{ sock: tls.TLSSocket; local: string; secure: Promise<string> }> {
  const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: SERVER_NAME });
  cleanups.push(() => sock.destroy());
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const secure = new Promise<string>((resolve, reject) => {
    let data = '';
    sock.on('data', (d: Buffer) => (data += d.toString()));
    sock.once('end', () => resolve(data));
    sock.once('close', () => resolve(data));
    sock.once('error', reject);
  });
  secure.catch(() => {});
  return { sock, local: `127.0.0.1:${sock.localPort}`, secure };
}

/**
 * Page script (run before the page's own): records the titles the page
 * shows with the Notification API (which then shows them as it would), and
 * makes document.hidden what the test says, as a hidden tab has it.
 */
const WATCH_NOTIFICATIONS = `
  window.e2eNotes = [];
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.e2eHidden === true });
  const Real = window.Notification;
  const Watched = function (title, options) { window.e2eNotes.push(title); return new Real(title, options); };
  Object.defineProperty(Watched, 'permission', { get: () => Real.permission });
  Watched.requestPermission = Real.requestPermission.bind(Real);
  window.Notification = Watched;
`;

/** The page's view of the world, for page.evaluate (this compilation has no DOM types). */
type PageGlobals = {
  e2eHidden: boolean;
  e2eNotes: string[];
  document: { dispatchEvent(e: unknown): void };
  Event: new (type: string) => unknown;
};

/** Make the page hidden (or visible again), as switching tabs does. */
async function setHidden(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((h) => {
    const g = globalThis as unknown as PageGlobals;
    g.e2eHidden = h;
    g.document.dispatchEvent(new g.Event('visibilitychange'));
  }, hidden);
}

/** The titles of the notifications the page showed. */
async function notifications(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as unknown as PageGlobals).e2eNotes.slice());
}

async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('tab', { name }).click();
}

/** Click "Allow" in the "Approve identity" dialog, first choosing what to remember. */
async function approve(page: Page, remember: 'Once' | 'Until restart' | 'Forever' = 'Once'): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Approve identity' });
  await dialog.waitFor(SHOWN);
  await dialog.getByLabel('Remember').selectOption({ label: remember });
  await dialog.getByRole('button', { name: 'Allow' }).click();
  await dialog.waitFor(GONE);
}

describe('a UI that stays true', () => {
  test('identities, trust anchors and rules changed with the CLI appear in the open page without a reload, and after one', GUARD, async () => {
    const pki = getPki();
    const p = await pool();
    const { page, errors } = await openUi(p.daemon.socket);
    await page.evaluate(() => Object.assign(globalThis, { e2eMarker: 'same page' }));
    // An empty log says what to do next.
    await page.getByRole('grid', { name: 'Connections' }).getByText(/tlspool tunnel --server/).waitFor(SHOWN);
    await screenshot(page, 'ui-true-5-empty-connections');
    await tab(page, 'Identities');
    await page.getByText('No identities.').waitFor(SHOWN);

    p.cli(['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
    const identities = page.getByRole('table', { name: 'Identities' });
    await identities.getByRole('row').filter({ hasText: CLIENT_EMAIL }).waitFor(SHOWN);
    p.cli(['trust', 'add', pki.ca.certPath]);
    const trust = page.getByRole('table', { name: 'Trusted certificate authorities' });
    await trust.getByRole('row').filter({ hasText: 'TLS Pool Test CA' }).waitFor(SHOWN);
    await screenshot(page, 'ui-true-1-identity-and-trust-from-cli');
    // Dates as 2025-12-03 17:42:05, whatever the browser's locale.
    const expires = await identities.getByRole('row').filter({ hasText: CLIENT_EMAIL }).locator('td.date').innerText();
    assert.match(expires, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.equal(await page.evaluate(() => (globalThis as { e2eMarker?: string }).e2eMarker), 'same page', 'the page was not reloaded');

    // A rule made in the UI ("Forever"), revoked with the CLI: it leaves the Rules page.
    const first = startTls(p.client, (await revServer()).port);
    await approve(page, 'Forever');
    assert.equal(await talk((await first).fd), 'cba\n');
    await tab(page, 'Rules');
    const rule = page.getByRole('table', { name: 'Rules' }).getByRole('row').filter({ hasText: SERVER_NAME });
    await rule.waitFor(SHOWN);
    const [listed] = JSON.parse(p.cli(['rules', 'list', '--json'])) as Array<{ id: number }>;
    assert.ok(listed, 'the CLI lists the rule');
    p.cli(['rules', 'revoke', String(listed.id)]);
    await rule.waitFor(GONE);
    await page.getByText('No remembered choices.').waitFor(SHOWN);
    await screenshot(page, 'ui-true-1-rule-revoked-by-cli');

    // Removed with the CLI: gone from the page; and a reload shows the database as it is.
    p.cli(['identity', 'remove', CLIENT_EMAIL]);
    await tab(page, 'Identities');
    await page.getByText('No identities.').waitFor(SHOWN);
    p.cli(['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
    await page.reload();
    await page.getByRole('status').filter({ hasText: /Daemon up/ }).waitFor(SHOWN);
    await tab(page, 'Identities');
    await identities.getByRole('row').filter({ hasText: CLIENT_EMAIL }).waitFor(SHOWN);
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('a failure, then a success: the red notice gives way to the outcome; failed rows say why in the list; the activity chart counts both; at 900 px the State column and toolbar stay usable beside the details', GUARD, async () => {
    const pki = getPki();
    const p = await pool({ trust: [pki.ca] });
    const { page, errors } = await openUi(p.daemon.socket, { viewport: { width: 900, height: 700 } });
    const server = later(await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, rev: true }));

    // Failure: the server's certificate does not name the identity asked for.
    const fd1 = await connectFd(server.port);
    await assert.rejects(p.client.starttls({ role: 'client', fd: fd1, remoteid: 'other.example.test' }), Failure);
    fd1.close();
    const failedText = await noticeBecomes(page, 'the failure is told', (t) => /failed/.test(t));
    assert.equal(await page.getByRole('status').locator('.notice.error').count(), 1, 'the failure is an error notice');
    const grid = page.getByRole('grid', { name: 'Connections' });
    const failedRow = grid.getByRole('row').filter({ hasText: 'failed' }).first();
    await failedRow.waitFor(SHOWN);
    // The reason is in the list itself, not only in the details.
    const reason = await failedRow.locator('.reason').innerText();
    assert.ok(reason.length > 0 && /other\.example\.test|name|match/i.test(reason), `the failed row says why: "${reason}"`);
    assert.match(await failedRow.innerText(), new RegExp(`127\\.0\\.0\\.1:${server.port}`), 'the peer address is listed');
    await screenshot(page, 'ui-true-2-failure-notice');

    // Success: the red notice is replaced by the outcome.
    const fd2 = await connectFd(server.port);
    const ok = await p.client.starttls({ role: 'client', fd: fd2, remoteid: SERVER_NAME });
    fd2.close();
    assert.equal(await talk(ok.fd), 'cba\n');
    ok.fd.close();
    const after = await noticeBecomes(page, 'the success replaces the failure', (t) => /established/.test(t));
    assert.doesNotMatch(after, /failed/, `"${failedText}" is gone`);
    assert.equal(await page.getByRole('status').locator('.notice.error').count(), 0, 'no red notice after the success');
    await screenshot(page, 'ui-true-2-outcome-replaces-failure');

    // The chart: one established and one failed in the last minutes, and bytes once the good one closed.
    const chart = page.getByRole('img', { name: /Last 5 minutes/ });
    await page.getByRole('img', { name: /1 established, 1 failed/ }).waitFor(SHOWN);
    assert.ok((await chart.locator('rect[data-outcome="established"]').count()) >= 1, 'a bar for established');
    assert.ok((await chart.locator('rect[data-outcome="failed"]').count()) >= 1, 'a bar for failed');
    const estRate = Number(await chart.locator('rect[data-outcome="established"]').first().getAttribute('data-rate'));
    assert.ok(estRate > 0, 'a non-zero rate');
    await chart.locator('path[data-series="bytes"]').waitFor({ state: 'attached', timeout: 30_000 });
    await screenshot(page, 'ui-true-4-activity-chart');

    // 900 px wide with the details open: the State column is in view beside the panel, the toolbar works.
    await failedRow.click();
    const details = page.getByRole('complementary', { name: 'Connection details' });
    await details.waitFor(SHOWN);
    // A failed handshake does not claim the peer sent no certificate.
    await details.getByText(/None: the handshake ended before a certificate was checked/).waitFor(SHOWN);
    assert.equal(await details.getByText('The peer sent no certificate').count(), 0);
    const panel = (await details.boundingBox())!;
    const stateHead = (await grid.getByRole('columnheader', { name: 'State' }).boundingBox())!;
    assert.ok(stateHead.x >= 0 && stateHead.x + stateHead.width <= panel.x, `the State column (${stateHead.x}+${stateHead.width}) is left of the details panel (${panel.x})`);
    const reasonHead = (await grid.getByRole('columnheader', { name: 'Reason' }).boundingBox())!;
    assert.ok(reasonHead.x < panel.x, 'the Reason column starts in view');
    for (const name of ['Load older', 'Export CSV', 'Export JSON']) {
      const b = (await page.getByRole('button', { name }).boundingBox())!;
      assert.ok(b.x >= 0 && b.x + b.width <= 900, `${name} is inside the 900 px window`);
    }
    await page.getByLabel('State').selectOption('failed');
    await page.getByText('1 of 2').waitFor(SHOWN);
    await page.getByRole('button', { name: 'Load older' }).click();
    await noticeBecomes(page, 'Load older answers', (t) => /No older connections/.test(t));
    await screenshot(page, 'ui-true-5-900px-with-details');
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('`tlspool tunnel --server`: its command line and the peer address in the approval, the list and `tlspool connections`; the title counts the question and a hidden page gets a notification; a client that hangs up withdraws its approval', GUARD, async () => {
    const pki = getPki();
    const p = await pool({ identities: [[SERVER_NAME, pki.server]], trust: [pki.ca] });
    const { ui, page, errors } = await openUi(p.daemon.socket, {
      beforeLoad: async (pg, u) => {
        await browser.context.grantPermissions(['notifications'], { origin: u.url.origin });
        // Watch what the page asks of the Notification API, and let the test say when the page is hidden.
        await pg.addInitScript({ content: WATCH_NOTIFICATIONS });
      },
    });
    assert.equal(await page.title(), 'TLS Pool');
    const service = await backend();
    cleanups.push(() => service.close());
    const tunnel = await serverTunnel(p.daemon.socket, service.port);
    const dialog = page.getByRole('dialog', { name: 'Approve identity' });

    // 1: allowed once; the connection carries the tunnel's command line and the client's address.
    const c1 = await tlsClient(tunnel.port);
    await dialog.waitFor(SHOWN);
    assert.match(await dialog.innerText(), /tlspool tunnel --server/, 'the dialog names the program by its command line');
    await titleBecomes(page, '(1) Approval needed — TLS Pool');
    await screenshot(page, 'ui-true-3-approval-command-line');
    await dialog.getByRole('button', { name: 'Allow' }).click();
    await dialog.waitFor(GONE);
    assert.equal(await c1.secure, 'hello from the backend\n');
    await titleBecomes(page, 'TLS Pool');
    const grid = page.getByRole('grid', { name: 'Connections' });
    const row1 = grid.getByRole('row').filter({ hasText: c1.local });
    await row1.waitFor(SHOWN);
    assert.match(await row1.innerText(), /tlspool tunnel --server/);
    assert.doesNotMatch(await row1.innerText(), /node \(\d+\)/, 'not just "node (pid)"');
    await screenshot(page, 'ui-true-3-list-command-and-peer');
    const cliLine = await waitFor('the CLI lists the connection', () => p.cli(['connections']).split('\n').find((l) => l.includes(c1.local)));
    assert.match(cliLine, /tlspool tunnel --server/, `the CLI line: ${cliLine}`);
    const [rec] = (JSON.parse(p.cli(['connections', '--json', '--limit', '1'])) as Array<{ peer?: string; requester: { command?: string[] } }>);
    assert.equal(rec!.peer, c1.local);
    assert.ok(rec!.requester.command?.includes('--server'), 'the record keeps the argv');

    // 2: the page is hidden: the question is also a notification.
    await setHidden(page, true);
    const c2 = await tlsClient(tunnel.port);
    await titleBecomes(page, '(1) Approval needed — TLS Pool');
    let titles: string[] = [];
    const deadline = Date.now() + 30_000;
    while ((titles = await notifications(page)).length === 0) {
      assert.ok(Date.now() < deadline, 'a notification is shown while the page is hidden');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(titles[0]!, /approve showing server\.example\.test/);
    await setHidden(page, false);
    await dialog.waitFor(SHOWN);

    // The client gives up while the question waits: the approval is withdrawn, the dialog goes, the row says why.
    c2.sock.destroy();
    await dialog.waitFor(GONE);
    await titleBecomes(page, 'TLS Pool');
    const row2 = grid.getByRole('row').filter({ hasText: c2.local });
    await row2.filter({ hasText: 'failed' }).waitFor(SHOWN);
    assert.match(await row2.locator('.reason').innerText(), /hung up/);
    await noticeBecomes(page, 'the withdrawal is told', (t) => /withdrawn|hung up|failed/.test(t));
    await screenshot(page, 'ui-true-6-withdrawn-after-hangup');
    assert.equal(ui.proc.exitCode, null);
    await tunnel.proc.stop();
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('PIN: the dialog names the requester by its command line; "attempt 2" gives way once the right PIN is in; a cancelled PIN says so in the list and details; an empty slot is "not initialised"', GUARD, async () => {
    const tp = await startTokenPool();
    cleanups.push(() => tp.stop());
    const { page, errors } = await openUi(tp.daemon.socket);
    const handshake = startTlsTo(tp.client(), (await revServer()).port, CLIENT_EMAIL);
    await approve(page);
    const dialog = page.getByRole('dialog', { name: 'Enter PIN' });
    await dialog.waitFor(SHOWN);
    assert.ok((await dialog.innerText()).includes(ownCommand(48)), `the PIN dialog names ${ownCommand(48)}`);
    const field = dialog.getByLabel('PIN', { exact: true });
    await field.fill('00000000');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    await dialog.getByRole('alert').filter({ hasText: /attempt 2/ }).waitFor(SHOWN);
    await noticeBecomes(page, 'attempt 2 is told', (t) => /attempt 2/.test(t));
    await screenshot(page, 'ui-true-2-attempt-2');
    await field.fill(PIN);
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    assert.equal(await talk((await handshake).fd), 'cba\n');
    const outcome = await noticeBecomes(page, 'the unlock replaces attempt 2', (t) => !/attempt 2|wrong/.test(t));
    assert.match(outcome, /PIN sent|established/);
    await screenshot(page, 'ui-true-2-after-unlock');

    // Tokens: the token, and SoftHSM's empty slot as "not initialised" (not "locked").
    await tab(page, 'Tokens');
    const tokens = page.getByRole('table', { name: 'Tokens' });
    await tokens.getByRole('row').filter({ hasText: 'not initialised' }).first().waitFor(SHOWN);
    assert.match(await tokens.getByRole('row').filter({ hasText: TOKEN }).first().innerText(), /unlocked|locked/);
    await screenshot(page, 'ui-true-5-tokens-not-initialised');
    await tab(page, 'Connections');

    // Locked again with the CLI, asked again, cancelled.
    const locked = spawnSync(process.execPath, [CLI, 'lock', '--socket', tp.daemon.socket], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(locked.status, 0, locked.stderr);
    const second = startTlsTo(tp.client(), (await revServer()).port, CLIENT_EMAIL);
    await approve(page);
    await dialog.waitFor(SHOWN);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await assert.rejects(second, (e: unknown) => e instanceof Failure && e.code === 'ECANCELED');
    const row = page.getByRole('grid', { name: 'Connections' }).getByRole('row').filter({ hasText: 'failed' }).first();
    await row.waitFor(SHOWN);
    assert.match(await row.locator('.reason').innerText(), /cancelled/i, 'the list says it was cancelled');
    await row.click();
    const details = page.getByRole('complementary', { name: 'Connection details' });
    await details.getByText(/None: the handshake ended before a certificate was checked \(ECANCELED/).waitFor(SHOWN);
    assert.equal(await details.getByText('The peer sent no certificate').count(), 0);
    await screenshot(page, 'ui-true-3-pin-cancelled');
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('Settings say how long changes last, and a bad value is explained next to its field in plain words', GUARD, async () => {
    const p = await pool();
    const { page } = await openUi(p.daemon.socket);
    await tab(page, 'Settings');
    await page.getByText(/until it restarts or reloads its configuration \(SIGHUP\)/).waitFor(SHOWN);
    const field = page.getByLabel('PIN entry timeout');
    await field.fill('abc');
    const help = page.locator(`#${await field.getAttribute('aria-describedby')}`);
    assert.match(await help.innerText(), /^Use digits only: a whole number of seconds, from 1 to 4294 seconds/);
    await field.fill('99999');
    assert.match(await help.innerText(), /^Too long: at most 4294 seconds \(1 h 11 m\)/);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByText(/pinEntryTimeout/).count(), 0, 'no internal key names');
    await screenshot(page, 'ui-true-5-settings-validation');
    await field.fill('30');
    assert.equal(await field.getAttribute('aria-invalid'), 'false');
    await page.getByRole('button', { name: 'Save' }).click();
    await noticeBecomes(page, 'saved', (t) => /Settings saved/.test(t));
  });
});
