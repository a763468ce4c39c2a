/**
 * v2_starttls.c, a V2 STARTTLS client written from nothing but wire_v2.h,
 * through the live daemon to openssl peers: the client role to
 * `openssl s_server -rev` (whose -keymatexport is the independent check of
 * PRNG), LOCALID_CHECK with the plaintext fd in the answer, the server role
 * for `openssl s_client`, every refusal of STARTTLS, PRNG, INFO and the
 * control commands, and REATTACH by another uid.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { V2Client } from '../../src/client/v2-client';
import { Tlsp } from '../../src/protocol/v2-errors';
import { buildDir, C_SOURCE_DIR, compileC, describeRun, runProgram, type BuildDir } from '../../harness/cbuild';
import { freePort, startOpensslClient, startOpensslServer, startPeer, type Peer } from '../../harness/peers';
import { getPki, SERVER_NAME } from '../../harness/pki';
import { fdSummary } from '../../harness/pool-tls';
import { startExamplePool, tcpConnect, type Pool } from '../../harness/starttls';
import { waitForValue } from '../../harness/wait';

const LABEL = 'EXPERIMENTAL-tlspool-test';

/** Let `uid` reach `file`: search permission on every directory from it up to the root. */
function openPathToOthers(file: string): void {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) fs.chmodSync(dir, mode | 0o001);
  }
}

describe('an independent C client speaking V2 STARTTLS', () => {
  let dir: BuildDir | undefined;
  let pool: Pool | undefined;
  let server: Peer | undefined;
  /** s_server without -rev: it shows its exporter's output, and answers what the test writes to it. */
  let exporting: Peer | undefined;
  let exe: string;
  let fdsAtStart: number;

  before(async () => {
    const pki = getPki();
    dir = buildDir();
    exe = compileC(path.join(C_SOURCE_DIR, 'v2_starttls.c'), dir, { projectHeaders: false });
    pool = await startExamplePool();
    server = await startOpensslServer({
      certPath: pki.server.certPath,
      keyPath: pki.server.keyPath,
      caPath: pki.ca.certPath,
      clientCert: 'request',
      rev: true,
    });
    exporting = await startOpensslServer({
      certPath: pki.server.certPath,
      keyPath: pki.server.keyPath,
      extraArgs: ['-keymatexport', LABEL, '-keymatexportlen', '32'],
    });
    fdsAtStart = pool.daemon.fdCount();
  });

  after(async () => {
    await server?.stop();
    await exporting?.stop();
    await pool?.stop();
    dir?.remove();
  });

  async function run(args: string[], scenario: string): Promise<string> {
    const r = await runProgram(exe, [pool!.daemon.socket, scenario, ...args]);
    const what = describeRun(`v2_starttls ${scenario}`, r) + `\n--- s_server ---\n${server!.output().slice(-3000)}`;
    assert.equal(r.code, 0, what);
    assert.doesNotMatch(r.stdout, /^FAIL/m, what);
    assert.match(r.stdout, new RegExp(`^${scenario}: 0 failed checks$`, 'm'), what);
    return r.stdout;
  }

  test('client role: PLAINTEXT_CONNECT, the control sequence, a line each way, and PRNG equal to the peer exporter', async () => {
    const peer = exporting!;
    const running = runProgram(exe, [pool!.daemon.socket, 'client', String(peer.port), SERVER_NAME]);
    await peer.waitFor(/^hello, v2$/m);
    peer.write('pong\n');
    const r = await running;
    const what = describeRun('v2_starttls client', r) + `\n--- s_server ---\n${peer.output()}`;
    assert.equal(r.code, 0, what);
    assert.match(r.stdout, /^client: 0 failed checks$/m, what);
    assert.match(r.stdout, /^reply: pong$/m, what);
    const ours = /^prng: ([0-9A-F]{64})$/m.exec(r.stdout)?.[1];
    const theirs = /Keying material: ([0-9A-F]{64})/.exec(peer.output())?.[1];
    assert.ok(ours && theirs, what);
    assert.equal(ours, theirs);
  });

  test('RENEGOTIATE of a TLS 1.2 session to openssl s_server -client_renegotiation: the same names, new keys, the line after', async () => {
    const pki = getPki();
    const tls12 = await startOpensslServer({ certPath: pki.server.certPath, keyPath: pki.server.keyPath, version: '1.2', rev: true, extraArgs: ['-client_renegotiation'] });
    try {
      const r = await runProgram(exe, [pool!.daemon.socket, 'renegotiate', String(tls12.port), SERVER_NAME]);
      const what = describeRun('v2_starttls renegotiate', r) + `\n--- s_server ---\n${tls12.output().slice(-3000)}`;
      assert.equal(r.code, 0, what);
      assert.match(r.stdout, /^renegotiate: 0 failed checks$/m, what);
    } finally {
      await tls12.stop();
    }
  });

  test('client role with LOCALID_CHECK: the proposal is accepted with the plaintext fd, and no PLAINTEXT_CONNECT follows', async () => {
    const out = await run([String(server!.port), SERVER_NAME], 'localid-check');
    assert.match(out, /^ok: a STARTTLS_LOCALID proposal came: \S+$/m);
    assert.match(out, /^reply: 2v ,olleh$/m);
  });

  test('server role: openssl s_client gets the certificate for the SNI it sent, and its line back', async () => {
    const pki = getPki();
    const port = await freePort();
    const c = startPeer('v2_starttls server', exe, [pool!.daemon.socket, 'server', String(port)]);
    let client: Peer | undefined;
    try {
      await c.waitFor('listening');
      client = startOpensslClient({ port, serverName: SERVER_NAME, caPath: pki.ca.certPath });
      await client.waitFor(/Verify return code: 0 \(ok\)/);
      client.write('hello server\n');
      await c.waitFor(/^received: HELLO SERVER$/m);
      await client.waitFor('HELLO SERVER');
      assert.equal(await c.exited(), 0, c.output());
      assert.match(c.output(), new RegExp(`^established: localid "${SERVER_NAME}" remoteid ""$`, 'm'));
      assert.match(c.output(), /^server: 0 failed checks$/m);
    } finally {
      await client?.stop();
      await c.stop();
    }
  });

  test('every refusal of STARTTLS, RENEGOTIATE, PRNG, INFO and CONTROL is its tlsP code, and the connection goes on', async () => {
    const out = await run([String(server!.port)], 'errors');
    assert.match(out, /^ok: a second session with its ctlkey: CTLKEY_REGISTRATION_FAILED$/m);
  });

  test('REATTACH of a detached session: refused to another uid, taken by root', async () => {
    const v2 = V2Client.connect(pool!.daemon.socket);
    const fd = await tcpConnect(server!.port);
    try {
      const s = await v2.starttls({ role: 'client', fd, remoteid: SERVER_NAME });
      await v2.detach(s.ctlkey);
      openPathToOthers(pool!.daemon.socket);
      openPathToOthers(exe);
      fs.chmodSync(pool!.daemon.socket, 0o777);
      const key = s.ctlkey.toString('hex');
      const nobody = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', exe, pool!.daemon.socket, 'reattach', key], {
        encoding: 'utf8',
        timeout: 60000,
      });
      assert.match(nobody.stdout, new RegExp(`^reattach: code ${Tlsp.E_TLSPOOL_CTLKEY_NOT_FOUND}$`, 'm'), `${nobody.stdout}${nobody.stderr}`);
      const root = await runProgram(exe, [pool!.daemon.socket, 'reattach', key]);
      assert.match(root.stdout, /^reattach: code 0$/m, describeRun('reattach as root', root));
      s.fd?.close();
    } finally {
      fd.close();
      v2.close();
    }
  });

  test('the daemon is back to the fds it had before', async () => {
    try {
      await waitForValue('daemon fd count', () => pool!.daemon.fdCount(), fdsAtStart);
    } catch (e) {
      throw new Error(`${(e as Error).message}; open: ${fdSummary(pool!.daemon.pid)}`);
    }
  });
});
