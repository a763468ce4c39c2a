/**
 * starttls_client.c, a STARTTLS client written from nothing but the wire
 * table's byte offsets, through the live daemon to `openssl s_server -rev`
 * (which asks for a client certificate, so the pool proposes a local
 * identity that the C client accepts by sending the proposal back).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Errno } from '../../src/protocol/errno';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';
import { startDaemon, type TestDaemon } from '../../harness/daemon';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER_NAME } from '../../harness/pki';
import { fdSummary, provision } from '../../harness/pool-tls';
import { waitForValue } from '../../harness/wait';

describe('an independent C client doing STARTTLS through the pool', () => {
  let dir: BuildDir | undefined;
  let daemon: TestDaemon | undefined;
  let server: Peer | undefined;
  let client: string;
  let fdsAtStart: number;

  before(async () => {
    const pki = getPki();
    dir = buildDir();
    // Like wire_probe.c: built without the project's headers.
    client = compileC(path.join(C_SOURCE_DIR, 'starttls_client.c'), dir, { projectHeaders: false });
    daemon = await startDaemon();
    await provision(daemon, [{ id: CLIENT_EMAIL, certPath: pki.client.certPath, keyPath: pki.client.keyPath }], [pki.ca.certPath]);
    server = await startOpensslServer({
      certPath: pki.server.certPath,
      keyPath: pki.server.keyPath,
      caPath: pki.ca.certPath,
      clientCert: 'request',
      rev: true,
    });
    fdsAtStart = daemon.fdCount();
  });

  after(async () => {
    await server?.stop();
    if (daemon) {
      await daemon.stop();
      fs.rmSync(daemon.dir, { recursive: true, force: true });
    }
    dir?.remove();
  });

  test('to openssl s_server -rev: the LOCALID proposal is accepted, and the line comes back reversed', async () => {
    const r = await runProgram(client, [daemon!.socket, String(server!.port), SERVER_NAME, 'hello, pool']);
    const what = describeRun('starttls_client', r) + `\n--- s_server ---\n${server!.output()}`;
    assert.equal(r.code, 0, what);
    assert.match(r.stdout, new RegExp(`^localid proposal: ${CLIENT_EMAIL} \\(accepted\\)$`, 'm'), what);
    assert.match(r.stdout, new RegExp(`^established: localid "${CLIENT_EMAIL}" remoteid "${SERVER_NAME}"$`, 'm'), what);
    assert.match(r.stdout, /^reply: loop ,olleh$/m, what);
  });

  test('with a remoteid the server certificate does not name: exit 1 and ERROR EACCES', async () => {
    const r = await runProgram(client, [daemon!.socket, String(server!.port), 'wrong.example.test']);
    const what = describeRun('starttls_client', r);
    assert.equal(r.code, 1, what);
    assert.match(r.stdout, new RegExp(`^error: errno ${Errno.EACCES}: .*wrong\\.example\\.test`, 'm'), what);
    assert.doesNotMatch(r.stdout, /^reply:/m, what);
  });

  test('the daemon is back to the fds it had before', async () => {
    try {
      await waitForValue('daemon fd count', () => daemon!.fdCount(), fdsAtStart);
    } catch (e) {
      throw new Error(`${(e as Error).message}; open: ${fdSummary(daemon!.pid)}`);
    }
  });
});
