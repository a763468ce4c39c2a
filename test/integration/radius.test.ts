/**
 * External authentication and authorization by a real FreeRADIUS
 * (harness/radius.ts) through a live daemon: STARTTLS_CLIENT to real
 * openssl servers; what the application sees (the answer or its ERROR) and
 * what the connection record and the log say. The shared secret must never
 * appear in the daemon's log or its records.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StartTlsFlag } from '../../src/protocol';
import { startDaemon, tempDir } from '../../harness/daemon';
import { startOpensslServer, type Peer } from '../../harness/peers';
import { CLIENT_EMAIL, getPki, SERVER2_NAME, SERVER_NAME, type TestPki } from '../../harness/pki';
import { AUTHZ_MESSAGE, RADIUS_SECRET, REJECT_MESSAGE, SILENT_USER, startRadius, type RadiusRig } from '../../harness/radius';
import { type Pool, rejection, startPool, tcpConnect } from '../../harness/starttls';

/** A server certificate for `host` from the test CA. */
function issue(dir: string, host: string, pki: TestPki): { certPath: string; keyPath: string } {
  const keyPath = path.join(dir, `${host}.key`);
  const certPath = path.join(dir, `${host}.pem`);
  const tmpl = path.join(dir, `${host}.tmpl`);
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  fs.writeFileSync(tmpl, `cn = "${host}"\ndns_name = "${host}"\ntls_www_server\nsigning_key\nexpiration_days = 30\n`);
  execFileSync('certtool', [
    '--generate-certificate', '--no-text', '--load-privkey', keyPath, '--load-ca-certificate', pki.ca.certPath,
    '--load-ca-privkey', pki.ca.keyPath, '--template', tmpl, '--outfile', certPath,
  ], { stdio: 'ignore' });
  return { certPath, keyPath };
}

describe('external checks by RADIUS', () => {
  let pki: TestPki;
  let rig: RadiusRig;
  let dir: string;
  let strict: Pool;
  let lenient: Pool;
  let plain: Pool;
  const peers: Peer[] = [];
  const ports: Record<string, number> = {};

  const pool = (radius?: Record<string, unknown>) =>
    startPool({ identities: [[SERVER_NAME, pki.server], [CLIENT_EMAIL, pki.client]], trust: [pki.ca], dns: { enabled: false }, radius });
  const both = (extra: Record<string, unknown>) => ({
    authn: { server: rig.server, secret_file: rig.secretFile },
    authz: { server: rig.server, secret_file: rig.secretFile },
    timeout: 2,
    retransmits: 1,
    ...extra,
  });
  const connect = async (p: Pool, host: string, flags = 0, localid = '') => {
    const fd = await tcpConnect(ports[host]!);
    try {
      const r = await p.client.starttls({ role: 'client', fd, remoteid: host, flags, localid });
      r.fd.close();
      return { remoteid: r.remoteid, record: p.connections()[0]! };
    } finally {
      fd.close();
    }
  };
  const refused = async (p: Pool, host: string, flags = 0, localid = '') => {
    const fd = await tcpConnect(ports[host]!);
    try {
      const error = await rejection(p.client.starttls({ role: 'client', fd, remoteid: host, flags, localid }));
      return { error, record: p.connections()[0]! };
    } finally {
      fd.close();
    }
  };

  before(async () => {
    pki = getPki();
    dir = tempDir('tlspool-radius-test-');
    rig = await startRadius();
    const serve = async (host: string, cert: { certPath: string; keyPath: string }) => {
      const s = await startOpensslServer({ certPath: cert.certPath, keyPath: cert.keyPath });
      peers.push(s);
      ports[host] = s.port;
    };
    await serve(SERVER_NAME, pki.server);
    await serve(SERVER2_NAME, pki.server2);
    await serve(SILENT_USER, issue(dir, SILENT_USER, pki));
    strict = await pool(both({ on_timeout: 'refuse', allow_skip_authn: true, allow_bypass_authz: false }));
    lenient = await pool(both({ on_timeout: 'allow', allow_skip_authn: false, allow_bypass_authz: true }));
    plain = await pool();
  });
  after(async () => {
    const logs = [strict, lenient, plain].map((p) => p?.daemon.logs() ?? '').join('\n');
    const records = [strict, lenient, plain].map((p) => (p ? JSON.stringify(p.connections()) : '')).join('\n');
    await Promise.all(peers.map((p) => p.stop()));
    await Promise.all([strict?.stop(), lenient?.stop(), plain?.stop()]);
    await rig?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    // Checked last, over everything every test made the daemons log and record.
    assert.ok(logs.length > 0);
    assert.ok(!logs.includes(RADIUS_SECRET), 'the shared secret is in a log line');
    assert.ok(!records.includes(RADIUS_SECRET), 'the shared secret is in a connection record');
  });

  test('a peer both servers accept is established, and the record says so', async () => {
    const { remoteid, record } = await connect(strict, SERVER_NAME);
    assert.equal(remoteid, SERVER_NAME);
    assert.equal(record.external, `authn accepted by ${rig.server}; authz accepted by ${rig.server}`);
    assert.match(strict.daemon.logs(), /"msg":"external checks".*authn accepted/);
  });

  test('Access-Reject refuses with EACCES and the Reply-Message', async () => {
    const { error, record } = await refused(strict, SERVER2_NAME);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, new RegExp(`RADIUS authn refused ${SERVER2_NAME.replace(/\./g, '\\.')}: ${REJECT_MESSAGE}`));
    assert.ok(Buffer.byteLength(error.message) <= 127, error.message);
    assert.equal(record.state, 'failed');
    assert.equal(record.external, `authn rejected by ${rig.server}: ${REJECT_MESSAGE}`);
  });

  test('authz: the peer may not talk to this local identity', async () => {
    const { error, record } = await refused(strict, SERVER_NAME, 0, CLIENT_EMAIL);
    assert.equal(error.code, 'EACCES');
    assert.match(error.message, /RADIUS authz refused server\.example\.test: server\.example\.test may not talk to alice/);
    assert.equal(record.external, `authn accepted by ${rig.server}; authz rejected by ${rig.server}: ${AUTHZ_MESSAGE}`);
  });

  test('no answer, on_timeout refuse: ETIMEDOUT after the bounded time', async () => {
    const { error, record } = await refused(strict, SILENT_USER);
    assert.equal(error.code, 'ETIMEDOUT');
    assert.match(error.message, /no authn answer from RADIUS 127\.0\.0\.1:\d+ in 2 s/);
    assert.equal(record.external, 'authn unanswered, refused');
  });

  test('no answer, on_timeout allow: established, with a warning in the record and the log', async () => {
    const { remoteid, record } = await connect(lenient, SILENT_USER);
    assert.equal(remoteid, SILENT_USER);
    assert.match(record.warning ?? '', /no authn answer from RADIUS .* allowed \(radius\.on_timeout: allow\)/);
    assert.match(record.external ?? '', /^authn unanswered, allowed; authz unanswered, allowed$/);
    assert.match(lenient.daemon.logs(), /"level":"warn".*allowed a peer no RADIUS server answered for/);
  });

  test('SKIP_EXT_AUTHN is honoured where permitted: a rejected peer is not asked about', async () => {
    const { record } = await connect(strict, SERVER2_NAME, StartTlsFlag.SKIP_EXT_AUTHN);
    assert.equal(record.external, `authn skipped (SKIP_EXT_AUTHN); authz accepted by ${rig.server}`);
  });

  test('BYPASS_EXT_AUTHZ is honoured where permitted', async () => {
    const { record } = await connect(lenient, SERVER_NAME, StartTlsFlag.BYPASS_EXT_AUTHZ, CLIENT_EMAIL);
    assert.equal(record.external, `authn accepted by ${rig.server}; authz bypassed (BYPASS_EXT_AUTHZ)`);
  });

  test('a flag the configuration does not permit is refused with EPERM', async () => {
    const authz = await refused(strict, SERVER_NAME, StartTlsFlag.BYPASS_EXT_AUTHZ);
    assert.equal(authz.error.code, 'EPERM');
    assert.match(authz.error.message, /BYPASS_EXT_AUTHZ is not permitted here \(radius\.allow_bypass_authz: false\)/);
    assert.equal(authz.record.state, 'failed');
    const authn = await refused(lenient, SERVER_NAME, StartTlsFlag.SKIP_EXT_AUTHN);
    assert.equal(authn.error.code, 'EPERM');
    assert.match(authn.error.message, /SKIP_EXT_AUTHN is not permitted here/);
  });

  test('without a configured server the flags change nothing, and nothing is asked', async () => {
    for (const flags of [0, StartTlsFlag.SKIP_EXT_AUTHN | StartTlsFlag.BYPASS_EXT_AUTHZ]) {
      const { remoteid, record } = await connect(plain, SERVER2_NAME, flags);
      assert.equal(remoteid, SERVER2_NAME);
      assert.equal(record.external, undefined);
    }
  });

  test('a secret file others can read keeps the daemon from starting, and the line names the key, not the secret', async () => {
    const open = path.join(dir, 'open.secret');
    fs.writeFileSync(open, `${RADIUS_SECRET}\n`);
    fs.chmodSync(open, 0o644);
    const config = `radius:\n  authn:\n    server: ${rig.server}\n    secret_file: ${open}\n`;
    const e = await startDaemon({ config }).then(
      async (d) => {
        await d.stop();
        assert.fail('the daemon started');
      },
      (err: Error) => err,
    );
    assert.match(e.message, /radius\.authn\.secret_file: others may read or write .*open\.secret \(mode 0644\); chmod o-rwx/);
    assert.ok(!e.message.includes(RADIUS_SECRET));
  });
});
