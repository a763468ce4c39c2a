/**
 * The desktop UI as a person meets it: the real renderer in Debian's
 * Chromium (Playwright), served by `tlspool ui --web` attached to a real
 * daemon, keys on a SoftHSM2 token made for each test, and `openssl
 * s_server` asking for a client certificate. Each test saves screenshots in
 * test-results/screenshots/.
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { PoolClient, type StartTlsResult } from '../../src/client/pool-client';
import { Failure } from '../../src/model/failure';
import { collectPageErrors, launchBrowser, screenshot, type BrowserSession } from '../../harness/browser';
import { connectControl } from '../../harness/control';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import type { Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { startExamplePool, startPool, type Pool } from '../../harness/starttls';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram } from '../../harness/cbuild';
import { waitFor } from '../../harness/wait';
import { Tlsp } from '../../src/protocol/v2-errors';
import { V2LidFlag } from '../../src/protocol/v2-constants';
import { PIN, startRevServer, startTlsTo, startTokenPool, talk, TOKEN } from '../../harness/token-pool';
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
async function openUi(socket: string): Promise<{ ui: WebUi; page: Page; errors: string[] }> {
  const ui = later(await startWebUi(['--attach', '--socket', socket]));
  const page = await browser.context.newPage();
  cleanups.push(() => page.close());
  const errors = collectPageErrors(page);
  await page.goto(ui.url.href);
  await statusSays(page, /Daemon up/);
  return { ui, page, errors };
}

async function statusSays(page: Page, text: RegExp): Promise<void> {
  await page.getByRole('status').filter({ hasText: text }).waitFor(SHOWN);
}

async function revServer(): Promise<Peer> {
  return later(await startRevServer());
}

/** STARTTLS_CLIENT through the pool (or its next client connection) to the s_server on `port`. */
function startTls(pool: { client(): PoolClient } | PoolClient, port: number, localid?: string): Promise<StartTlsResult> {
  return startTlsTo(pool instanceof PoolClient ? pool : pool.client(), port, localid);
}

/** Click "Allow" in the "Approve identity" dialog, first choosing what to remember. */
async function approve(page: Page, remember: 'Once' | 'Until restart' | 'Forever' = 'Once', shot?: string): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Approve identity' });
  await dialog.waitFor(SHOWN);
  await dialog.getByLabel('Remember').selectOption({ label: remember });
  if (shot) await screenshot(page, shot);
  await dialog.getByRole('button', { name: 'Allow' }).click();
  await dialog.waitFor(GONE);
}

/**
 * A daemon with alice's key on a locked token, the UI open on it, and
 * alice's STARTTLS to an s_server under way: its disclosure approved, so the
 * "Enter PIN" dialog is up.
 */
async function pinAsked() {
  const pool = await startTokenPool();
  cleanups.push(() => pool.stop());
  const { ui, page, errors } = await openUi(pool.daemon.socket);
  const handshake = startTls(pool, (await revServer()).port, CLIENT_EMAIL);
  await approve(page);
  const dialog = page.getByRole('dialog', { name: 'Enter PIN' });
  await dialog.waitFor(SHOWN);
  return { pool, ui, page, errors, handshake, dialog };
}

describe('desktop UI in Chromium, through tlspool ui --web', () => {
  test('a key on a locked token: "Enter PIN" shows the token, the PIN unlocks it, the handshake completes and shows in "Connections" with its cipher', GUARD, async () => {
    const { pool, page, handshake, dialog } = await pinAsked();
    const text = await dialog.innerText();
    assert.match(text, new RegExp(`\\b${TOKEN}\\b`), 'the token label');
    assert.match(text, /SoftHSM project/);
    assert.match(text, /SoftHSM v2/);
    assert.match(text, /PIN for token "work"/);
    assert.equal(await dialog.getByRole('alert').count(), 0, 'no wrong-PIN warning on the first attempt');
    const field = dialog.getByLabel('PIN', { exact: true });
    assert.equal(await field.getAttribute('type'), 'password', 'the PIN is masked');
    await field.fill(PIN);
    await screenshot(page, 'pin-1-enter-pin');
    await dialog.getByRole('button', { name: 'Unlock' }).click();

    const r = await handshake;
    assert.equal(r.localid, CLIENT_EMAIL);
    assert.equal(await talk(r.fd), 'cba\n');
    await dialog.waitFor(GONE);
    const row = page.getByRole('grid', { name: 'Connections' }).getByRole('row').filter({ hasText: CLIENT_EMAIL });
    await row.filter({ hasText: /TLS_AES_(128|256)_GCM_SHA(256|384)|TLS_CHACHA20/ }).first().waitFor(SHOWN);
    await screenshot(page, 'pin-2-connection-listed');
    assert.doesNotMatch(pool.daemon.logs(), new RegExp(PIN), 'the daemon never logs the PIN');
  });

  test('a wrong PIN brings "Enter PIN" back with attempt 2 and a warning; the right one then completes', GUARD, async () => {
    const { page, errors, handshake, dialog } = await pinAsked();
    const field = dialog.getByLabel('PIN', { exact: true });
    await field.fill('00000000');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    const warning = dialog.getByRole('alert').filter({ hasText: /attempt 2/ });
    await warning.waitFor(SHOWN);
    assert.match(await warning.innerText(), /wrong/i);
    assert.equal(await field.inputValue(), '', 'the field is cleared once a PIN is sent');
    await screenshot(page, 'pin-wrong-attempt-2');

    // Enter submits.
    await field.fill(PIN);
    await page.keyboard.press('Enter');
    assert.equal(await talk((await handshake).fd), 'cba\n');
    await dialog.waitFor(GONE);
    // The log's details show the chain the server presented.
    await page.getByRole('grid', { name: 'Connections' }).getByRole('row').filter({ hasText: SERVER_NAME }).first().click();
    await page.getByRole('complementary', { name: 'Connection details' }).getByText('Leaf').waitFor(SHOWN);
    await screenshot(page, 'pin-connection-details');
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('a PIN of 128 UTF-8 bytes (64 × "é") is refused next to the field and not sent; the right PIN then unlocks', GUARD, async () => {
    const { ui, page, errors, handshake, dialog } = await pinAsked();
    const field = dialog.getByLabel('PIN', { exact: true });
    await field.fill('\u00e9'.repeat(64));
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    const problem = dialog.getByRole('alert').filter({ hasText: /a PIN has at most 127 bytes \(this one has 128\)/i });
    await problem.waitFor(SHOWN);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    const described = await field.getAttribute('aria-describedby');
    assert.ok(described && (await problem.getAttribute('id')) === described, 'the message belongs to the field');
    await screenshot(page, 'pin-too-long');
    assert.equal(ui.proc.exitCode, null, 'the UI process is still up');
    await statusSays(page, /Daemon up/);

    await field.fill(PIN);
    assert.equal(await problem.count(), 0, 'the message goes once the PIN is changed');
    await dialog.getByRole('button', { name: 'Unlock' }).click();
    assert.equal(await talk((await handshake).fd), 'cba\n');
    await dialog.waitFor(GONE);
    assert.deepEqual(errors, [], 'no console or CSP errors');
  });

  test('"Cancel" fails the application\'s STARTTLS with ECANCELED, and the UI says why', GUARD, async () => {
    const { page, handshake, dialog } = await pinAsked();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await assert.rejects(handshake, (e: unknown) => e instanceof Failure && e.code === 'ECANCELED');
    await dialog.waitFor(GONE);
    const row = page.getByRole('grid', { name: 'Connections' }).getByRole('row').filter({ hasText: 'failed' }).first();
    await row.waitFor(SHOWN);
    await row.click();
    const details = page.getByRole('complementary', { name: 'Connection details' });
    await details.filter({ hasText: /ECANCELED/ }).waitFor(SHOWN);
    assert.match(await details.innerText(), /cancelled/i);
    await screenshot(page, 'pin-cancelled');
  });

  describe('approval of a local identity', () => {
    let pool: Pool;
    before(async () => {
      const pki = getPki();
      pool = await startPool({ identities: [[CLIENT_EMAIL, pki.client]], trust: [pki.ca] });
    });
    after(async () => {
      await pool.stop();
    });

    test('"Allow" with "Forever" completes the handshake; the next connection is not asked; revoking the rule brings the prompt back', GUARD, async () => {
      const { page } = await openUi(pool.daemon.socket);
      const srv = await revServer();
      const first = startTls(pool.client, srv.port);
      const dialog = page.getByRole('dialog', { name: 'Approve identity' });
      await dialog.waitFor(SHOWN);
      const text = await dialog.innerText();
      assert.match(text, new RegExp(SERVER_NAME.replace(/\./g, '\\.')), 'the remote peer');
      assert.equal(await dialog.getByLabel('Local identity').inputValue(), CLIENT_EMAIL);
      assert.equal(await dialog.getByLabel('Remote peer').inputValue(), SERVER_NAME);
      await approve(page, 'Forever', 'approval-1-allow-forever');
      const r1 = await first;
      assert.equal(r1.localid, CLIENT_EMAIL);
      assert.equal(await talk(r1.fd), 'cba\n');

      // Remembered: the second connection goes through without a question.
      const r2 = await startTls(pool.client, (await revServer()).port);
      assert.equal(r2.localid, CLIENT_EMAIL);
      assert.equal(await talk(r2.fd), 'cba\n');
      assert.equal(await dialog.count(), 0, 'no approval dialog for the second connection');

      await page.getByRole('tab', { name: 'Rules' }).click();
      const rule = page.getByRole('table', { name: 'Rules' }).getByRole('row').filter({ hasText: SERVER_NAME });
      await rule.waitFor(SHOWN);
      assert.match(await rule.innerText(), /allow[\s\S]*forever/);
      await screenshot(page, 'approval-2-rule-listed');
      await rule.getByRole('button', { name: 'Revoke' }).click();
      await rule.getByRole('button', { name: 'Confirm revoke' }).click();
      await rule.waitFor(GONE);

      const third = startTls(pool.client, (await revServer()).port);
      await approve(page, 'Once', 'approval-3-asked-again');
      assert.equal((await third).localid, CLIENT_EMAIL);
    });

    test('an approval nobody answers is denied at its timeout; one whose application disconnects is withdrawn', GUARD, async () => {
      const { page } = await openUi(pool.daemon.socket);
      const control = later(await connectControl(pool.daemon));
      const settings = await control.call('settings.get', {});
      cleanups.push(() => control.call('settings.set', { approvalTimeout: settings.approvalTimeout }));
      await control.call('settings.set', { approvalTimeout: 2 });

      const dialog = page.getByRole('dialog', { name: 'Approve identity' });
      const unanswered = startTls(pool.client, (await revServer()).port);
      await dialog.waitFor(SHOWN);
      await screenshot(page, 'approval-timeout-asked');
      await dialog.waitFor(GONE);
      // Denied: the pool shows no certificate, and the server that requires one refuses.
      const outcome = await unanswered.then(
        (r) => r.localid,
        (e: unknown) => (e as Error).message,
      );
      assert.notEqual(outcome, CLIENT_EMAIL, 'the identity was not shown');

      await control.call('settings.set', { approvalTimeout: 60 });
      const app = PoolClient.connect(pool.daemon.socket);
      void startTls(app, (await revServer()).port);
      await dialog.waitFor(SHOWN);
      app.close();
      await dialog.waitFor(GONE);
      await screenshot(page, 'approval-withdrawn');
    });
  });

  test('the UI answers the question a V2 LIDENTRY program would: it holds the service, its choice is shown and remembered, and the program that follows is offered that rule', GUARD, async () => {
    const dir = buildDir();
    cleanups.push(() => dir.remove());
    const probe = compileC(path.join(C_SOURCE_DIR, 'lidentry_probe.c'), dir, { projectHeaders: false });
    const pool = later(await startExamplePool());
    const control = later(await connectControl(pool.daemon));
    cleanups.push(async () => {
      for (const r of await control.call('rules.list', {})) await control.call('rules.revoke', { id: r.id });
    });
    const { ui, page } = await openUi(pool.daemon.socket);

    // One service: while the UI is its approval agent, a LIDENTRY program is told it is taken.
    const refused = await runProgram(probe, [pool.daemon.socket, '0', '-', 'once', '1', '500']);
    assert.equal(refused.code, 1, describeRun('lidentry_probe', refused));
    assert.match(refused.stdout, new RegExp(`^error: code ${Tlsp.E_TLSPOOL_LIDENTRY_NOT_VACANT}: the approval agent is `, 'm'));

    // The question a LIDENTRY program gets (remote peer, proposed identity, the others), in the dialog.
    const handshake = startTls(pool.client, (await revServer()).port);
    const dialog = page.getByRole('dialog', { name: 'Approve identity' });
    await dialog.waitFor(SHOWN);
    assert.equal(await dialog.getByLabel('Remote peer').inputValue(), SERVER_NAME);
    const local = dialog.getByLabel('Local identity');
    assert.equal(await local.inputValue(), SERVER_NAME, 'the default identity is proposed');
    assert.deepEqual(await local.locator('option').allInnerTexts(), [SERVER_NAME, CLIENT_EMAIL]);
    await local.selectOption(CLIENT_EMAIL);
    await approve(page, 'Forever', 'lidentry-ui-choice');
    const r = await handshake;
    assert.equal(r.localid, CLIENT_EMAIL, 'the identity chosen in the UI was shown');
    assert.equal(await talk(r.fd), 'cba\n');

    // The UI leaves; a LIDENTRY program takes the service and is offered the UI's rule as a database entry.
    await ui.stop();
    await waitFor('the approval agent left', () => /approval agent left/.test(pool.daemon.logs()));
    const registrations = () => (pool.daemon.logs().match(/local-identity program registered/g) ?? []).length;
    const run = runProgram(probe, [pool.daemon.socket, `0x${V2LidFlag.WANT_DBENTRY.toString(16)}`, CLIENT_EMAIL, 'once', '1', '1000']);
    await waitFor('the LIDENTRY program registered', () => registrations() > 0);
    const again = await startTls(pool.client, (await revServer()).port);
    assert.equal(again.localid, CLIENT_EMAIL);
    again.fd.close();
    const out = await run;
    assert.equal(out.code, 0, describeRun('lidentry_probe', out));
    assert.match(out.stdout, new RegExp(`^dbentry: maxlevels=0 flags=0x1100 remoteid=${SERVER_NAME.replace(/\./g, '\\.')} localid=${CLIENT_EMAIL}$`, 'm'));
  });

  test('a stopped daemon shows "Daemon down" in the status bar; a restarted one is reconnected without reloading the page', GUARD, async () => {
    let daemon: TestDaemon = await startDaemon();
    cleanups.push(() => daemon.stop());
    const { page } = await openUi(daemon.socket);
    // Runs in the page; globalThis is its window.
    await page.evaluate(() => Object.assign(globalThis, { e2eMarker: 'same page' }));

    await daemon.stop();
    await statusSays(page, /Daemon down/);
    await screenshot(page, 'daemon-down');

    daemon = await startDaemon({ dir: daemon.dir });
    await statusSays(page, /Daemon up/);
    assert.equal(await page.evaluate(() => (globalThis as { e2eMarker?: string }).e2eMarker), 'same page', 'the page was not reloaded');
    await screenshot(page, 'daemon-back');
  });

  test('the page without its token says how to get in and does not try the WebSocket', GUARD, async () => {
    const daemon = later(await startDaemon());
    const ui = later(await startWebUi(['--attach', '--socket', daemon.socket]));
    const page = await browser.context.newPage();
    cleanups.push(() => page.close());
    const bare = new URL(ui.url.href);
    bare.search = '';
    // A new tab has no token in its sessionStorage; the page itself holds nothing without the agent.
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await page.goto(bare.href);
    await page.getByRole('heading', { name: 'Not connected' }).waitFor(SHOWN);
    await page.getByRole('main').getByText('Open the address that `tlspool ui --web` printed').waitFor(SHOWN);
    assert.deepEqual(sockets, [], 'without a token the page does not even try the WebSocket');
    await screenshot(page, 'no-token-refused');
  });
});
