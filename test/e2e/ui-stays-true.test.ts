/**
 * "What a new user meets: a UI that stays true." The real renderer in
 * Debian's Chromium, served by `tlspool ui --web` attached to a real daemon;
 * changes made with the real CLI and real TLS peers (openssl s_server), and
 * what the page shows checked as a person sees it. Screenshots go to
 * test-results/screenshots/ (ui-true-*).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { PoolClient, type StartTlsResult } from '../../src/client/pool-client';
import { collectPageErrors, launchBrowser, screenshot, type BrowserSession } from '../helpers/browser';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../helpers/pki';
import { startPool, type Pool } from '../helpers/starttls';
import { startRevServer, startTlsTo, talk } from '../helpers/token-pool';
import type { Peer } from '../helpers/peers';
import { startWebUi, type WebUi } from '../helpers/web-ui';

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
async function openUi(socket: string, viewport?: { width: number; height: number }): Promise<{ ui: WebUi; page: Page; errors: string[] }> {
  const ui = later(await startWebUi(['--attach', '--socket', socket]));
  const page = await browser.context.newPage();
  cleanups.push(() => page.close());
  if (viewport) await page.setViewportSize(viewport);
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
    await tab(page, 'Identities');
    await page.getByText('No identities.').waitFor(SHOWN);

    p.cli(['identity', 'add', CLIENT_EMAIL, '--cert', pki.client.chainPath, '--key', pki.client.keyPath]);
    const identities = page.getByRole('table', { name: 'Identities' });
    await identities.getByRole('row').filter({ hasText: CLIENT_EMAIL }).waitFor(SHOWN);
    p.cli(['trust', 'add', pki.ca.certPath]);
    const trust = page.getByRole('table', { name: 'Trusted certificate authorities' });
    await trust.getByRole('row').filter({ hasText: 'TLS Pool Test CA' }).waitFor(SHOWN);
    await screenshot(page, 'ui-true-1-identity-and-trust-from-cli');
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
});
