/**
 * `tlspool pinentry` where a new user first runs it: beside `tlspool ui
 * --web`, which already holds PIN entry, and from a script or service with
 * no terminal. Both fail at once, saying what to do.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CLI, startDaemon, type TestDaemon } from '../../harness/daemon';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';

const GUARD = { timeout: 60_000 };
let daemon: TestDaemon | undefined;
let ui: WebUi | undefined;
afterEach(async () => {
  await ui?.stop();
  ui = undefined;
  await daemon?.stop();
  daemon = undefined;
});

function pinentry(args: string[]) {
  // The timeout only guards against a hang (a pinentry that registers and waits for prompts).
  return spawnSync(process.execPath, [CLI, 'pinentry', ...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: '', timeout: 30_000 });
}

const registrations = () => (daemon!.logs().match(/PIN entry program registered/g) ?? []).length;

describe('tlspool pinentry, first contact', () => {
  test('beside tlspool ui --web: EBUSY names the UI, its pid, and what to do', GUARD, async () => {
    daemon = await startDaemon();
    ui = await startWebUi(['--attach', '--socket', daemon.socket]);
    await waitFor('the UI holds PIN entry', () => registrations() === 1);
    const r = pinentry(['--socket', daemon.socket, '--pin-fd', '0']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^tlspool pinentry: PIN entry is held by the TLS Pool UI, \`tlspool ui --web\`, pid ${ui.proc.pid}: answer PINs there, or stop it$`, 'm'));
    assert.equal(registrations(), 1, 'the UI still holds it');
  });

  test('with no terminal and no --pin-fd it fails at the start and suggests --pin-fd', GUARD, async () => {
    daemon = await startDaemon();
    const r = pinentry(['--socket', daemon.socket]);
    assert.notEqual(r.status, 0);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^tlspool pinentry: no terminal to ask for PINs on \(stdin is not a terminal\); give them on a descriptor with --pin-fd N/m);
    assert.equal(registrations(), 0, 'it did not offer PIN entry');
    // Without a daemon too: the terminal is checked first.
    const none = pinentry(['--socket', path.join(daemon.dir, 'none.sock')]);
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /--pin-fd N/);
  });
});
