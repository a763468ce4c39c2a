/**
 * A server tunnel whose --local-id no disclosure rule covers, with an
 * approval agent registered (`tlspool ui --web`, as `npm start` runs it):
 * the handshake waits for a person. The tunnel says that it waits, for
 * what, and where to answer, and then how it was decided, instead of
 * hanging silently until disclosure.approval_timeout.
 */
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { CLI, startDaemon, tempDir, type TestDaemon } from '../../harness/daemon';
import { startPeer, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { waitFor } from '../../harness/wait';
import { startWebUi, type WebUi } from '../../harness/web-ui';

const GUARD = { timeout: 60_000 };
let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('tlspool tunnel --server waiting for approval', () => {
  test('says it waits to show its --local-id, to whom, where to answer, and how it was decided', GUARD, async () => {
    const pki = getPki();
    const dir = tempDir('tlspool-tunnel-');
    const state = path.join(dir, 'state');
    const add = spawnSync(process.execPath, [CLI, 'identity', 'add', SERVER_NAME, '--cert', pki.server.chainPath, '--key', pki.server.keyPath, '--state-dir', state], {
      encoding: 'utf8',
    });
    assert.equal(add.status, 0, add.stderr);
    // Short, so that nobody answering ends the test soon; the test waits for what the tunnel says, not for time.
    const daemon: TestDaemon = await startDaemon({ dir, config: 'disclosure:\n  approval_timeout: 2\n' });
    cleanups.push(() => daemon.stop());
    const ui: WebUi = await startWebUi(['--attach', '--socket', daemon.socket]);
    cleanups.push(() => ui.stop());
    await waitFor('the UI registered as approval agent', () => /approval agent registered/.test(daemon.logs()));

    const backend = net.createServer((s) => s.end());
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => backend.close(r)));
    const tunnel: Peer = startPeer('tlspool tunnel', process.execPath, [
      CLI, 'tunnel', '--server', '--socket', daemon.socket, '--listen', '127.0.0.1:0',
      '--connect', `127.0.0.1:${(backend.address() as net.AddressInfo).port}`, '--local-id', SERVER_NAME, '--ignore-remote-id',
    ]);
    cleanups.push(() => tunnel.stop());
    const port = Number(/listening on 127\.0\.0\.1:(\d+)\n/.exec(await tunnel.waitFor(/listening on 127\.0\.0\.1:\d+\n/))![1]);

    const client = tls.connect({ host: '127.0.0.1', port, servername: SERVER_NAME, rejectUnauthorized: false });
    const ended = new Promise<string>((resolve) => {
      client.once('secureConnect', () => resolve('connected'));
      client.once('error', (e) => resolve(`error: ${e.message}`));
    });
    cleanups.push(() => client.destroy());

    const waiting = await tunnel.waitFor(/tlspool tunnel: waiting for approval[^\n]*\n/);
    const line = /tlspool tunnel: waiting for approval[^\n]*/.exec(waiting)![0];
    assert.equal(
      line,
      `tlspool tunnel: waiting for approval to show ${SERVER_NAME} to 127.0.0.1:${client.localPort}: answer in the TLS Pool UI, \`tlspool ui --web\`, pid ${ui.proc.pid} within 2 s, or it is denied (remembered answers: tlspool rules list)`,
    );
    await tunnel.waitFor(new RegExp(`tlspool tunnel: denied as nobody answered in time: showing ${SERVER_NAME.replace(/\./g, '\\.')} to 127\\.0\\.0\\.1:\\d+\\n`));
    assert.match(await ended, /^error: /, 'the handshake was refused');
    await tunnel.waitFor(/#1 failed: /);
  });
});
